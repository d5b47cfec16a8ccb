"""The shared preamble of the operations by feature id: key, 404 and 412 paths."""

from __future__ import annotations

from dataclasses import replace

import pytest
import shapely

from providers.base import CollectionInfo, FieldInfo, Writer
from providers.by_id import Edit, feature_key, revision
from providers.crs import CRS84
from providers.edits import FeatureInput, VersionMismatchError

INFO = CollectionInfo("c", (), "fid", "Point", CRS84, None, None, 0)
TEXT_ID = replace(INFO, fields=(FieldInfo("code", "string"),), id_field="code")
OLD = FeatureInput(shapely.Point(1, 2), {"name": "a"})
NEW = FeatureInput(shapely.Point(3, 4), {"name": "b"})


def test_feature_key() -> None:
    assert feature_key(INFO, "42") == 42
    assert feature_key(INFO, str(2**63 - 1)) == 2**63 - 1
    for no_row in ("x", "1.5", "", str(2**63), str(-(2**63) - 1), "1; DROP TABLE t"):
        assert feature_key(INFO, no_row) is None
    assert feature_key(TEXT_ID, "1' OR '1'='1") == "1' OR '1'='1"


def test_revision() -> None:
    patch = Edit(None, Writer("a"), "update", lambda old: NEW)
    delete = Edit('"v1"', Writer("a"), "delete")
    assert revision(None, patch) is None  # absent or outside the grant: 404
    assert revision(("v1", OLD), patch) == (OLD, NEW)
    assert revision(("v1", OLD), delete) == (OLD, None)
    assert revision(("v1", OLD), replace(delete, if_match='"v0", *')) == (OLD, None)
    with pytest.raises(VersionMismatchError):  # 412
        revision(("v2", OLD), delete)
