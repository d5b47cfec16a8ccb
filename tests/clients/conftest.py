"""A live server (the real `onemap serve` command) for external clients."""

from __future__ import annotations

import os
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
    yield from serve_live(["--config", str(cfg)], cfg.with_suffix(".log"))


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`onemap serve` on the embedded default: the demo generated into a fresh dir."""
    data = tmp_path_factory.mktemp("demo")
    yield from serve_live(["--data-dir", str(data)], data / "serve.log", seconds=120)


def serve_live(args: list[str], log_path: Path, seconds: float = 20) -> Iterator[str]:
    """Run `onemap serve` on a free port until the test session ends."""
    port = _free_port()
    log = log_path.open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", *args, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with urllib.request.urlopen(url + "/conformance", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    log.close()
                    raise RuntimeError(f"server exited: {log_path.read_text()}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start in {seconds} s") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
