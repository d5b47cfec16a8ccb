"""The servers under test: their venvs, configurations, start and stop.

OneMap runs from the project's own venv (twice: ``onemap`` without and
``onemap-cached`` with its in-process tile cache); each peer gets a venv of its own under
bench/.venvs/ (created once, reused while its package list is unchanged). Every server
runs 2 worker processes without an access log, on a loopback port, against the same
database and COG; generated configurations and logs go to bench/.work/. The in-process
rio-tiler ceiling of W5 (``rio-tiler``, bench/limit_riotiler.py) is a ``Limit``.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from lib import ROOT
from lib.progress import logger

from tests.support.live_server import LiveServer, ServerExited, ServerTimedOut

BENCH = Path(__file__).resolve().parent
VENVS = BENCH / ".venvs"
WORK = BENCH / ".work"
CRS4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"

# venv name -> (Python versions in order of preference, pip requirements)
VENV_SPECS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tipg": (("3.13", "3.12"), ("tipg", "uvicorn[standard]")),
    "titiler": (("3.13", "3.12"), ("titiler.application", "uvicorn[standard]")),
    "pygeoapi": (
        ("3.12", "3.13"),
        (
            "pygeoapi>=0.24",
            "sqlalchemy",
            "geoalchemy2",
            "psycopg2-binary",
            "pygeofilter",
            "starlette",
            "uvicorn[standard]",
        ),
    ),
}

# titiler's documented GDAL settings for COGs; every raster reader gets the same
GDAL_ENV = {
    "GDAL_CACHEMAX": "200",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": "5000000",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff",
}
# the ASGI stack under every server (its versions are recorded per server)
ASGI = ("starlette", "uvicorn", "uvloop", "httptools")
FEATURES = ("W1", "W2", "W3", "W4")
W5 = ("W5png", "W5jpg")
# the workloads each server (or limit) takes part in
SERVES: dict[str, tuple[str, ...]] = {
    "onemap": (*FEATURES, *W5, "W6"),
    "onemap-cached": (*W5, "W6"),
    "tipg": (*FEATURES, "W6"),
    "pygeoapi": FEATURES,
    "titiler": W5,
    "rio-tiler": W5,
}


log = logger()  # progress on stderr


def fetch(url: str, timeout: float = 60) -> tuple[int, str, bytes]:
    """GET (a new connection each time): status, content type, body."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def find_python(version: str) -> tuple[str, dict[str, str]] | None:
    """An interpreter of the given minor version (PATH, then pyenv), with its env."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates: list[tuple[str, dict[str, str]]] = []
    for path in sorted(glob.glob(str(pyenv_root / "versions" / f"{version}*"))):
        env = {"PYENV_VERSION": Path(path).name}
        candidates.append((str(Path(path) / "bin" / "python3"), env))
    candidates.append((f"python{version}", {}))
    for exe, extra in candidates:
        try:
            out = subprocess.run(
                [exe, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                env={**os.environ, **extra},
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return exe, extra
    return None


def ensure_venv(name: str) -> Path:
    """bench/.venvs/<name> with its requirements; created or updated when needed."""
    versions, requirements = VENV_SPECS[name]
    venv = VENVS / name
    stamp = venv / ".bench-requirements"
    wanted = "\n".join(requirements)
    ready = (venv / "bin" / "python").exists() and stamp.exists()
    if ready and stamp.read_text() == wanted:
        return venv
    if not (venv / "bin" / "python").exists():
        found = next((p for v in versions if (p := find_python(v))), None)
        if found is None:
            wanted_py = " or ".join(versions)
            raise SystemExit(f"{name} needs Python {wanted_py} (pyenv install it)")
        exe, extra = found
        log(f"creating venv {venv} with {exe}")
        subprocess.run(
            [exe, "-m", "venv", str(venv)], env={**os.environ, **extra}, check=True
        )
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-qq"]
    log(f"installing into {venv}: {' '.join(requirements)}")
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--upgrade", *requirements], check=True)
    stamp.write_text(wanted)
    return venv


def package_versions(python: str, names: list[str]) -> dict[str, str]:
    """Installed versions of distributions in the venv of ``python``."""
    code = (
        "import json, sys, importlib.metadata as m\n"
        "out = {'python': sys.version.split()[0]}\n"
        f"for n in {names!r}:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = '-'\n"
        "try:\n"
        "    import rasterio\n"
        "    out['GDAL (rasterio)'] = rasterio.__gdal_version__\n"
        "    out['PROJ (rasterio)'] = rasterio.__proj_version__\n"
        "except ImportError: pass\n"
        "print(json.dumps(out))"
    )
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, str] = json.loads(out)
    return result


@dataclass
class Server:
    """One server under test: how to start it and how to address its collection."""

    name: str
    port: int
    collection: str
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    python: str
    packages: list[str]
    workloads: tuple[str, ...] = FEATURES
    flavor: str = ""  # onemap, tipg, pygeoapi, titiler: how request paths are written
    ready_path: str = ""  # polled until 200 (default: one item of the collection)
    cached: bool = False  # tiles are primed into its cache before they are measured
    # extra query parameters for feature requests (pygeoapi: native CRS output)
    extra: dict[str, str] = field(default_factory=dict)
    bbox_extra: dict[str, str] = field(default_factory=dict)
    live: LiveServer | None = None

    @property
    def base(self) -> str:
        """http://127.0.0.1:<port>."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return WORK / f"{self.name}.log"

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.live.proc if self.live is not None else None

    def start(self) -> None:
        """Start the server in its own process group; output goes to a log file."""
        self.cwd.mkdir(parents=True, exist_ok=True)
        log(f"starting {self.name} on port {self.port}")
        env = {**os.environ, **self.env}
        self.live = LiveServer(
            self.cmd,
            self.log_path,
            env=env,
            cwd=self.cwd,
            new_session=True,
            signal_group=True,
        )
        self.live.start()

    def wait_ready(self, timeout: float = 90) -> None:
        """Poll a small request (one item) until it answers 200."""
        assert self.live is not None
        path = self.ready_path or f"/collections/{self.collection}/items?limit=1"
        url = self.base + path
        try:
            self.live.wait_ready(url, timeout, poll=0.5, request_timeout=5)
        except ServerExited:
            code = self.proc.returncode if self.proc else None
            raise SystemExit(
                f"{self.name} exited ({code}); see {self.log_path}"
            ) from None
        except ServerTimedOut:
            raise SystemExit(
                f"{self.name} not ready after {timeout:.0f} s: {url}"
            ) from None

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after 15 s."""
        if self.live is None or not self.live.alive():
            return
        log(f"stopping {self.name}")
        self.live.stop(grace=15, kill_wait=5)


def onemap(name: str, port: int, dsn: str, cog: Path | None, cache_mb: int) -> Server:
    """OneMap from the project venv: a generated YAML with the PostGIS table ``dltb``
    and, given a COG, the imagery collection ``cog`` (bands 3,2,1, rescale 0-4000,
    nearest resampling: titiler's defaults). Vector tiles keep every feature (no
    small-feature dropping), like tipg's. ``cache_mb`` 0 is the cold server; > 0 the
    in-process tile cache per worker.
    """
    cwd = WORK / name
    cwd.mkdir(parents=True, exist_ok=True)
    collections: dict[str, object] = {
        "dltb": {
            "title": {"zh-CN": "地类图斑", "en": "Land-use parcels"},
            "source": {"type": "postgis", "table": "public.dltb"},
        }
    }
    if cog is not None:
        collections["cog"] = {
            "title": {"zh-CN": "影像", "en": "Imagery"},
            "source": {
                "type": "cog",
                "href": str(cog),
                "bands": [3, 2, 1],
                "rescale": [[0, 4000]],
                "resampling": "nearest",
            },
        }
    config = {
        "data_dir": str(cwd / "data"),
        "generate_demo": False,
        "server": {"host": "127.0.0.1", "port": port, "workers": 2, "max_limit": 10000},
        "database": {"url": dsn},
        "collections": collections,
        "tiles": {"cache_mb": cache_mb, "mvt_min_feature_px": 0},
        "allowed_sources": [str(WORK)],
        # wrk is one caller at thousands of requests/s: the limiter runs (its cost is
        # measured) but never refuses
        "security": {"rate_limit": {"requests_per_s": 1e9, "burst": 1_000_000_000}},
    }
    path = cwd / "onemap.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    venv = ROOT / ".venv"
    return Server(
        name=name,
        port=port,
        collection="dltb",
        cmd=[
            str(venv / "bin" / "onemap"),
            "serve",
            "--config",
            str(path),
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=GDAL_ENV,
        cwd=cwd,
        python=str(venv / "bin" / "python"),
        packages=[
            "onemap-server",
            "fastapi",
            *ASGI,
            "psycopg",
            "psycopg-binary",
            "psycopg-pool",
            "orjson",
            "cql2",
            "pydantic",
            "rio-tiler",
            "rasterio",
            "numpy",
        ],
        workloads=SERVES[name],
        flavor="onemap",
        cached=cache_mb > 0,
    )


def _peer(
    name: str,
    port: int,
    app: str,
    collection: str,
    env: dict[str, str],
    packages: list[str],
    **extra: Any,
) -> Server:
    """A peer's ASGI app under uvicorn in its own venv: 2 workers, loopback, no access
    log, bench/.work/<name>/ as its working directory."""
    venv = ensure_venv(name)
    where = ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    quiet = ["--no-access-log", "--log-level", "warning"]
    cmd = [str(venv / "bin" / "uvicorn"), app, *where, *quiet]
    return Server(
        name=name,
        port=port,
        collection=collection,
        cmd=cmd,
        env=env,
        cwd=WORK / name,
        python=str(venv / "bin" / "python"),
        packages=packages,
        workloads=SERVES[name],
        flavor=name,
        **extra,
    )


def tipg(port: int, dsn: str) -> Server:
    """tipg (latest from PyPI) under uvicorn, configured by environment variables (it
    also reads a .env from its working directory)."""
    env = {
        "DATABASE_URL": dsn,
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.dltb"]',
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
    }
    packages = ["tipg", "fastapi", *ASGI, "asyncpg", "cql2", "geojson-pydantic"]
    packages += ["pydantic", "orjson"]
    return _peer("tipg", port, "tipg.main:app", "public.dltb", env, packages)


def titiler(port: int) -> Server:
    """titiler.application (latest) under uvicorn with titiler's GDAL settings; the
    COG is given per request (``url=``)."""
    env = {**GDAL_ENV, "PYTHONWARNINGS": "ignore"}
    packages = ["titiler.application", "titiler.core", "rio-tiler", "rasterio"]
    packages += ["morecantile", "fastapi", *ASGI, "numpy"]
    app = "titiler.application.main:app"
    return _peer("titiler", port, app, "", env, packages, ready_path="/healthz")


@dataclass
class Limit:
    """An in-process ceiling (no HTTP): bench/limit_riotiler.py, one process per core,
    in the project venv (the same rio-tiler, rasterio and GDAL as OneMap's)."""

    name: str = "rio-tiler"
    python: str = str(ROOT / ".venv" / "bin" / "python")
    script: Path = BENCH / "limit_riotiler.py"
    packages: list[str] = field(
        default_factory=lambda: ["rio-tiler", "rasterio", "morecantile", "numpy"]
    )
    workloads: tuple[str, ...] = SERVES["rio-tiler"]
    env: dict[str, str] = field(default_factory=lambda: dict(GDAL_ENV))

    def start(self) -> None:
        """Nothing runs between measurements."""

    def wait_ready(self) -> None:
        """Always ready."""

    def stop(self) -> None:
        """Nothing to stop."""


def _pygeoapi_config(port: int, db: dict[str, str | int]) -> dict[str, Any]:
    """bench/pygeoapi.yaml with the run's port and database."""
    config: dict[str, Any] = yaml.safe_load((BENCH / "pygeoapi.yaml").read_text())
    config["server"]["bind"]["port"] = port
    config["server"]["url"] = f"http://127.0.0.1:{port}"
    provider = config["resources"]["dltb"]["providers"][0]
    provider["data"] = {**db, **provider["data"]}
    return config


def pygeoapi(port: int, db: dict[str, str | int]) -> Server:
    """pygeoapi >= 0.24 (Python 3.12): its Starlette app under uvicorn.

    Requests add ``crs=EPSG:4490`` (output in the storage CRS): stock requests (CRS84
    output) build a pyproj Transformer per request, 0.6 s of CPU (baseline finding 2),
    which would measure only that. A bbox is passed with ``bbox-crs=EPSG:4490`` in the
    storage's x/y order, which pygeoapi uses as is (baseline finding 3).
    """
    venv = ensure_venv("pygeoapi")
    cwd = WORK / "pygeoapi"
    cwd.mkdir(parents=True, exist_ok=True)
    config = cwd / "pygeoapi.yaml"
    config.write_text(yaml.safe_dump(_pygeoapi_config(port, db), sort_keys=False))
    openapi = cwd / "openapi.yaml"
    env = {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run(
        [
            str(venv / "bin" / "pygeoapi"),
            "openapi",
            "generate",
            str(config),
            "--output-file",
            str(openapi),
        ],
        env={**os.environ, **env},
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    packages = ["pygeoapi", *ASGI, "sqlalchemy", "geoalchemy2", "psycopg2-binary"]
    packages += ["pygeofilter", "shapely", "pyproj"]
    app = "pygeoapi.starlette_app:APP"
    return _peer("pygeoapi", port, app, "dltb", env, packages,
                 extra={"crs": CRS4490, "f": "json"},
                 bbox_extra={"bbox-crs": CRS4490})  # fmt: skip
