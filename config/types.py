"""Types shared by the configuration models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$")]
Classification = Literal["public", "internal", "secret"]
Operation = Literal["read", "tiles", "create", "update", "delete", "execute"]


class Strict(BaseModel):
    """A frozen model that refuses unknown keys (a typo is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
