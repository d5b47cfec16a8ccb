"""One error tree for every source: what went wrong, never how to say it over HTTP.

Each error names a message (``prefix.key`` in the server's messages) and its
parameters; ``server/http/errors.py`` maps each kind to a status once, so no handler
catches a source's errors to translate them.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base of the errors a source raises."""

    prefix = "err"
    parameter: str | None = None  # the request part at fault, when one is

    def __init__(self, key: str, parameter: str | None = None, /, **params: object):
        super().__init__(key, params)
        self.key = key
        self.params = params
        if parameter is not None:
            self.parameter = parameter

    @property
    def message_id(self) -> str:
        """The message shown to the client."""
        return f"{self.prefix}.{self.key}"


class NotFound(ProviderError):
    """No such collection or feature for this caller (hidden and unknown alike: 404)."""


class QueryError(ProviderError, ValueError):
    """The request does not fit the source: a filter, a CRS, a property, a body (400)."""


class ForbiddenWrite(ProviderError):
    """The written feature would lie outside the writer's region or row filter (403)."""


class VersionMismatch(ProviderError):
    """If-Match does not name the feature's current version (412); ``current`` does."""

    prefix = "edit"

    def __init__(self, current: str) -> None:
        super().__init__("stale")
        self.current = current


class SourceUnavailable(ProviderError):
    """The source cannot answer for now: retry later (503)."""


class SourceFailed(ProviderError):
    """The source answered with something unreadable (502)."""


class SourceTimeout(SourceFailed):
    """The source did not answer in time (504)."""


class ConfigMismatch(ProviderError):
    """A configured collection does not fit the data it names (stops the start-up).

    The message names the collection, the part that does not fit and the fix.
    """

    def __init__(self, message: str) -> None:
        super().__init__("config")
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.args[0])


def collection_mismatch(cid: str, exc: ConfigMismatch) -> ConfigMismatch:
    """One line naming the collection, what does not fit and the fix."""
    return ConfigMismatch(
        f"collections.{cid}: {exc} (fix: name the table and columns the data has in "
        f"collections.{cid}, or set optional: true)"
    )
