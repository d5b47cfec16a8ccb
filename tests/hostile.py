"""Hostile-input helpers shared by tests/api/test_corpus.py, test_schemathesis.py and
bench/fuzz.py: the leak check, a canary listener that must never be reached, a
redirecting HTTP server, and the schemathesis run over the OpenAPI document."""

from __future__ import annotations

import contextlib
import http.server
import os
import selectors
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# SQL (and SQLite) injection attempts; the first six are the classic ones
SQL = [
    "' OR '1'='1",
    "1; DROP TABLE parcels; --",
    '"; DROP TABLE parcels; --',
    "1) OR (1=1",
    "$$; DROP TABLE parcels; $$",
    "\\'; SELECT pg_sleep(5); --",
    "' UNION SELECT usename, passwd FROM pg_shadow --",
    "1' AND 1=CAST((SELECT version()) AS int) --",
    "'; COPY (SELECT 1) TO PROGRAM 'id'; --",
    "') OR 1=1 --",
    "%' OR '%'='",
    "admin'--",
    "1 OR 1=1",
    "' || pg_read_file('/etc/passwd') || '",
    "'; ATTACH DATABASE 'x.db' AS x; --",
    "' AND load_extension('x') --",
    "DLBM) FROM parcels; --",
    '"DLBM"',
    "ST_AsText(geom)",
    "1e1) OR (1",
]

# The query parameters of an image tile beyond the format
RASTER_PARAMS = ("bidx", "rescale", "colormap", "colormap_name", "resampling", "image")

# What a response body must never show: a Python trace, SQL or a driver's message, a
# file path of the server. "/tmp/" covers the test data dirs (pytest's basetemp).
LEAK_MARKERS = (
    "Traceback",
    "psycopg",
    "SELECT ",
    "/work/",
    "/tmp/",
    '.py"',
    "site-packages",
    "sqlite3.",
    'File "',
    "syntax error at or near",
)


def leaks(body: str, sent: str) -> list[str]:
    """The leak markers in a response ``body`` that the request (``sent``: its URL,
    headers and body as text) did not carry: an error that quotes the offending value
    back is not a leak, anything else is."""
    return [m for m in LEAK_MARKERS if m in body and m not in sent]


# ------------------------------------------------------------------ canary


def local_addresses() -> list[str]:
    """Addresses of this machine a listener can bind (loopback first)."""
    found = ["127.0.0.1"]
    if socket.has_ipv6:
        found.append("::1")
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.append(str(info[4][0]))
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s,
    ):
        s.connect(("10.255.255.255", 9))  # no packet is sent: picks the outgoing address
        found.append(s.getsockname()[0])
    with contextlib.suppress(OSError), open("/proc/net/if_inet6") as f:
        for line in f:
            raw, scope = line.split()[0], line.split()[3]
            if scope == "00":  # global addresses only (link-local ones need a zone)
                found.append(":".join(raw[i : i + 4] for i in range(0, 32, 4)))
    return list(dict.fromkeys(a for a in found if a and "%" not in a))


class Canary:
    """TCP listeners on one port of every local address that can be bound; every
    connection is recorded. An SSRF attempt that gets through shows up here."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, bytes]] = []
        self._sockets: list[socket.socket] = []
        first = self._listen("127.0.0.1", 0)
        assert first is not None
        self.port = first.getsockname()[1]
        for address in local_addresses()[1:]:
            self._listen(address, self.port)
        self.addresses = [s.getsockname()[0] for s in self._sockets]
        self._selector = selectors.DefaultSelector()
        for s in self._sockets:
            self._selector.register(s, selectors.EVENT_READ)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _listen(self, address: str, port: int) -> socket.socket | None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s.bind((address, port))
            s.listen(64)
        except OSError:
            s.close()
            return None
        s.setblocking(False)
        self._sockets.append(s)
        return s

    def _serve(self) -> None:
        while not self._stop:
            for key, _ in self._selector.select(0.1):
                listener = key.fileobj
                assert isinstance(listener, socket.socket)
                with contextlib.suppress(OSError):
                    conn, peer = listener.accept()
                    with conn:
                        conn.settimeout(0.5)
                        data = b""
                        with contextlib.suppress(OSError):
                            data = conn.recv(512)
                        self.hits.append((str(peer[0]), data))

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        for s in self._sockets:
            s.close()


class Redirector:
    """An HTTP server (on loopback, standing in for a public host listed in
    allowed_sources) that answers every request with a redirect to ``target``."""

    def __init__(self, target: str) -> None:
        hits = self.hits = [0]

        class Handler(http.server.BaseHTTPRequestHandler):
            def _redirect(self) -> None:
                hits[0] += 1
                self.send_response(302)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_POST = do_PUT = _redirect

            def log_message(self, *_args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def ssrf_urls(port: int, addresses: Iterable[str]) -> list[str]:
    """URLs at the canary's port in every spelling of a local or internal address,
    plus schemes a server must never fetch."""
    hosts = [
        "127.0.0.1",
        "2130706433",  # decimal
        "0177.0.0.1",  # octal
        "0x7f.1",
        "0x7f000001",
        "017700000001",
        "127.1",
        "127.000.000.001",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[0:0:0:0:0:ffff:7f00:1]",
        "[::ffff:7f00:1]",
        "localhost",
        "LOCALHOST.",
        "0.0.0.0",
        "0",
        "[::]",
        "169.254.169.254",
        "[fd00:ec2::254]",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "100.100.100.200",
        "metadata.google.internal",
        *[f"[{a}]" if ":" in a else a for a in addresses],
    ]
    urls = []
    for host in dict.fromkeys(hosts):
        urls += [f"http://{host}:{port}/x.tif", f"https://{host}:{port}/x.tif"]
    urls += [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        f"file:///etc/passwd#{port}",
        "file://localhost/etc/passwd",
        f"gopher://127.0.0.1:{port}/_GET%20/%20HTTP/1.0%0d%0a",
        f"dict://127.0.0.1:{port}/info",
        f"ftp://127.0.0.1:{port}/x.tif",
        f"ldap://127.0.0.1:{port}/dc=x",
        f"tftp://127.0.0.1:{port}/x",
        f"/vsicurl/http://127.0.0.1:{port}/x.tif",
        f"/vsicurl?url=http%3A%2F%2F127.0.0.1%3A{port}%2Fx.tif",
        f"/VSICURL/http://127.0.0.1:{port}/x.tif",
        f" /vsicurl/http://127.0.0.1:{port}/x.tif",
        f"/vsicurl_streaming/http://127.0.0.1:{port}/x.tif",
        f"/vsizip//vsicurl/http://127.0.0.1:{port}/x.zip/x.tif",
        f"/vsitar/vsicurl/http://127.0.0.1:{port}/x.tar/x.tif",
        f"/vsigzip//vsicurl/http://127.0.0.1:{port}/x.gz",
        f"/vsis3/bucket/x.tif#{port}",
        f"HTTP://127.0.0.1:{port}/x.tif",
        f"http:/127.0.0.1:{port}/x.tif",
        f"http:\\\\127.0.0.1:{port}\\x.tif",
        f"//127.0.0.1:{port}/x.tif",
        f"http://user:pw@127.0.0.1:{port}/x.tif",
        f"http://127.0.0.1:{port}#@example.cn/x.tif",
        f"http://example.cn@127.0.0.1:{port}/x.tif",
        f"http://127.0.0.1:{port}%2f@example.cn/x.tif",
        f"http://127.0.0.1:{port}/x.tif\r\nX: y",
    ]
    return urls


# ------------------------------------------------------------------ the app under attack


@dataclass
class Hostile:
    """An app of its own (own data dir, own database, own job queue and a worker that
    runs the jobs), a canary and an allowed source that redirects to the canary."""

    settings: Any
    app: Any
    admin: dict[str, str]
    canary: Canary
    redirector: Redirector
    vrt: str
    client: Any = None


def _outside_files(data: Path, canary_port: int) -> str:
    """A VRT inside the data dir whose source is the canary, and a symbolic link out."""
    vrt = data / "imagery" / "outside.vrt"
    bands = "".join(
        f'<VRTRasterBand dataType="UInt16" band="{b}"><SimpleSource>'
        f'<SourceFilename relativeToVRT="0">/vsicurl/http://127.0.0.1:{canary_port}/x.tif'
        f"</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"
        for b in range(1, 5)
    )
    vrt.write_text(
        '<VRTDataset rasterXSize="512" rasterYSize="512"><SRS>EPSG:4490</SRS>'
        f"<GeoTransform>109.5, 0.0001, 0, 23.06, 0, -0.0001</GeoTransform>{bands}"
        "</VRTDataset>"
    )
    outside = data.parent / f"{data.name}_outside.tif"
    outside.write_bytes((data / "imagery" / "before.tif").read_bytes())
    (data / "imagery" / "outside.tif").symlink_to(outside)
    return "imagery/outside.vrt"


@contextlib.contextmanager
def fresh_database(admin_url: str, store: Path) -> Iterator[str]:
    """A new PostGIS database with the test layers, dropped afterwards."""
    from server.cli.importer import import_to_postgis
    from tests.conftest import LAYERS
    from tests.support.database import fresh_database as fresh_postgis

    with fresh_postgis(admin_url, "onemap_hostile") as url:
        for layer in LAYERS:
            import_to_postgis(store, url, f"public.{layer}", layer=layer)
        yield url


@contextlib.contextmanager
def hostile_app(data: Path, database: str | None) -> Iterator[Hostile]:
    """The test layers and imagery in ``data`` (GeoPackage; PostGIS in a fresh
    database of the server ``database`` names), the app over them with an allowed
    source that redirects to the canary, an admin key and a job worker."""
    from server.app import create_app
    from server.security.api_keys import ApiKeys
    from tests.conftest import make_settings, start_worker
    from tests.fixtures import write_test_imagery, write_test_store

    store = write_test_store(data)
    write_test_imagery(data)
    canary = Canary()
    redirector = Redirector(f"http://127.0.0.1:{canary.port}")
    vrt = _outside_files(data, canary.port)
    with contextlib.ExitStack() as stack:
        stack.callback(canary.close)
        stack.callback(redirector.close)
        url = stack.enter_context(fresh_database(database, store)) if database else None
        base = make_settings(store, "postgis" if url else "geopackage", url)
        settings = base.model_copy(
            update={
                "allowed_sources": [f"{redirector.url}/cogs/"],
                "processes": base.processes.model_copy(update={"sync_wait_s": 1}),
            }
        )
        secret, _ = ApiKeys(data).create("hostile", ["admin"], None)
        worker = start_worker(settings)

        def _stop() -> None:
            worker.terminate()
            worker.join(10)

        stack.callback(_stop)
        yield Hostile(
            settings, create_app(settings), {"X-API-Key": secret}, canary, redirector, vrt
        )


# ------------------------------------------------------------------ schemathesis


@dataclass
class FuzzStats:
    """What a schemathesis run tried and what it found."""

    cases: int = 0
    server_errors: int = 0
    leaks: int = 0
    nonconforming: int = 0  # answers the API document does not describe
    by_status: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reported: dict[str, int] = field(default_factory=dict)  # 5xx of REPORTED bugs

    def record(self, label: str, status: int, problems: list[str], curl: str) -> None:
        """Count one case; keep the first failures (with a curl command)."""
        self.cases += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if problems and problems[0].startswith("reported:"):
            self.reported[problems[0]] = self.reported.get(problems[0], 0) + 1
            return
        if status >= 500:
            self.server_errors += 1
        if any(p.startswith("leak") for p in problems):
            self.leaks += 1
        if status < 500 and any(p.startswith("check") for p in problems):
            self.nonconforming += 1
        if problems and len(self.failures) < 50:
            self.failures.append(f"{label} -> {status} {problems}\n  {curl}")


# 5xx found by the fuzzers in files owned by other work in progress, reported there
# (see tests/api/test_corpus.py KNOWN): (exception type, text in its message)
REPORTED = [
    (
        "InternalError_",
        "Invalid coordinate",
        "providers/edits.py: geometry outside the CRS",
    ),
]


def reported(exc: BaseException) -> str | None:
    """'reported: …' when ``exc`` is one of the REPORTED bugs."""
    for kind, text, where in REPORTED:
        if type(exc).__name__ == kind and text in str(exc):
            return f"reported: {where}"
    return None


def fuzz_extras(document: dict[str, Any]) -> dict[str, Any]:
    """The served document plus what it leaves undescribed and the fuzzer should try
    anyway: the GeoJSON bodies of the edits and the imagery rendering parameters."""
    feature = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": ["string", "integer"]},
            "geometry": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "coordinates": {"type": "array"},
                },
            },
            "properties": {"type": "object"},
        },
        "required": ["type", "geometry", "properties"],
    }
    body = {
        "required": True,
        "content": {"application/geo+json": {"schema": feature}},
    }
    paths = document["paths"]
    for path, method in (
        ("/collections/{collectionId}/items", "post"),
        ("/collections/{collectionId}/items/{featureId}", "put"),
        ("/collections/{collectionId}/items/{featureId}", "patch"),
    ):
        operation = paths.get(path, {}).get(method)
        if operation is not None and "requestBody" not in operation:
            operation["requestBody"] = body
    tile = "/collections/{collectionId}/tiles/{tileMatrixSetId}/" + (
        "{tileMatrix}/{tileRow}/{tileCol}"
    )
    operation = paths.get(tile, {}).get("get")
    if operation is not None:
        names = {p.get("name") for p in operation.get("parameters", [])}
        vector = ("filter", "filter-lang", "filter-crs", "properties")
        for name in (*RASTER_PARAMS, *vector):
            if name not in names:
                operation["parameters"].append(
                    {
                        "name": name,
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    }
                )
    return document


# real ids for the path parameters, so that cases reach more than the 404 of a random id
REAL_IDS = {
    "collectionId": ["parcels", "editable", "pair"],
    "processId": [
        "landuse-statistics",
        "change-detection",
        "planning-compliance",
        "carrying-capacity",
        "monitoring-statistics",
    ],
    "featureId": ["3"],
    "tileMatrixSetId": ["WebMercatorQuad"],
}


def _variants(path: str, all_ids: bool) -> list[tuple[Any, dict[str, str] | None]]:
    """(generation mode, fixed path parameters): free ids, then each real id (only
    the first one of each unless ``all_ids``)."""
    from schemathesis import GenerationMode

    fixed: list[dict[str, str] | None] = [None]
    for name, every in REAL_IDS.items():
        ids = every if all_ids else every[:1]
        if "{" + name + "}" in path:
            base = [f for f in fixed if f is not None] or [{}]
            fixed += [{**f, name: i} for f in base for i in ids]
    fixed = list({str(f): f for f in fixed}.values())
    return [
        (m, f) for f in fixed for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]


def run_schemathesis(
    app: Any,
    headers: dict[str, str],
    examples: int,
    *,
    on_case: Callable[[FuzzStats], None] | None = None,
    all_ids: bool = True,
) -> FuzzStats:
    """Every operation of the app's OpenAPI document (/api), positive and negative
    cases, ``examples`` of each per operation and mode, sent in-process through the
    ASGI app with ``headers`` (the admin key: writes and executions run). Checks:
    schemathesis's not_a_server_error, the conformance of each answer to the document
    (status, media type, schema) and the leak check."""
    import hypothesis
    import hypothesis.errors
    import orjson
    import schemathesis
    from hypothesis import HealthCheck, Phase
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )
    from schemathesis.python import asgi

    with asgi.get_client(app) as client:
        document = orjson.loads(client.get("/api").content)
    schema = schemathesis.openapi.from_dict(fuzz_extras(document))
    schema.app = app
    schema.location = "/api"
    stats = FuzzStats()
    started = time.monotonic()
    config = hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=os.environ.get("ONEMAP_FUZZ_SEED") is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, fixed in _variants(operation.path, all_ids):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

            @hypothesis.given(case=strategy)
            @config
            def one(case: Any) -> None:
                label = f"{operation.label} [{mode} {fixed}]"  # noqa: B023 (called at once)
                extra = {**headers, "Prefer": "respond-async"}
                try:
                    response = case.call(headers=extra, timeout=120)
                except Exception as exc:
                    frames = traceback.extract_tb(exc.__traceback__)
                    if not any("/starlette/" in f.filename for f in frames):
                        return  # a request the client cannot send (a bad header value)
                    # the app raised: the server answered 500 and re-raised it
                    stats.record(
                        label,
                        500,
                        [reported(exc) or f"raised {exc!r:.200}"],
                        case.as_curl_command(headers=extra)[:600],
                    )
                    return
                problems = []
                try:
                    case.validate_response(
                        response,
                        checks=[
                            not_a_server_error,
                            status_code_conformance,
                            content_type_conformance,
                            response_schema_conformance,
                        ],
                        headers=extra,
                    )
                except (Exception, BaseExceptionGroup) as exc:  # schemathesis's failures
                    problems.append(f"check: {type(exc).__name__}: {str(exc)[:200]}")
                sent = f"{response.request.url} {response.request.headers} " + (
                    (response.request.body or b"").decode("utf-8", "replace")
                    if isinstance(response.request.body, bytes)
                    else str(response.request.body or "")
                )
                from urllib.parse import unquote

                sent = sent + " " + unquote(sent)
                problems += [
                    f"leak {m!r}"
                    for m in leaks(response.content.decode("utf-8", "replace"), sent)
                ]
                stats.record(
                    label,
                    response.status_code,
                    problems,
                    case.as_curl_command(headers=extra)[:600],
                )
                if on_case is not None:
                    on_case(stats)

            # Unsatisfiable: no negative case exists (an operation without parameters);
            # schemathesis's own strategies draw from `random` (a deprecation warning)
            with (
                contextlib.suppress(hypothesis.errors.Unsatisfiable),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter(
                    "ignore", hypothesis.errors.HypothesisDeprecationWarning
                )
                one()
    stats.seconds = time.monotonic() - started
    asgi.shutdown_lifespans()
    return stats
