"""What a process is: pydantic inputs, described outputs, a run function, in zh-CN/en.

The OGC process description is generated from the input model (titles, descriptions,
JSON Schemas, examples), so the description, the validation and the code cannot drift.
A field's Chinese title and description sit in ``json_schema_extra`` as ``title_zh`` /
``description_zh``; the English ones are the pydantic title and description.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from config.i18n import I18nText, text_for
from config.settings import Settings
from providers.base import AccessScope
from providers.catalog import Catalog, build_catalog
from providers.sources import AllowedSources

I18n = I18nText  # {"zh-CN": ..., "en": ...}


class ProcessError(Exception):
    """A failure to show the job's owner: a message id of processes/messages.py."""

    def __init__(self, message_id: str, **params: Any) -> None:
        super().__init__(message_id)
        self.message_id = message_id
        self.params = params


@dataclass(frozen=True)
class Output:
    """One output of a process."""

    title: I18n
    description: I18n
    schema: dict[str, Any]
    media_types: tuple[str, ...] = ("application/json",)


@dataclass
class JobContext:
    """What a running process may use: the caller's scope and the allowed sources
    (inputs by reference honour both), the collections it reads (opened for it alone),
    progress reporting, the job's language."""

    settings: Settings
    scope: AccessScope
    language: str
    job_id: str
    progress: Callable[[int, str | None], None] = lambda _p, _m: None
    allowed: AllowedSources = field(init=False)

    def __post_init__(self) -> None:
        self.allowed = AllowedSources.of(
            self.settings.data_dir, self.settings.allowed_sources
        )

    @asynccontextmanager
    async def collections(self, *ids: str) -> AsyncIterator[Catalog]:
        """A catalog of just these collections (and the sources they need), closed
        after use: a job never opens the rest of the deployment."""
        catalog = await build_catalog(self.settings, only=ids)
        try:
            yield catalog
        finally:
            await catalog.close()


Runner = Callable[[Any, JobContext], dict[str, Any]]


@dataclass(frozen=True)
class Process:
    """A process offered at /processes/{id}."""

    id: str
    version: str
    title: I18n
    description: I18n
    inputs: type[BaseModel]
    outputs: dict[str, Output]
    run: Runner
    keywords: tuple[str, ...] = ()
    collection_inputs: tuple[str, ...] = ()  # inputs naming a collection of this server
    href_inputs: tuple[
        str, ...
    ] = ()  # inputs that may be {"href": ...} (allowed sources)

    def summary(self, lang: str) -> dict[str, Any]:
        """The process summary of /processes."""
        return {
            "id": self.id,
            "version": self.version,
            "title": text_for(self.title, lang),
            "description": text_for(self.description, lang),
            "keywords": list(self.keywords),
            "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
            "outputTransmission": ["value"],
        }

    def description_document(self, lang: str) -> dict[str, Any]:
        """The process description of /processes/{id}: inputs from the model."""
        schema = self.inputs.model_json_schema(ref_template="#/$defs/{model}")
        defs = schema.get("$defs", {})
        required = set(schema.get("required", []))
        inputs = {}
        for name, prop in schema.get("properties", {}).items():
            prop = {**prop}
            zh_title = prop.pop("title_zh", None)
            zh_text = prop.pop("description_zh", None)
            title = zh_title if lang == "zh-CN" and zh_title else prop.pop("title", name)
            text = zh_text if lang == "zh-CN" and zh_text else prop.get("description", "")
            prop.pop("title", None)
            prop.pop("description", None)
            if defs:
                prop = {**prop, "$defs": defs}
            inputs[name] = {
                "title": title,
                "description": text,
                "minOccurs": 1 if name in required else 0,
                "maxOccurs": 1,
                "schema": prop,
            }
        outputs = {
            name: {
                "title": text_for(o.title, lang),
                "description": text_for(o.description, lang),
                "schema": o.schema,
            }
            for name, o in self.outputs.items()
        }
        return {**self.summary(lang), "inputs": inputs, "outputs": outputs}
