"""Load the YAML configuration: ``${VAR:-default}`` interpolation, then validation."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from config.settings import Settings
from config.sources import SOURCE_TYPES

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the reason."""


def interpolate(text: str, environ: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` with environment values.

    Full-line YAML comments are left alone, so they can show the syntax.
    """
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"environment variable {name} is not set and has no default")

    return "".join(
        line if line.lstrip().startswith("#") else _VAR.sub(replace, line)
        for line in text.splitlines(keepends=True)
    )


def demo_config_path() -> Path:
    """The packaged configuration used when no --config is given."""
    return Path(str(resources.files("config") / "demo.yaml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(interpolate(text))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``key.path: reason``."""
    lines = []
    for err in exc.errors():
        # Drop the union tag pydantic adds after "source" (source.geopackage.layer).
        loc = [
            str(p)
            for i, p in enumerate(err["loc"])
            if not (i and err["loc"][i - 1] == "source" and p in SOURCE_TYPES)
        ]
        key = ".".join(loc) or "(top level)"
        lines.append(f"{key}: {err['msg']}")
    return "\n".join(lines)


def demo_on_postgis(data: dict[str, Any]) -> dict[str, Any]:
    """The demo configuration reading its layers from PostGIS, schema public discovered.

    ``onemap demo --database URL`` loads the layers as public.<layer>; on any other
    database (``onemap serve --database URL``) the tables it holds are published.
    """
    collections = {
        cid: {
            **conf,
            "source": {"type": "postgis", "table": f"public.{conf['source']['layer']}"},
            # the user's database may hold other tables of the same names: those are
            # published as discovered, a demo definition only where it fits
            "optional": True,
        }
        if "layer" in conf["source"]
        else {**conf, "optional": True}  # imagery: there only once generated
        for cid, conf in data.get("collections", {}).items()
    }
    return {
        **data,
        "generate_demo": False,
        "collections": collections,
        "discover": [{"schema": "public"}],
    }


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read and validate a configuration file.

    Without ``path``: the file named by ``ONEMAP_CONFIG_FILE``, else the embedded demo.
    """
    named = os.environ.get("ONEMAP_CONFIG_FILE")
    source = path or (Path(named) if named else demo_config_path())
    data = _read_yaml(source)
    data.update(overrides)
    if source == demo_config_path() and os.environ.get("ONEMAP_DATABASE__URL"):
        data = demo_on_postgis(data)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{source}:\n{format_validation_error(exc)}") from exc
