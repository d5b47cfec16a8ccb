"""A live server (the real `onemap serve` command) for external clients."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _source(provider: str, store: Path, layer: str) -> str:
    if provider == "postgis":
        return f"{{type: postgis, table: public.{layer}}}"
    return f"{{path: {store.name}, layer: {layer}}}"


@pytest.fixture(scope="session")
def live_url(
    provider: str,
    store: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[str]:
    """The real `onemap serve` on a free port, over the provider under test."""
    database = request.getfixturevalue("pg_store") if provider == "postgis" else None
    cfg = tmp_path_factory.mktemp("live") / "onemap.yaml"
    cfg.write_text(
        f"data_dir: {store.parent}\n"
        + (f"database: {{url: '{database}'}}\n" if database else "")
        + "collections:\n"
        "  parcels:\n"
        "    title: {zh-CN: 地块, en: Parcels}\n"
        f"    source: {_source(provider, store, 'parcels')}\n"
        "    temporal: {start: GXSJ}\n"
        "  wells:\n"
        "    title: Wells\n"
        f"    source: {_source(provider, store, 'wells')}\n"
        "  editable:\n"
        "    title: Editable parcels\n"
        "    editable: true\n"
        f"    source: {_source(provider, store, 'editable')}\n"
        "  imagery:\n"
        "    title: Imagery\n"
        "    source: {type: cog, before: imagery/before.tif, after: imagery/after.tif,"
        " bands: [3, 2, 1], rescale: [[0, 3000]]}\n",
        encoding="utf-8",
    )
    port = _free_port()
    log = cfg.with_suffix(".log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--config",
            str(cfg),
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(url + "/conformance", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    log.close()
                    output = cfg.with_suffix(".log").read_text()
                    raise RuntimeError(f"server exited: {output}") from None
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not start in 20 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
