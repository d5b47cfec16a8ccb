"""The local PostgreSQL cluster 15/main (Debian's pg_lsclusters / pg_ctlcluster) and
the bench's databases in it, set up as the postgres superuser (peer authentication)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from lib import measure
from tests.support.ports import LOOPBACK


def sh(cmd: list[str], **kw: Any) -> str:
    """Run a command, return its stdout."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)
    return str(out.stdout)


def _row() -> list[str] | None:
    """pg_lsclusters' row of 15/main: version, name, port, status, owner, data dir."""
    lines = [ln.split() for ln in sh(["pg_lsclusters", "-h"]).splitlines()]
    return next((ln for ln in lines if ln[:2] == ["15", "main"]), None)


def start_cluster(log: Callable[[str], None]) -> tuple[int, str]:
    """(port, data directory) of 15/main, started (and PostGIS installed, the cluster
    created) if needed."""
    postgis = ["dpkg", "-s", "postgresql-15-postgis-3"]
    if subprocess.run(postgis, capture_output=True, check=False).returncode:
        log("apt-get install postgresql-15-postgis-3")
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq", "postgresql-15-postgis-3"])
    row = _row()
    if row is None:
        log("creating PostgreSQL cluster 15/main")
        sh(["pg_createcluster", "15", "main"])
        return start_cluster(log)
    if row[3] != "online":
        log("starting PostgreSQL 15/main")
        sh(["pg_ctlcluster", "15", "main", "start"])
    return int(row[2]), row[5]


def online_cluster() -> tuple[int, int]:
    """(port, postmaster pid) of 15/main, which must be online."""
    row = _row()
    if row is None or row[3] != "online":
        raise RuntimeError(
            "PostgreSQL 15/main is not running (pg_ctlcluster 15 main start)"
        )
    return int(row[2]), measure.postmaster_pid(row[5])


def psql_admin(port: int, sql: str, db: str = "postgres") -> str:
    """Run SQL as the postgres superuser (peer authentication)."""
    cmd = ["runuser", "-u", "postgres", "--", "psql", "-p", str(port), "-d", db]
    return sh([*cmd, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql])


def prepare_database(
    port: int,
    name: str,
    password: str,
    *,
    recreate: bool,
    log: Callable[[str], None],
) -> str:
    """A role ``name`` (login, ``password``) owning a database ``name`` with PostGIS,
    no parallel query and no JIT (the same for every server measured); ``recreate``
    drops it first, else it is created only when missing. Returns its DSN."""
    psql_admin(
        port,
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') "
        f"THEN CREATE ROLE {name} LOGIN PASSWORD '{password}'; END IF; END$$;",
    )
    if recreate:
        psql_admin(port, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    exists = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"  # noqa: S608
    if recreate or not psql_admin(port, exists):
        if not recreate:
            log(f"creating database {name}")
        psql_admin(port, f"CREATE DATABASE {name} OWNER {name}")
    psql_admin(port, "CREATE EXTENSION IF NOT EXISTS postgis", db=name)
    # no parallel query (baseline finding 7), no JIT
    psql_admin(port, f"ALTER DATABASE {name} SET max_parallel_workers_per_gather = 0")
    psql_admin(port, f"ALTER DATABASE {name} SET jit = off")
    return f"postgresql://{name}:{password}@{LOOPBACK}:{port}/{name}"
