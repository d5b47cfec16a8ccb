"""The ``cursor`` of a ``next`` link: where the page follows on by key.

A page after a cursor costs the same at any depth (an index range from the last key)
where ``offset`` makes the database step over every skipped row. The cursor is
base64url JSON ``[position, [sort-key values..., primary key]]``: the number of
features before the page (for ``prev`` links) and the last feature's key.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from server.http.errors import InvalidParameterError

_SCALARS = (str, int, float, bool, type(None))
_MAX_CHARS = 4096  # a key of a few sort columns; anything longer is not ours


def encode_cursor(position: int, key: tuple[Any, ...]) -> str | None:
    """The cursor of the page after ``position`` features ending at ``key`` (None when
    a key value has no JSON form, e.g. a numeric primary key: the link uses offset)."""
    if not all(isinstance(v, _SCALARS) for v in key):
        return None
    data = orjson.dumps([position, list(key)])
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_cursor(text: str, key_length: int) -> tuple[int, tuple[Any, ...]]:
    """The position and key of a cursor made for ``key_length`` key values (400 when it
    is not one of ours or does not fit the request's sortby)."""
    bad = InvalidParameterError("err.cursor", "cursor")
    if len(text) > _MAX_CHARS:
        raise bad
    try:
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error):
        raise bad from None
    match data:
        case [int() as position, list() as key] if (
            0 <= position <= 2**53
            and len(key) == key_length
            and all(isinstance(v, _SCALARS) for v in key)
            and key[-1] is not None  # the primary key
        ):
            return position, tuple(key)
    raise bad
