"""Hostile input: a generated corpus of payloads through the real ASGI app, on
GeoPackage and PostGIS, anonymous and with the admin key (writes and process
execution really run, a worker executes the jobs).

SQL/expression injection in every query parameter, header, path id and body field;
SSRF hrefs and callback URIs in every spelling of a local address (a canary listener on
every local address that can be bound must see no connection), redirects from an
allowed source, path traversal and GDAL virtual paths, a VRT inside the data dir
pointing outside it, XXE bodies, deep and wide CQL2, 10 MB WKT, absurd numbers and
tiles. Every response: status < 500 and no trace, SQL, driver message or file path.

test_injection.py checks that injections leave the data intact; this file extends it
to every input of the API.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import anyio
import pytest
from fastapi.testclient import TestClient

from tests.fixtures import GRID_COLS, GRID_ROWS
from tests.hostile import RASTER_PARAMS, SQL, Hostile, hostile_app, leaks, ssrf_urls

MIN_CORPUS = 600
ITEMS = "/collections/parcels/items"
EDIT = "/collections/editable/items"
FEATURE = "3"  # the editable feature the PUT/PATCH payloads are aimed at
TILE = "/collections/parcels/tiles/WebMercatorQuad/15/14465/26122"
RASTER_TILE = "/collections/pair/tiles/WebMercatorQuad/15/26120/14465"
EXECUTE = "/processes/{}/execution"
SKIP_PROCESSES = {"engine-test-sleep"}  # registered by the test worker only

# ------------------------------------------------------------------ payloads

EXPRESSION = [
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "{% for x in ().__class__.__base__.__subclasses__() %}{{x}}{% endfor %}",
    "__import__('os').system('id')",
    "$(id)",
    "`id`",
    "%s%s%s%n",
    "{0.__class__}",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "DLBM LIKE '%' OR 1=1",
    "S_INTERSECTS(geometry, POINT(0 0)) OR TRUE",
]
ODD = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202e\u200b",
    "𝕏𝕏𝕏",
    "é",
    "\\",
    "'",
    '"',
    ";",
    "--",
    "/*",
    ",",
    ",,,,",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e308",
    "1e999",
    "-1",
    "0",
    "1000000000000",
    "9" * 40,
    "0x10",
    "A" * 20_000,
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/vsizip//etc/x.zip/a",
    "file:///etc/passwd",
    "%00",
    "%ff%fe",
    "a\r\nX-Injected: 1",
    "{}",
    "[]",
    "null",
    '{"op":"=","args":[1,1]}',
]
VALUES = list(dict.fromkeys(SQL + EXPRESSION + ODD))
SHORT = (
    SQL[:6]
    + EXPRESSION[:4]
    + ["", "\x00", "NaN", "1e999", "-1", "A" * 20_000, "../../etc/passwd", "%2e%2e%2f"]
)

PATH_VALUES = [
    *(quote(v, safe="") for v in SQL[:8] + EXPRESSION[:4]),
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "..%5C..%5Cwindows",
    "%00",
    "a%00b",
    "%ff",
    "%F0%9D%95%8F",
    quote("A" * 5000),
    "-1",
    "99999999999999999999999",
    "NaN",
    "1e999",
    "0x1",
    "%20",
    "%2Fvsicurl%2Fhttp%3A%2F%2F127.0.0.1%2Fx",
    "~root",
    "CON",
]

HEADER_VALUES = [
    *SQL[:8],
    *EXPRESSION[:6],
    "",
    "*/*;q=NaN",
    "text/html;q=1e999, application/json;q=-1",
    "application/json, " * 400,
    "zh-CN;q=abc, en;q=",
    "xx-YY, *;q=0",
    "../../etc/passwd",
    "A" * 8000,
    "é\xff",
    '"',
    'W/"x", *, "\' OR 1=1 --"',
    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiIsInJvbGVzIjpbImFkbWluIl19.",
    "ApiKey ' OR 1=1 --",
    "Basic YWRtaW46YWRtaW4=",
    "http://www.opengis.net/def/crs/EPSG/0/' OR 1=1",
    "<http://www.opengis.net/def/crs/EPSG/0/4490>",
    "respond-async, wait=99999999999",
]

# JSON tokens spliced into bodies (text: NaN, huge integers and deep nesting included)
TOKENS = [
    *(json.dumps(v) for v in SQL[:10] + EXPRESSION[:6]),
    '""',
    json.dumps("A" * 100_000),
    '"\\u0000"',
    '"\\ud800"',
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "1" + "0" * 30,
    "-" + "9" * 40,
    "1e308",
    "-0",
    "null",
    "true",
    "[]",
    "{}",
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    '{"$ne": 1}',
    '{"op": "=", "args": [1, 1]}',
    '"2024-13-45"',
    '"0000-00-00T25:61:61Z"',
    '"POLYGON((0 0, 1 0, 1 1, 0 0))"',
    '{"type": "Point", "coordinates": [NaN, 1]}',
    '{"type": "Polygon", "coordinates": [[[0, 0], [1e308, 0], [1e308, 1e308], [0, 0]]]}',
    '{"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}',
    '{"type": "GeometryCollection", "geometries": []}',
    '{"href": "/etc/passwd"}',
]
FEW_TOKENS = [
    TOKENS[0],
    TOKENS[2],
    '"\\u0000"',
    "NaN",
    "1e999",
    "null",
    "[]",
    "{}",
    "[" * 5000 + "]" * 5000,
    '"' + "A" * 10_000 + '"',
]


def _xxe(port: int) -> list[bytes]:
    external = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">'
        f'<!ENTITY y SYSTEM "http://127.0.0.1:{port}/xxe">'
        f'<!ENTITY % z SYSTEM "http://127.0.0.1:{port}/dtd"> %z;]><r>&x;&y;</r>'
    )
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
            for i in range(9)
        )
        + "]><l>&j;</l>"
    )
    wms = (
        '<?xml version="1.0"?><!DOCTYPE g [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<GetCapabilities service="WMTS" xmlns="http://www.opengis.net/wmts/1.0">'
        "<AcceptVersions><Version>&x;</Version></AcceptVersions></GetCapabilities>"
    )
    return [external.encode(), laughs.encode(), wms.encode()]


def _big_wkt(megabytes: float) -> str:
    parts, size = [], 0
    i = 0
    while size < megabytes * 1_000_000:
        point = f"{109.5 + (i % 1000) * 1e-6:.7f} {23.0 + (i // 1000) * 1e-6:.7f}"
        parts.append(point)
        size += len(point) + 2
        i += 1
    return "POLYGON((" + ", ".join([*parts, parts[0]]) + "))"


def _big_polygon(vertices: int) -> dict[str, Any]:
    import math

    ring = [
        [
            109.6 + 0.01 * math.cos(2 * math.pi * k / vertices),
            23.1 + 0.01 * math.sin(2 * math.pi * k / vertices),
        ]
        for k in range(vertices)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


# ------------------------------------------------------------------ probes


@dataclass(frozen=True)
class Probe:
    """One request of the corpus."""

    method: str
    path: str  # percent-encoded as sent
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    admin: bool = False
    etag_of: str | None = None  # send If-Match: the current ETag of this path

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.method, self.path, self.params, self.headers, self.body, self.admin)


def _get(path: str, *params: tuple[str, str], **kw: Any) -> Probe:
    return Probe("GET", path, tuple(params), **kw)


JSON_TYPE = ("Content-Type", "application/json")
GEOJSON_TYPE = ("Content-Type", "application/geo+json")
ASYNC = ("Prefer", "respond-async")


def _feature_text(token: str, where: str) -> bytes:
    """A valid feature with ``token`` (raw JSON) spliced in at ``where``."""
    props = {  # raw JSON text of each key and value
        '"BSM"': '"450802999999999999"',
        '"DLBM"': '"0101"',
        '"DLMC"': '"水田"',
        '"MCEN"': '"Paddy"',
        '"TBMJ"': "1234.5",
        '"SJNF"': "2024",
        '"GXSJ"': '"2024-05-01"',
    }
    parts = {
        "type": '"Feature"',
        "geometry": '{"type": "Polygon", "coordinates": [[[109.7, 23.2], '
        "[109.701, 23.2], [109.701, 23.201], [109.7, 23.201], [109.7, 23.2]]]}",
    }
    if where == "body":
        return token.encode()
    if where == "properties.injected":  # an unknown property whose *name* is the payload
        props[token] = "1"
    elif where.startswith("properties."):
        props[json.dumps(where.split(".", 1)[1])] = token
    elif where == "geometry.type":
        parts["geometry"] = '{"type": ' + token + ', "coordinates": [109.7, 23.2]}'
    elif where == "geometry.coordinates":
        parts["geometry"] = '{"type": "Polygon", "coordinates": ' + token + "}"
    else:
        parts[where] = token
    properties = "{" + ", ".join(f"{k}: {v}" for k, v in props.items()) + "}"
    if where == "properties":
        properties = token
    fields = ", ".join(f'"{k}": {v}' for k, v in parts.items())
    return ("{" + fields + ', "properties": ' + properties + "}").encode()


def _param_probes() -> list[Probe]:
    probes: list[Probe] = []
    items_params = ["bbox", "bbox-crs", "datetime", "limit", "offset", "properties"]
    items_params += ["sortby", "crs", "filter", "filter-lang", "filter-crs", "count"]
    items_params += ["f", "lang", "DLBM", "TBMJ", "SJNF", "GXSJ"]  # ... and queryables
    # every value where it reaches SQL or a parser; the short list elsewhere
    wide = {
        "bbox",
        "datetime",
        "limit",
        "properties",
        "sortby",
        "crs",
        "filter",
        "DLBM",
        "SJNF",
    }
    for name in items_params:
        probes += [_get(ITEMS, (name, v)) for v in (VALUES if name in wide else SHORT)]
    probes += [_get(ITEMS, (v[:200] or "x", "1")) for v in SHORT]  # the name itself
    probes += [_get(ITEMS, ("filter", v), ("filter-lang", "cql2-json")) for v in SHORT]
    probes += [_get(ITEMS, ("bbox", "1,2,3,4"), ("bbox-crs", v)) for v in SHORT]
    for name in ("crs", "f", "lang"):
        probes += [_get(f"{ITEMS}/1", (name, v)) for v in SHORT]
    for path in (
        "/collections/parcels",
        "/collections/parcels/queryables",
        "/collections/parcels/schema",
        "/collections",
        "/",
        "/conformance",
        "/api",
        "/processes",
        "/processes/landuse-statistics",
        "/tileMatrixSets",
        "/tileMatrixSets/WebMercatorQuad",
        "/collections/parcels/tiles",
        "/tiles",
    ):
        probes += [_get(path, (n, v)) for n in ("f", "lang") for v in SHORT]
        probes.append(_get(path, ("' OR 1=1 --", "x")))
    for name in ("f", "properties", "filter", "filter-lang", "filter-crs"):
        probes += [_get(TILE, (name, v)) for v in SHORT]
    for name in ("f", *RASTER_PARAMS):
        probes += [_get(RASTER_TILE, (name, v)) for v in SHORT]
    probes += [
        _get(RASTER_TILE, ("rescale", "NaN,inf")),
        _get(RASTER_TILE, ("rescale", "0,1e999")),
        _get(RASTER_TILE, ("bidx", "1,2,3,4,5,6,7,8")),
        _get(RASTER_TILE, ("bidx", "99999999999999999999")),
        _get(
            RASTER_TILE,
            ("colormap", json.dumps({str(i): "#ff0000" for i in range(5000)})),
        ),
        _get(RASTER_TILE, ("colormap", '{"1": [NaN, 1, 1, 1]}')),
        _get(RASTER_TILE, ("colormap", '{"1e999": "#fff"}')),
        _get(RASTER_TILE, ("colormap", '{"1": "' + "f" * 5000 + '"}')),
    ]
    map_tile = "/collections/parcels/map/tiles/WebMercatorQuad/15/14465/26122"
    probes += [_get(map_tile, (n, v)) for n in ("f", "filter") for v in SHORT]
    dataset_tile = "/tiles/WebMercatorQuad/15/14465/26122"
    probes += [_get(dataset_tile, (n, v)) for n in ("f", "collections") for v in SHORT]
    probes += [_get("/tiles/WebMercatorQuad", ("collections", v)) for v in SHORT]
    for name in ("processID", "status", "limit", "offset", "f", "lang"):
        probes += [_get("/jobs", (name, v), admin=True) for v in SHORT]
    probes += [_get("/map", (n, v)) for n in ("tms", "lang") for v in SHORT]
    return probes


def _special_probes() -> list[Probe]:
    """The named cases: deep and wide CQL2, huge WKT, absurd numbers, deep tiles."""
    deep_json = (
        '{"op":"not","args":[' * 10_000
        + '{"op":"=","args":[{"property":"DLBM"},"0101"]}'
        + "]}" * 10_000
    )
    term = '{"op":"=","args":[{"property":"DLBM"},"0101"]}'
    wide_json = '{"op":"or","args":[' + ",".join([term] * 10_000) + "]}"
    compact_deep = "[" * 10_000 + "]" * 10_000
    nested_args = '{"op":"and","args":[' * 2000 + "true" + "]}" * 2000
    wide_text = " OR ".join(f"DLBM = '{i:04d}'" for i in range(10_000))
    wkt = _big_wkt(10)
    cql = "filter-lang", "cql2-json"
    probes = [
        _get(ITEMS, ("filter", deep_json), cql),
        _get(ITEMS, ("filter", wide_json), cql),
        _get(ITEMS, ("filter", compact_deep), cql),
        _get(ITEMS, ("filter", nested_args), cql),
        _get(
            ITEMS, ("filter", '{"op":"or","args":[' + ",".join([term] * 600) + "]}"), cql
        ),
        _get(
            ITEMS,
            ("filter", "DLBM IN (" + ",".join(f"'{i}'" for i in range(10_000)) + ")"),
        ),
        _get(
            ITEMS,
            ("filter", "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))"),
        ),
        _get(
            ITEMS,
            ("bbox", "36500000,2500000,36600000,2600000"),
            ("bbox-crs", "http://www.opengis.net/def/crs/EPSG/0/4524"),
        ),
        _get(
            ITEMS,
            ("bbox", "1e308,1e308,1e308,1e308"),
            ("bbox-crs", "http://www.opengis.net/def/crs/EPSG/0/4490"),
        ),
        _get(
            ITEMS,
            ("bbox", "23,109,23.1,109.1"),
            ("bbox-crs", "http://www.opengis.net/def/crs/EPSG/0/4490"),
        ),
        _get(
            ITEMS,
            ("crs", "http://www.opengis.net/def/crs/EPSG/0/4524"),
            ("bbox", "-180,-90,180,90"),
        ),
        _get(ITEMS, ("DLBM", "0101"), ("DLBM", "0102")),
        _get(ITEMS, *[("DLBM", "0101")] * 2000),
        _get(ITEMS, *[(f"p{i}", "1") for i in range(2000)]),
    ]
    # one parameter of the items request at a time, with each of these values
    edges: dict[str, list[str]] = {
        "filter": [
            "(" * 10_000 + "DLBM = '0101'" + ")" * 10_000,
            "NOT " * 5_000 + "DLBM = '0101'",
            "NOT (" * 40 + "DLBM = '0101'" + ")" * 40,
            "-" * 10_000 + "1 = 1",
            "TBMJ > " + "(" * 40 + "1" + " + 1)" * 40,
            wide_text,
            " OR ".join(f"DLBM = '{i:04d}'" for i in range(1_500)),
            f"S_INTERSECTS(geometry, {wkt})",
            "S_INTERSECTS(geometry, " + _big_wkt(0.03) + ")",
            "S_INTERSECTS(geometry, POINT(NaN Infinity))",
            "S_INTERSECTS(geometry, POINT(1e999 1e999))",
            "S_WITHIN(geometry, GEOMETRYCOLLECTION EMPTY)",
            "TBMJ > NaN",
            "TBMJ > 1e999",
            "TBMJ / 0 > 1",
            "TBMJ % 0 = 1",
            "SJNF * 99999999999999999999 > 1",
            "SJNF > 99999999999999999999999999999",
            "T_BEFORE(GXSJ, TIMESTAMP('99999-12-31T00:00:00Z'))",
            "T_BEFORE(GXSJ, DATE('0000-00-00'))",
            "T_INTERSECTS(GXSJ, INTERVAL('..', '..'))",
            "DLBM LIKE '" + "%" * 5000 + "'",
            "DLBM LIKE '" + "_%" * 3000 + "a'",
            "CASEI(DLBM) = CASEI('" + "\\" * 100 + "')",
            "A_CONTAINS(DLBM, (" + ",".join(["'a'"] * 3000) + "))",
        ],
        "limit": [
            str(10**12),
            str(10**100),
            "1e3",
            " 5 ",
            "٣",  # an Arabic-Indic digit
        ],
        "offset": [
            str(10**12),
            str(2**63),
        ],
        "bbox": [
            "109.5,23.0,0,109.6,23.1,100",
            "1,2,3,4,5",
            "1,2,3,4,5,6,7",
            "NaN,NaN,NaN,NaN",
            "-Infinity,-90,Infinity,90",
            "-1e308,-90,1e308,90",
            "-180,-90,180,90,NaN,Infinity",
        ],
        "datetime": [
            "99999-01-01T00:00:00Z",
            "0001-01-01T00:00:00+23:59/9999-12-31T23:59:59-23:59",
            "2024-01-01T00:00:00Z/2023-01-01T00:00:00Z",
            "NaN/Infinity",
            "2024-02-30",
        ],
        "sortby": [
            ",".join(["-TBMJ"] * 5000),
        ],
        "properties": [
            ",".join(["DLBM"] * 5000),
        ],
        "TBMJ": [
            "NaN",
            "Infinity",
        ],
        "SJNF": [
            "9" * 400,
        ],
        "GXSJ": [
            "99999-99-99",
        ],
    }
    probes += [_get(ITEMS, (name, v)) for name, values in edges.items() for v in values]
    for tms in (
        "WebMercatorQuad",
        "WorldCRS84Quad",
        "CGCS2000Quad",
        "..%2F..",
        "x" * 300,
    ):
        for z, y, x in (
            (30, 0, 0),
            (30, 2**30 - 1, 2**30 - 1),
            (25, 0, 0),
            (24, 0, 0),
            (99999999, 0, 0),
            (9999999999, 0, 0),
            (0, 10**12, 10**12),
            (-1, 0, 0),
            (1, -1, 0),
            (0, 0, 1),
            ("NaN", 0, 0),
            ("1e3", 0, 0),
            ("0x1", 0, 0),
            (" 1", 0, 0),
            (30, "1.5", 0),
        ):
            for base in (
                "/collections/parcels/tiles",
                "/collections/pair/tiles",
                "/collections/parcels/map/tiles",
                "/tiles",
            ):
                probes.append(
                    _get(f"{base}/{tms}/{quote(str(z))}/{quote(str(y))}/{quote(str(x))}")
                )
    return probes


def _path_probes() -> list[Probe]:
    probes: list[Probe] = []
    for v in PATH_VALUES:
        probes += [
            _get(f"/collections/{v}"),
            _get(f"/collections/{v}/items"),
            _get(f"/collections/{v}/queryables"),
            _get(f"/collections/{v}/schema"),
            _get(f"/collections/{v}/tiles"),
            _get(f"/collections/{v}/tiles/WebMercatorQuad/1/0/0"),
            _get(f"/collections/{v}/map/tiles/WebMercatorQuad"),
            _get(f"{ITEMS}/{v}"),
            _get(f"{ITEMS}/{v}/history", admin=True),
            _get(f"/collections/parcels/tiles/{v}"),
            _get(f"/collections/parcels/tiles/{v}/1/0/0"),
            _get(f"/collections/parcels/tiles/WebMercatorQuad/{v}/0/0"),
            _get(f"/collections/parcels/tiles/WebMercatorQuad/1/{v}/0"),
            _get(f"/collections/parcels/tiles/WebMercatorQuad/1/0/{v}"),
            _get(f"/tileMatrixSets/{v}"),
            _get(f"/tiles/{v}"),
            _get(f"/processes/{v}"),
            _get(f"/jobs/{v}", admin=True),
            _get(f"/jobs/{v}/results", admin=True),
            Probe("DELETE", f"/jobs/{v}", admin=True),
            Probe("DELETE", f"{EDIT}/{v}", admin=True, headers=(("If-Match", '"x"'),)),
            Probe(
                "PUT",
                f"{EDIT}/{v}",
                admin=True,
                body=_feature_text('"0101"', "properties.DLBM"),
                headers=(GEOJSON_TYPE, ("If-Match", '"x"')),
            ),
            Probe(
                "PATCH",
                f"{EDIT}/{v}",
                admin=True,
                body=b'{"properties": {"DLBM": "0101"}}',
                headers=(JSON_TYPE, ("If-Match", '"x"')),
            ),
            Probe(
                "POST",
                EXECUTE.format(v),
                admin=True,
                body=b'{"inputs": {}}',
                headers=(JSON_TYPE, ASYNC),
            ),
            Probe(
                "POST",
                f"/collections/{v}/items",
                admin=True,
                body=_feature_text('"0101"', "properties.DLBM"),
                headers=(GEOJSON_TYPE,),
            ),
            _get(f"/static/{v}"),
        ]
    for raw in (
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/server/app.py",
        "/static/..%2f..%2fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fapp.py",
        "/static/....//....//etc/passwd",
        "/static/%c0%ae%c0%ae/etc/passwd",
        "/static//etc/passwd",
        "/static/vendor/%00.js",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/collections/%2e%2e/%2e%2e/etc/passwd",
        "//etc/passwd",
        "/wmts/1.0.0/../../../../etc/passwd",
        "/tms/1.0.0/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/wms/%2e%2e/%2e%2e/etc/passwd",
    ):
        probes.append(_get(raw))
    return probes


def _header_probes() -> list[Probe]:
    probes: list[Probe] = []
    targets = [
        ("GET", ITEMS, None, False),
        ("GET", f"{ITEMS}/1", None, False),
        ("GET", TILE, None, False),
        ("GET", "/", None, False),
        ("GET", "/jobs", None, True),
        ("POST", EDIT, _feature_text('"0101"', "properties.DLBM"), True),
        ("PATCH", f"{EDIT}/{FEATURE}", b'{"properties": {"DLMC": "x"}}', True),
        # invalid inputs (400 after every header was read): no job per header value
        ("POST", EXECUTE.format("landuse-statistics"), b'{"inputs": {"level": 1}}', True),
    ]
    names = [
        "Accept",
        "Accept-Language",
        "If-None-Match",
        "Authorization",
        "X-API-Key",
        "Origin",
        "Content-Crs",
        "If-Match",
        "Prefer",
        "Content-Type",
        "Host",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "Forwarded",
        "Accept-Encoding",
        "Cookie",
        "Range",
    ]
    writes = {"Content-Crs", "If-Match", "Prefer", "Content-Type"}
    for method, path, body, admin in targets:
        for name in names:
            if (name in writes) != (method != "GET") and name not in ("Content-Type",):
                continue
            for value in HEADER_VALUES:
                try:
                    value.encode("latin-1")
                except UnicodeEncodeError:
                    continue
                headers: list[tuple[str, str]] = [(name, value)]
                if method != "GET" and name != "Content-Type":
                    headers.append(JSON_TYPE if "processes" in path else GEOJSON_TYPE)
                if method == "POST" and "processes" in path and name != "Prefer":
                    headers.append(ASYNC)
                etag = (
                    f"{EDIT}/{FEATURE}"
                    if method == "PATCH" and name != "If-Match"
                    else None
                )
                probes.append(Probe(method, path, (), tuple(headers), body, admin, etag))
    valid = b'{"inputs": {"landuse": "parcels", "townships": null}}'
    for value in (
        "respond-async, wait=99999999999",
        "RESPOND-ASYNC",
        "respond-sync",
        "' OR 1=1 --",
    ):
        probes.append(
            Probe(
                "POST",
                EXECUTE.format("landuse-statistics"),
                (),
                (("Prefer", value), JSON_TYPE),
                valid,
                True,
            )
        )
    # the credentials themselves: a bad key or token is a 401, never a 5xx
    for value in HEADER_VALUES:
        if not value.isascii():
            continue
        for name in ("X-API-Key", "Authorization"):
            probes.append(
                Probe(
                    "POST",
                    EDIT,
                    (),
                    ((name, value), GEOJSON_TYPE),
                    _feature_text('"0101"', "properties.DLBM"),
                )
            )
    return probes


def _body_probes(port: int) -> list[Probe]:
    probes: list[Probe] = []
    where = [
        "body",
        "type",
        "id",
        "geometry",
        "geometry.type",
        "geometry.coordinates",
        "properties",
        "properties.BSM",
        "properties.DLBM",
        "properties.DLMC",
        "properties.TBMJ",
        "properties.SJNF",
        "properties.GXSJ",
        "properties.injected",
    ]
    for w in where:
        tokens = (
            TOKENS
            if w
            in (
                "body",
                "properties.DLMC",
                "geometry",
                "properties.TBMJ",
                "properties.GXSJ",
                "properties.injected",
            )
            else FEW_TOKENS
        )
        for token in tokens:
            if w == "properties.injected" and not token.startswith('"'):
                continue
            text = _feature_text(token, w)
            probes.append(Probe("POST", EDIT, (), (GEOJSON_TYPE,), text, True))
            probes.append(
                Probe(
                    "PUT",
                    f"{EDIT}/{FEATURE}",
                    (),
                    (GEOJSON_TYPE,),
                    text,
                    True,
                    f"{EDIT}/{FEATURE}",
                )
            )
    for token in TOKENS:
        for patch in (
            '{"properties": {"DLMC": ' + token + "}}",
            '{"properties": {' + (token if token.startswith('"') else '"k"') + ": 1}}",
            '{"geometry": ' + token + "}",
            token,
        ):
            probes.append(
                Probe(
                    "PATCH",
                    f"{EDIT}/{FEATURE}",
                    (),
                    (JSON_TYPE,),
                    patch.encode(),
                    True,
                    f"{EDIT}/{FEATURE}",
                )
            )
    wkt = _big_wkt(10.5)
    big = {
        "type": "Feature",
        "geometry": _big_polygon(200_000),
        "properties": {"DLBM": "0101"},
    }
    probes += [
        Probe(
            "POST",
            EDIT,
            (),
            (GEOJSON_TYPE,),
            json.dumps({"type": "Feature", "geometry": wkt, "properties": {}}).encode(),
            True,
        ),
        Probe("POST", EDIT, (), (GEOJSON_TYPE,), json.dumps(big).encode(), True),
        Probe(
            "POST",
            EDIT,
            (),
            (GEOJSON_TYPE, ("Content-Length", "99999999999")),
            b"{}",
            True,
        ),
    ]
    for xml in _xxe(port):
        for media in (
            "application/xml",
            "text/xml",
            "application/gml+xml",
            "application/json",
            "application/geo+json",
        ):
            ct = ("Content-Type", media)
            probes += [
                Probe("POST", EDIT, (), (ct,), xml, True),
                Probe(
                    "PUT", f"{EDIT}/{FEATURE}", (), (ct,), xml, True, f"{EDIT}/{FEATURE}"
                ),
                Probe(
                    "PATCH",
                    f"{EDIT}/{FEATURE}",
                    (),
                    (ct,),
                    xml,
                    True,
                    f"{EDIT}/{FEATURE}",
                ),
                Probe(
                    "POST",
                    EXECUTE.format("landuse-statistics"),
                    (),
                    (ct, ASYNC),
                    xml,
                    True,
                ),
                Probe("POST", "/wms", (), (ct,), xml),
                Probe("POST", "/wmts", (), (ct,), xml),
                Probe("POST", "/service", (("SERVICE", "WMTS"),), (ct,), xml),
            ]
        probes.append(
            _get(
                "/wms",
                ("SERVICE", "WMS"),
                ("REQUEST", "GetMap"),
                ("SLD_BODY", xml.decode()),
            )
        )
    return probes


def _legacy_probes(port: int) -> list[Probe]:
    probes: list[Probe] = []
    base = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": "pair",
        "STYLES": "",
        "CRS": "EPSG:3857",
        "BBOX": "12190000,2630000,12200000,2640000",
        "WIDTH": "256",
        "HEIGHT": "256",
        "FORMAT": "image/png",
    }
    for name in (
        "LAYERS",
        "CRS",
        "BBOX",
        "WIDTH",
        "HEIGHT",
        "FORMAT",
        "REQUEST",
        "VERSION",
        "STYLES",
        "TRANSPARENT",
        "BGCOLOR",
        "EXCEPTIONS",
    ):
        for value in [*SHORT, str(10**12), "NaN,NaN,NaN,NaN", "1,2,3,4,5,6"]:
            params = {**base, name: value}
            probes.append(_get("/wms", *params.items()))
    for extra in (
        ("SLD", f"http://127.0.0.1:{port}/sld.xml"),
        ("SLD", "file:///etc/passwd"),
        ("REQUEST", "GetLegendGraphic"),
        ("REQUEST", "GetFeatureInfo"),
        ("INFO_FORMAT", "text/html"),
        ("QUERY_LAYERS", "' OR 1=1 --"),
    ):
        probes.append(_get("/wms", *{**base, extra[0]: extra[1]}.items()))
    wmts = {
        "SERVICE": "WMTS",
        "REQUEST": "GetTile",
        "VERSION": "1.0.0",
        "LAYER": "pair",
        "STYLE": "default",
        "TILEMATRIXSET": "webmercator",
        "TILEMATRIX": "15",
        "TILEROW": "14465",
        "TILECOL": "26120",
        "FORMAT": "image/png",
    }
    for name in (
        "LAYER",
        "TILEMATRIXSET",
        "TILEMATRIX",
        "TILEROW",
        "TILECOL",
        "FORMAT",
        "REQUEST",
    ):
        for value in [*SHORT, "30", str(2**31), "-1"]:
            probes.append(_get("/wmts", *{**wmts, name: value}.items()))
    for v in [*PATH_VALUES[:12], "30/0/0.png", "1.0.0/pair_EPSG3857/30/0/0.png"]:
        probes += [_get(f"/tms/1.0.0/{v}"), _get(f"/wmts/1.0.0/{v}")]
    return probes


def _execution_probes(port: int, redirect: str, vrt: str) -> list[Probe]:
    from processes.registry import PROCESSES

    probes: list[Probe] = []
    headers = (JSON_TYPE, ASYNC)
    for process_id, process in PROCESSES.items():
        if process_id in SKIP_PROCESSES:
            continue
        path = EXECUTE.format(process_id)
        for name in process.inputs.model_fields:
            for token in FEW_TOKENS + [json.dumps(v) for v in SQL[:6]]:
                body = '{"inputs": {' + json.dumps(name) + ": " + token + "}}"
                probes.append(Probe("POST", path, (), headers, body.encode(), True))
        for token in FEW_TOKENS:
            probes += [
                Probe("POST", path, (), headers, token.encode(), True),
                Probe(
                    "POST",
                    path,
                    (),
                    headers,
                    b'{"inputs": ' + token.encode() + b"}",
                    True,
                ),
                Probe(
                    "POST",
                    path,
                    (),
                    headers,
                    b'{"inputs": {}, "subscriber": ' + token.encode() + b"}",
                    True,
                ),
            ]
    cd = EXECUTE.format("change-detection")
    # the other image inputs valid: the job really opens the href
    base = {
        "before": "pair",
        "after": "pair",
        "landuse": "parcels",
        "townships": None,
        "publish": False,
    }
    hrefs = [
        *ssrf_urls(port, []),
        f"{redirect}/cogs/x.tif",  # allowed: answers with a redirect to the canary
        f"{redirect}/cogs/x.vrt",
        f"{redirect}/cogs/../x.tif",
        f"{redirect}/cogs/%2e%2e/x.tif",
        f"{redirect}/cogsx/x.tif",
        f"{redirect}/cogs/x.tif?a=http://127.0.0.1:{port}/",
        vrt,  # a VRT inside the data dir whose source is the canary
        "imagery/outside.tif",  # a symbolic link out of the data dir
        "imagery/../../../../../etc/passwd",
        "imagery/%2e%2e/%2e%2e/etc/passwd",
        "imagery/..\\..\\..\\etc\\passwd",
        "/etc/passwd",
        "/proc/self/environ",
        "/dev/zero",
        "~/.ssh/id_rsa",
        "imagery",
        "",
        "imagery/before.tif\x00.png",
    ]
    for href in dict.fromkeys(hrefs):
        for name in ("before", "after", "cloud_mask"):
            body = {"inputs": {**base, name: {"href": href}}}
            probes.append(Probe("POST", cd, (), headers, json.dumps(body).encode(), True))
    for uri in dict.fromkeys([*ssrf_urls(port, []), f"{redirect}/cogs/callback"]):
        for kind in ("successUri", "failedUri", "inProgressUri"):
            body = {
                "inputs": {"landuse": "parcels", "townships": None},
                "subscriber": {kind: uri},
            }
            probes.append(
                Probe(
                    "POST",
                    EXECUTE.format("landuse-statistics"),
                    (),
                    headers,
                    json.dumps(body).encode(),
                    True,
                )
            )
    wkt = _big_wkt(10.5)
    probes += [
        Probe(
            "POST",
            EXECUTE.format("planning-compliance"),
            (),
            headers,
            json.dumps({"inputs": {"project": wkt}}).encode(),
            True,
        ),
        Probe(
            "POST",
            EXECUTE.format("planning-compliance"),
            (),
            headers,
            json.dumps(
                {"inputs": {"project": _big_polygon(100_000), "name": "' OR 1=1 --"}}
            ).encode(),
            True,
        ),
        Probe(
            "POST",
            EXECUTE.format("landuse-statistics"),
            (),
            headers,
            json.dumps(
                {
                    "inputs": {
                        "landuse": "parcels",
                        "townships": None,
                        "aoi": _big_polygon(50_000),
                    }
                }
            ).encode(),
            True,
        ),
        Probe(
            "POST",
            EXECUTE.format("landuse-statistics"),
            (),
            (JSON_TYPE,),
            b'{"inputs": {"landuse": "parcels", "townships": null, "level": "sandalei"}}',
            True,
        ),  # synchronous
        Probe(
            "POST",
            cd,
            (),
            (JSON_TYPE,),
            json.dumps(
                {"inputs": {**base, "before": {"href": f"{redirect}/cogs/x.tif"}}}
            ).encode(),
            True,
        ),  # synchronous, allowed href that redirects
    ]
    return probes


def _sample(probes: list[Probe], share: int) -> list[Probe]:
    """A fixed 1/share of the probes (the same on every run), XXE bodies always."""
    return [
        p
        for p in probes
        if zlib.crc32(repr(p.key).encode()) % share == 0
        or (p.body is not None and b"<!DOCTYPE" in p.body)
    ]


def corpus(port: int, redirect: str, vrt: str, *, full: bool = True) -> list[Probe]:
    """Every probe, once; not ``full`` (CI): a fixed sample of the generic categories,
    and every special case, SSRF, traversal and XXE payload."""
    wide = _param_probes() + _path_probes() + _header_probes() + _legacy_probes(port)
    bodies = _body_probes(port)
    if not full:
        wide, bodies = _sample(wide, 4), _sample(bodies, 3)
    probes = wide + bodies + _special_probes() + _execution_probes(port, redirect, vrt)
    return list({p.key: p for p in probes}.values())


# CI sends the sample; ONEMAP_CORPUS_FULL=1 every probe
FULL = os.environ.get("ONEMAP_CORPUS_FULL") == "1"


# ------------------------------------------------------------------ the run


@dataclass
class Outcome:
    """What the corpus found."""

    sent: int = 0
    failures: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)


def _label(probe: Probe) -> str:
    params = "&".join(f"{k}={v}" for k, v in probe.params)
    text = f"{probe.method} {probe.path}?{params} {dict(probe.headers)}"
    if probe.body:
        text += f" body={probe.body[:120]!r}"
    return text[:400]


def _sent_text(probe: Probe) -> str:
    text = " ".join(
        [
            probe.path,
            *(f"{k}={v}" for k, v in probe.params),
            *(f"{k}: {v}" for k, v in probe.headers),
        ]
    )
    if probe.body:
        text += " " + probe.body.decode("utf-8", "replace")
    return text + " " + unquote(text)


def check_response(outcome: Outcome, label: str, sent: str, response: Any) -> None:
    """Status < 500 and no leak; remember what failed."""
    problems = []
    if response.status_code >= 500:
        problems.append(f"status {response.status_code}")
    found = leaks(response.text, sent)
    if "root:x:0:0" in response.text:
        found.append("/etc/passwd content")
    if found:
        problems.append(f"leaks {found}")
    if problems:
        outcome.failures.append(f"{label}\n    -> {problems}: {response.text[:300]!r}")


@dataclass
class Raw:
    """A response read straight off the ASGI app."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


def raw_request(
    client: TestClient,
    method: str,
    path: str,
    query: bytes,
    headers: dict[str, str],
    body: bytes,
) -> Raw:
    """One request through the ASGI app as a server would pass it on: the raw path and
    query (no client-side normalisation or length limit), headers as bytes."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), _header_bytes(v)) for k, v in headers.items()],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    status: list[int] = []
    out_headers: dict[str, str] = {}
    chunks: list[bytes] = []
    pending = [body]
    events: list[anyio.Event] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        await events[0].wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            for k, v in message.get("headers", []):
                out_headers[k.decode("latin-1").lower()] = v.decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                events[0].set()

    async def run() -> None:
        events.append(anyio.Event())
        try:
            with anyio.fail_after(120):
                await client.app(scope, receive, send)  # type: ignore[arg-type]
        except Exception:  # re-raised after the 500 was sent (ServerErrorMiddleware)
            if not status:
                status.append(599)

    client.portal.call(run)  # type: ignore[union-attr]
    content = b"".join(chunks)
    if out_headers.get("content-encoding") == "gzip":
        content = gzip.decompress(content)
    return Raw(status[0] if status else 599, out_headers, content)


def send(
    client: TestClient, probe: Probe, admin: dict[str, str], outcome: Outcome
) -> None:
    """Send one probe and check its response."""
    headers = dict(admin) if probe.admin else {}
    if probe.etag_of is not None:
        current = client.get(probe.etag_of, headers=admin)
        headers["If-Match"] = current.headers.get("etag", '"none"')
    headers.update(probe.headers)
    if probe.body is not None:
        headers.setdefault("Content-Length", str(len(probe.body)))
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in probe.params)
    started = time.monotonic()
    response = raw_request(
        client, probe.method, probe.path, query.encode(), headers, probe.body or b""
    )
    elapsed = time.monotonic() - started
    outcome.sent += 1
    outcome.slowest = sorted([*outcome.slowest, (elapsed, _label(probe)[:160])])[-5:]
    check_response(outcome, _label(probe), _sent_text(probe), response)
    if response.status_code == 201 and "/jobs/" in response.headers.get("location", ""):
        outcome.jobs.append(response.headers["location"].rsplit("/", 1)[1])


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def hostile(provider: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    data = tmp_path_factory.mktemp(f"hostile_{provider}")
    database = os.environ.get("TEST_DATABASE_URL") if provider == "postgis" else None
    if provider == "postgis" and not database:
        pytest.fail(
            "TEST_DATABASE_URL is not set: run the tests via `bash scripts/run test`"
        )
    with (
        hostile_app(data, database) as h,
        TestClient(h.app, raise_server_exceptions=False) as client,
    ):
        h.client = client
        yield h


def _wait_for_jobs(h: Hostile, seconds: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while True:
        jobs = h.client.get("/jobs", params={"limit": 1000}, headers=h.admin).json()[
            "jobs"
        ]
        if all(j["status"] not in ("accepted", "running") for j in jobs):
            return list(jobs)
        assert time.monotonic() < deadline, [j for j in jobs if j["status"] == "running"]
        time.sleep(0.2)


# ------------------------------------------------------------------ tests

# 5xx this corpus found in files of other work, all fixed: they run again in
# test_reported_server_errors (the last also in
# test_geometry_far_outside_the_crs_leaves_tiles_working)
KNOWN: list[tuple[str | None, str, Callable[[Probe], bool]]] = [
    (
        "geopackage",
        "providers/geopackage.py, geopackage_edit.py: a feature id beyond "
        "int64 raises OverflowError (GET, history, PUT, PATCH, DELETE)",
        lambda p: "/items/99999999999999999999999" in p.path,
    ),
    (
        None,
        "providers/edits.py geometry_of: shapely's GeometryTypeError of an unknown "
        "geometry type is not caught (POST, PUT)",
        lambda p: p.body is not None and b'"coordinates": [109.7, 23.2]}' in p.body,
    ),
    (
        "postgis",
        "providers/edits.py / postgis_edit.py: a NUL character in a text "
        "property reaches PostgreSQL (psycopg.DataError)",
        lambda p: p.path.startswith(EDIT) and p.body is not None and b"\\u0000" in p.body,
    ),
    (
        "postgis",
        "providers/edits.py: a geometry far outside the CRS (1e308 in EPSG:4490) was "
        "stored, then every PostGIS tile over it failed in ST_Transform",
        lambda p: p.path.startswith(EDIT) and p.body is not None and POISON in p.body,
    ),
]


POISON = b"[1e308, 0], [1e308, 1e308]"


def _known(provider: str, probe: Probe) -> bool:
    return any(p in (None, provider) and match(probe) for p, _, match in KNOWN)


def test_corpus_is_large_and_distinct() -> None:
    probes = corpus(1, "http://127.0.0.1:2", "imagery/outside.vrt")
    assert len(probes) >= MIN_CORPUS, len(probes)
    ci = corpus(1, "http://127.0.0.1:2", "imagery/outside.vrt", full=False)
    assert len(ci) >= MIN_CORPUS, len(ci)
    kinds = {p.method for p in probes}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= kinds


def test_hostile_corpus(hostile: Hostile, provider: str) -> None:
    h = hostile
    probes = corpus(h.canary.port, h.redirector.url, h.vrt, full=FULL)
    outcome = Outcome()
    started = time.monotonic()
    for probe in probes:
        if not _known(provider, probe):
            send(h.client, probe, h.admin, outcome)
    assert outcome.sent >= MIN_CORPUS
    # every job the corpus started runs to its end; its status and results are clean
    jobs = _wait_for_jobs(h)
    assert len(jobs) >= len(outcome.jobs) > 0
    for job in jobs:
        for path in (f"/jobs/{job['jobID']}", f"/jobs/{job['jobID']}/results"):
            response = h.client.get(path, headers=h.admin)
            check_response(outcome, f"GET {path} ({job['processID']})", path, response)
    time.sleep(1.0)  # callbacks are sent after a job ends
    assert not outcome.failures, (
        f"{len(outcome.failures)} of {outcome.sent} failed:\n"
        + "\n".join(outcome.failures[:40])
    )
    # no SSRF got through: not directly, not by a redirect from an allowed source
    # (which was reached: the href and callback checks did run), not through a VRT
    assert h.canary.hits == [], h.canary.hits[:10]
    assert h.redirector.hits[0] > 0
    # the injections changed nothing
    after = h.client.get(ITEMS, params={"limit": 1}).json()
    assert after["numberMatched"] == GRID_COLS * GRID_ROWS
    print(
        f"\n{provider}: {len(probes)} probes, {outcome.sent} sent in "
        f"{time.monotonic() - started:.0f} s, {len(jobs)} jobs, canary on "
        f"{h.canary.addresses}: 0 connections; slowest {outcome.slowest[-1]}"
    )


def test_reported_server_errors(hostile: Hostile, provider: str) -> None:
    outcome = Outcome()
    probes = corpus(hostile.canary.port, hostile.redirector.url, hostile.vrt)
    for probe in probes:
        if _known(provider, probe):
            send(hostile.client, probe, hostile.admin, outcome)
    assert outcome.sent > 0 and not outcome.failures, "\n".join(outcome.failures[:10])


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        # cql2-rs recursed once per prefix operator: ~4,000 killed the process (SIGSEGV)
        (ITEMS, {"filter": "NOT " * 5000 + "DLBM = '0101'"}, 400),
        (ITEMS, {"filter": "-" * 10_000 + "1 = 1"}, 400),
        (ITEMS, {"filter": "[" * 10_000 + "]" * 10_000, "filter-lang": "cql2-json"}, 400),
        (ITEMS, {"filter": "T_BEFORE(GXSJ, TIMESTAMP('99999-12-31T00:00:00Z'))"}, 400),
        (ITEMS, {"filter": "T_BEFORE(GXSJ, DATE('0000-00-00'))"}, 400),
        (ITEMS, {"SJNF": "9" * 40}, 400),
        (ITEMS, {"datetime": "0001-01-01T00:00:00+23:59/.."}, 400),
        (ITEMS, {"datetime": "9999-12-31"}, 200),
        (ITEMS, {"sortby": ",".join(["-TBMJ"] * 5000)}, 200),
        (ITEMS, {"bbox": "-1e308,-90,1e308,90"}, 400),
        ("/jobs/%00", {}, 404),
        ("/jobs", {"processID": "\x00"}, 400),
        (
            "/wms",
            {
                "SERVICE": "WMS",
                "REQUEST": "GetMap",
                "VERSION": "1.3.0",
                "LAYERS": "pair",
                "CRS": "EPSG:3857",
                "BBOX": "1,2,3,4,5,6",
                "WIDTH": "256",
                "HEIGHT": "256",
                "FORMAT": "image/png",
            },
            400,
        ),
    ],
)
def test_fixed_server_errors(
    hostile: Hostile, path: str, params: dict[str, str], status: int
) -> None:
    outcome = Outcome()
    probe = Probe("GET", path, tuple(params.items()), admin=True)
    send(hostile.client, probe, hostile.admin, outcome)
    assert not outcome.failures
    r = raw_request(
        hostile.client,
        "GET",
        path,
        "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items()).encode(),
        hostile.admin,
        b"",
    )
    assert r.status_code == status, r.text


def test_modulo_filters_on_both_backends(hostile: Hostile) -> None:
    """CQL2 '%' reached psycopg as a placeholder: every modulo filter was a 500."""
    r = hostile.client.get(ITEMS, params={"filter": "SJNF % 3 = 1", "limit": 1})
    assert r.status_code == 200, r.text
    assert r.json()["numberMatched"] == GRID_COLS * GRID_ROWS // 2  # 2020 and 2023
    zero = hostile.client.get(ITEMS, params={"filter": "TBMJ % 0 = 1"})
    assert zero.status_code in (200, 400), zero.text


def test_image_href_that_redirects_is_refused(hostile: Hostile) -> None:
    """GDAL follows redirects anywhere: an allowed source that redirects is refused,
    a VRT inside the data dir is not opened; the canary sees nothing."""
    h = hostile
    ids = []
    for href in (f"{h.redirector.url}/cogs/x.tif", h.vrt):
        body = {
            "inputs": {
                "before": {"href": href},
                "after": "pair",
                "landuse": "parcels",
                "townships": None,
                "publish": False,
            }
        }
        r = h.client.post(
            EXECUTE.format("change-detection"),
            json=body,
            headers={**h.admin, "Prefer": "respond-async"},
        )
        assert r.status_code == 201, r.text
        ids.append(r.headers["location"].rsplit("/", 1)[1])
    _wait_for_jobs(h)
    for job_id in ids:
        status = h.client.get(f"/jobs/{job_id}", headers=h.admin).json()
        assert status["status"] == "failed", status
    assert h.canary.hits == []


def test_geometry_far_outside_the_crs_leaves_tiles_working(
    hostile: Hostile,
) -> None:
    """An edit stored a polygon of 1e308 degrees; every tile over it was a 500
    (GeoPackage: fixed in tiles/mvt.py; PostGIS: such a geometry is now refused)."""
    h = hostile
    ring = [[0, 0], [1e308, 0], [1e308, 1e308], [0, 0]]
    body = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"DLBM": "0101"}}  # fmt: skip
    r = h.client.post(
        EDIT, json=body, headers={**h.admin, "Content-Type": GEOJSON_TYPE[1]}
    )
    assert r.status_code == 400, r.text
    assert "geometry" in r.json()["detail"], r.text
    for path in (
        "/tiles/WorldCRS84Quad/0/0/1",
        "/tiles/WebMercatorQuad/0/0/0",
        "/collections/editable/tiles/WebMercatorQuad/0/0/0",
        "/collections/editable/map/tiles/WebMercatorQuad/0/0/0",
    ):
        assert h.client.get(path).status_code < 500, path
