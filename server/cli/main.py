"""The ``onemap`` command: serve, demo, import, config check."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from config import ConfigError, Settings, load_settings

app = typer.Typer(
    help="OneMap Server: the natural-resources one-map OGC API server.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
keys_app = typer.Typer(help="API keys for systems.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML configuration (default: the embedded demo)"
    ),
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (ONEMAP_DATA_DIR)")
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="PostgreSQL/PostGIS URL (ONEMAP_DATABASE__URL); with no --config, the demo "
        "collections are read from it",
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _settings(
    config: Path | None, data_dir: Path | None = None, database: str | None = None
) -> Settings:
    if database is not None:
        os.environ["ONEMAP_DATABASE__URL"] = database
    if data_dir is not None:
        os.environ["ONEMAP_DATA_DIR"] = str(data_dir.resolve())
    if config is not None:
        os.environ["ONEMAP_CONFIG_FILE"] = str(config.resolve())
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise _fail(f"configuration error in {exc}") from None


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
) -> None:
    """Run the server (with no --config: the embedded demo on GeoPackage) and the
    job workers of processes.workers."""
    from server.app import ensure_demo_data
    from server.cli.job_workers import JobWorkers
    from server.security.api_keys import ensure_admin_key

    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"ONEMAP_SERVER__{name}"] = str(value)
    settings = _settings(config, data_dir, database)
    if settings.generate_demo:
        started = time.monotonic()
        typer.echo(f"Preparing demo data in {settings.data_dir} ...")
        ensure_demo_data(settings)
        typer.echo(f"Demo data ready ({time.monotonic() - started:.1f} s).")
    server = settings.server
    url = f"http://{server.host}:{server.port}/"
    job_workers = JobWorkers(settings.processes.workers)
    typer.secho(f"OneMap Server: {url}", fg=typer.colors.GREEN, bold=True)
    admin = ensure_admin_key(settings.data_dir)
    if admin is not None:
        typer.echo(
            f"Admin key (edits and process execution; shown once, kept in "
            f"{settings.data_dir / 'admin.key'}): {admin}"
        )
    # uvicorn shuts down on SIGTERM, then raises it again with the handler found at
    # start: the default one would end the process before the workers are stopped
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        _run_uvicorn(settings)
    finally:
        job_workers.stop()


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn

    from server.app import create_app
    from server.http.logs import logging_config

    server = settings.server
    # uvicorn applies it in every worker process; server/request_context.py writes
    # the access log (uvicorn's own would be a second line without the request id)
    log_config = logging_config(server.log_format)
    if server.workers > 1:
        uvicorn.run(
            "server.app:create_app",
            factory=True,
            host=server.host,
            port=server.port,
            workers=server.workers,
            access_log=False,
            log_config=log_config,
        )
    else:
        uvicorn.run(
            create_app(settings),
            host=server.host,
            port=server.port,
            access_log=False,
            log_config=log_config,
        )


@app.command()
def worker(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
) -> None:
    """Run jobs of OGC API - Processes (any number, on any machine sharing the queue)."""
    from processes.worker import run_worker
    from server.cli.job_workers import die_with_parent
    from server.http.logs import configure_logging

    die_with_parent()
    settings = _settings(config, data_dir, database)
    configure_logging(settings.server.log_format)  # the server's format (JSON)
    run_worker(settings)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for")],
    role: Annotated[list[str], typer.Option("--role", help="A role (repeatable)")],
    days: Annotated[int | None, typer.Option(help="Expires after this many days")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key; it is printed once and only its hash is kept."""
    from server.security.api_keys import ApiKeys

    settings = _settings(config, data_dir)
    unknown = [r for r in role if r != "admin" and r not in settings.security.roles]
    if unknown:
        raise _fail(f"unknown roles {unknown}: define them under security.roles")
    secret, key = ApiKeys(settings.data_dir).create(name, role, days)
    typer.echo(f"key {key.id} for {name} (roles {', '.join(key.roles)}"
               f"{', expires ' + key.expires if key.expires else ''}):")  # fmt: skip
    typer.echo(secret)


@keys_app.command("list")
def keys_list(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """The keys (never the secrets)."""
    from server.security.api_keys import ApiKeys

    for key in ApiKeys(_settings(config, data_dir).data_dir).all():
        state = "revoked" if key.revoked else f"expires {key.expires or 'never'}"
        typer.echo(f"{key.id}  {key.name}  roles={','.join(key.roles)}  {state}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (onemap keys list)")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key at once."""
    from server.security.api_keys import ApiKeys

    if not ApiKeys(_settings(config, data_dir).data_dir).revoke(key_id):
        raise _fail(f"no active key {key_id}")
    typer.echo(f"revoked {key_id}")


def _audit_log(config: Path | None, data_dir: Path | None) -> Any:
    from server.security.audit import AuditLog

    log = AuditLog(_settings(config, data_dir))
    log.create()
    return log


@audit_app.command("list")
def audit_list(
    since: Annotated[str | None, typer.Option(help="From this time (ISO 8601)")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this caller")] = None,
    action: Annotated[
        str | None, typer.Option(help="Actions starting so (feature., auth.failed, …)")
    ] = None,
    collection: Annotated[str | None, typer.Option(help="Only this collection")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows")] = 100,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Query the audit trail (oldest first), one line per row."""
    for row in _audit_log(config, data_dir).rows(since, actor, action, collection, limit):
        typer.echo(
            f"{row['id']}  {row['at']}  {row['actor']}  {row['action']}  "
            f"{row['outcome']}  {row['method']} {row['endpoint']}  "
            f"{row['collection']}  {row['feature_ids']}  {row['job']}  {row['client']}"
        )


@audit_app.command("export")
def audit_export(
    output: Annotated[Path, typer.Option(help="File to write (.csv or .jsonl)")],
    since: Annotated[str | None, typer.Option(help="From this time (ISO 8601)")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Export the audit trail with its chain hashes (CSV or JSON lines)."""
    import csv

    import orjson

    from providers.audit import COLUMNS

    rows = _audit_log(config, data_dir).rows(since=since)
    count = 0
    with output.open("w", newline="", encoding="utf-8") as out:
        if output.suffix == ".csv":
            writer = csv.DictWriter(out, ["id", *COLUMNS, "prev", "hash"])
            writer.writeheader()
            for count, row in enumerate(rows, 1):  # noqa: B007
                writer.writerow(row)
        else:
            for count, row in enumerate(rows, 1):  # noqa: B007
                out.write(orjson.dumps(row).decode() + "\n")
    typer.echo(f"exported {count} rows to {output}")


@audit_app.command("verify")
def audit_verify(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Walk the SM3 chain: exit 1 at the first edited, inserted or deleted row."""
    result = _audit_log(config, data_dir).verify()
    if not result.ok:
        typer.echo(
            f"audit chain BROKEN at row {result.broken_at} ({result.reason}); "
            f"{result.rows} rows before it hold",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(
        f"audit chain intact: {result.rows} rows ({result.first_id}–{result.last_id})"
    )


@app.command()
def demo(
    data_dir: DataDirOption = None,
    force: Annotated[bool, typer.Option(help="Regenerate even if present")] = False,
    database: Annotated[
        str | None,
        typer.Option(
            "--database", help="Also load the layers into this PostGIS database"
        ),
    ] = None,
) -> None:
    """Generate the demo data (GeoPackage layers and a before/after COG pair)."""
    from providers.demo import generate_demo
    from server.cli.importer import ImportError_, import_to_postgis

    settings = _settings(None, data_dir)
    started = time.monotonic()
    files = generate_demo(settings.data_dir, force=force)
    typer.echo(f"Demo data in {files.gpkg.parent} ({time.monotonic() - started:.1f} s):")
    for path in (files.gpkg, files.before, files.after, files.truth):
        typer.echo(f"  {path}")
    if database is None:
        return
    for conf in settings.collections.values():
        layer = getattr(conf.source, "layer", None)
        if layer is None:  # imagery stays in files
            continue
        title = conf.title if isinstance(conf.title, str) else conf.title.get("zh-CN")
        try:
            result = import_to_postgis(
                files.gpkg,
                database,
                f"public.{layer}",
                layer=layer,
                title=title,
                overwrite=True,
            )
        except ImportError_ as exc:
            raise _fail(f"loading {layer} failed: {exc}") from None
        typer.echo(f"  {result.count} features -> PostGIS table {result.target}")


@app.command()
def seed(
    collection: Annotated[str, typer.Argument(help="Imagery collection id")],
    zoom: Annotated[str, typer.Option(help="Zoom levels: A-B or A")],
    tms: Annotated[
        str, typer.Option(help="WebMercatorQuad or CGCS2000Quad")
    ] = "WebMercatorQuad",
    bbox: Annotated[
        str | None, typer.Option(help="west,south,east,north (CRS84); default: all")
    ] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=32)] = 2,
) -> None:
    """Pre-fill the WMTS/WMS/TMS tile cache (MapProxy) of an imagery collection."""
    from server.cli.seeding import SeedError
    from server.cli.seeding import seed as run_seed

    settings = _settings(config, data_dir)
    try:
        low, _, high = zoom.partition("-")
        zooms = (int(low), int(high or low))
        box = [float(v) for v in bbox.split(",")] if bbox else None
    except ValueError:
        raise _fail("--zoom is A-B or A (whole numbers), --bbox four numbers") from None
    if zooms[0] > zooms[1] or (box is not None and len(box) != 4):
        raise _fail("--zoom is A-B with A <= B, --bbox four numbers")
    area = (box[0], box[1], box[2], box[3]) if box else None
    started = time.monotonic()
    try:
        count = run_seed(settings, collection, tms, zooms, area, sys.stdout, concurrency)
    except SeedError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"Seeded {count} cache(s) in {time.monotonic() - started:.1f} s.")


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (a terminal only), fed with (done, total)."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total if total >= 0 else None)

        yield update


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="Any OGR-readable file: GPKG, SHP, GeoJSON, GDB")
    ],
    collection: Annotated[str, typer.Option(help="Collection id to publish it as")],
    title: Annotated[str | None, typer.Option(help="Collection title")] = None,
    description: Annotated[str, typer.Option(help="Collection description")] = "",
    layer: Annotated[
        str | None, typer.Option(help="Layer to read (default: first)")
    ] = None,
    srs: Annotated[
        str | None, typer.Option(help="CRS when the file has none, EPSG:n")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding (e.g. GBK)")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing import")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database", help="Load into this PostGIS database (table public.ID)"
        ),
    ] = None,
) -> None:
    """Load a vector file into the embedded store or PostGIS; restart to publish it."""
    from server.cli.importer import ImportError_, import_file, import_to_postgis

    settings = _settings(config, data_dir)
    if collection in settings.collections:
        raise _fail(f"collection {collection!r} is already configured")
    try:
        if database is not None:
            with _progress(f"{file.name} -> public.{collection}") as on_progress:
                result = import_to_postgis(
                    file,
                    database,
                    f"public.{collection}",
                    title=title,
                    layer=layer,
                    srs=srs,
                    encoding=encoding,
                    overwrite=overwrite,
                    on_progress=on_progress,
                )
        else:
            directories = [d.directory for d in settings.discover if d.directory]
            if not directories:
                raise _fail(
                    "this configuration has no 'discover' directory to import into"
                )
            target = settings.resolve(directories[0])
            with _progress(f"{file.name} -> {target}") as on_progress:
                result = import_file(
                    file,
                    target,
                    collection,
                    title=title,
                    description=description,
                    layer=layer,
                    srs=srs,
                    encoding=encoding,
                    overwrite=overwrite,
                    on_progress=on_progress,
                )
    except ImportError_ as exc:
        raise _fail(f"import failed: {exc}") from None
    typer.echo(
        f"Imported {result.count} features into {result.target} as collection "
        f"{collection!r} (EPSG:{result.epsg}). Restart the server to publish it."
    )


@app.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="Write to this file")] = None,
    config: ConfigOption = None,
) -> None:
    """Print (or write) the OpenAPI 3.0 document served at /api."""
    from server.app import create_app
    from server.state import app_state

    document = app_state(create_app(_settings(config))).openapi_bytes()
    if output is None:
        sys.stdout.buffer.write(document + b"\n")
    else:
        output.write_bytes(document + b"\n")
        typer.echo(f"wrote {output}")


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="YAML configuration")],
) -> None:
    """Validate a configuration: syntax, schema, then every source opens."""
    import sqlite3

    from psycopg_pool import PoolTimeout

    from providers.base import UNRESTRICTED
    from providers.catalog import Collection, build_catalog
    from providers.errors import ConfigMismatch

    settings = _settings(file)

    async def check() -> list[Collection]:
        catalog = await build_catalog(settings)
        await catalog.close()
        return catalog.visible(UNRESTRICTED)

    try:
        collections = asyncio.run(check())
    except (ConfigMismatch, sqlite3.Error, OSError, PoolTimeout) as exc:
        raise _fail(f"{file}: {exc}") from None
    typer.echo(f"{file}: OK, {len(collections)} collections")
    for c in collections:
        typer.echo(f"  {c.id}: {c.info.feature_count} features, {c.info.storage_crs.uri}")


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":
    main()
