"""Log lines of the ``onemap.*`` loggers (and uvicorn's): one JSON object per line, or
plain text (``server.log_format``).

A JSON line carries ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``msg``, the id of
the request being served (``request_id``, when there is one) and the structured fields
a caller passed as ``extra={"fields": {...}}`` (the access log does). ``onemap serve``
hands :func:`logging_config` to uvicorn, which applies it in every worker process.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "text"]

# The id of the request the current task serves (set by server/request_context.py).
REQUEST_ID: ContextVar[str | None] = ContextVar("onemap_request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(log_format: LogFormat = "json", level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document: ``onemap.*`` and uvicorn's loggers
    write to stdout in ``log_format``; other libraries' loggers are left as they are."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if log_format == "json"
        else {"format": TEXT_FORMAT}
    )
    handler = {"handlers": ["onemap"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"onemap": formatter},
        "handlers": {
            "onemap": {
                "class": "logging.StreamHandler",
                "formatter": "onemap",
                "stream": "ext://sys.stdout",
            }
        },
        "loggers": {
            "onemap": handler,
            "uvicorn": handler,
            "uvicorn.error": {"level": level},
            "uvicorn.access": handler,
        },
    }


def configure_logging(log_format: LogFormat = "json", level: str = "INFO") -> None:
    """Apply :func:`logging_config` to this process (commands other than serve)."""
    logging.config.dictConfig(logging_config(log_format, level))
