"""Parameter parsing, pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from providers.crs import CRS84, UnknownCrsError, epsg_crs, gauss_kruger_codes, parse_crs
from server.http.errors import InvalidParameterError
from server.http.params import parse_bbox, parse_datetime, parse_limit


def test_bbox_swaps_for_lat_lon_crs() -> None:
    bbox = parse_bbox("23.0,109.5,23.1,109.6", epsg_crs(4490))
    assert bbox is not None and bbox.bounds == (109.5, 23.0, 109.6, 23.1)
    assert parse_bbox("109.5,23.0,109.6,23.1", None).bounds == (109.5, 23.0, 109.6, 23.1)  # type: ignore[union-attr]


def test_bbox_order_message_names_axis() -> None:
    with pytest.raises(InvalidParameterError) as err:
        parse_bbox("1,5,2,4", CRS84)
    assert err.value.body("en")["detail"] == (
        "bbox: bbox lower latitude (5.0) is greater than upper latitude (4.0)."
    )
    assert "纬度" in err.value.body("zh-CN")["detail"]


def test_datetime_forms() -> None:
    day = parse_datetime("2023-05-01")
    assert day is not None and day.start == datetime(2023, 5, 1, tzinfo=UTC)
    assert day.end is not None and day.end.date() == day.start.date()
    open_end = parse_datetime("2023-05-01T00:00:00Z/..")
    assert open_end is not None and open_end.end is None
    empty_start = parse_datetime("/2023-05-01")
    assert empty_start is not None and empty_start.start is None


def test_limit_bounds() -> None:
    assert parse_limit(None, 10, 100) == 10
    assert parse_limit("100", 10, 100) == 100
    assert parse_limit("101", 10, 100) == 100  # served as the maximum (Part 1 7.15.4)
    for bad in ("0", "-3"):
        with pytest.raises(InvalidParameterError):
            parse_limit(bad, 10, 100)


def test_crs_parsing() -> None:
    assert parse_crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84") is CRS84
    gk = parse_crs("EPSG:4524")
    assert gk.swap_xy and not gk.geographic
    assert not parse_crs("EPSG:3857").swap_xy
    assert parse_crs("EPSG:4490").swap_xy
    with pytest.raises(UnknownCrsError):
        parse_crs("EPSG:999999")
    with pytest.raises(UnknownCrsError):
        parse_crs("../../etc/passwd")


def test_gauss_kruger_zones() -> None:
    # Guigang 109.4-109.8 E: 3-degree zones 36 (CM 108) and 37 (CM 111), 6-degree zone 19
    assert gauss_kruger_codes(109.4, 109.8) == [4497, 4508, 4524, 4525, 4545, 4546]
    # Beijing 116.4 E: 3-degree zone 39 (CM 117), 6-degree zone 20 (CM 117)
    assert gauss_kruger_codes(116.3, 116.5) == [4498, 4509, 4527, 4548]
    assert gauss_kruger_codes(0, 10) == []
