"""The helpers the tests and the bench share: a free port, a fresh database, a live
server process."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import psycopg
import pytest

from tests.support.database import fresh_database
from tests.support.live_server import LiveServer, ServerFailed, http_status
from tests.support.ports import free_port


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()


def _exists(admin: str, name: str) -> bool:
    with psycopg.connect(admin) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return row is not None


def test_fresh_database_is_created_with_postgis_and_dropped(admin_db_url: str) -> None:
    with fresh_database(admin_db_url, "onemap_support") as url:
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        assert isinstance(name, str) and name.startswith("onemap_support_")
        assert _exists(admin_db_url, name)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT postgis_lib_version()").fetchone()
    assert not _exists(admin_db_url, name)


def test_fresh_database_is_dropped_after_an_error(admin_db_url: str) -> None:
    with (
        pytest.raises(ZeroDivisionError),
        fresh_database(admin_db_url, "onemap_support", postgis=False) as url,
    ):
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        _ = 1 / 0
    assert not _exists(admin_db_url, str(name))


def test_live_server_answers_then_stops(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    server = LiveServer(command, tmp_path / "serve.log", cwd=tmp_path)
    server.start()
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/", 20)
        assert server.alive()
        assert http_status(f"http://127.0.0.1:{port}/missing") == 404
    finally:
        server.stop(grace=5)
    assert not server.alive()
    assert http_status(f"http://127.0.0.1:{port}/", timeout=1) == 0


def test_live_server_that_exits_fails_with_its_output(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('no luck'); raise SystemExit(3)"]
    server = LiveServer(command, tmp_path / "serve.log")
    server.start()
    with pytest.raises(ServerFailed, match="no luck"):
        server.wait_ready(f"http://127.0.0.1:{free_port()}/", 20)
