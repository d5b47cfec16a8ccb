"""`onemap seed`: pre-fill MapProxy's tile cache for a collection, zooms and area.

MapProxy's sources are this server's own tile endpoints, so seeding runs the app on a
private local port for its duration and drives mapproxy's seeder through its API.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import uvicorn
import yaml

from config.settings import Settings
from providers.catalog import build_catalog
from server.security.grants import public_scope
from server.tiling.legacy import proxied_layers
from tiles.mapproxy import (
    GRIDS_OF_TMS,
    ProxiedLayer,
    layer_name,
    mapproxy_config,
    write_config,
)


class SeedError(Exception):
    """The seed request cannot be run (message says why)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _private_server(settings: Settings) -> Iterator[str]:
    """This server on a free loopback port, in a thread, while the block runs."""
    from server.app import create_app

    port = _free_port()
    local = settings.model_copy(
        update={
            "server": settings.server.model_copy(
                update={"host": "127.0.0.1", "port": port}
            )
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(local), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SeedError("the local tile server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def seed(
    settings: Settings,
    collection: str,
    tms_id: str,
    zooms: tuple[int, int],
    bbox: tuple[float, float, float, float] | None,
    out: TextIO,
    concurrency: int = 2,
) -> int:
    """Seed the cache; returns the number of caches (images) seeded."""
    from mapproxy.config.loader import load_configuration
    from mapproxy.seed.config import load_seed_tasks_conf
    from mapproxy.seed.seeder import seed as run_seed
    from mapproxy.seed.util import ProgressLog

    grid = GRIDS_OF_TMS.get(tms_id)
    if grid is None:
        raise SeedError(f"--tms must be one of {', '.join(GRIDS_OF_TMS)}")
    lang = settings.server.default_language

    async def public_layers() -> list[ProxiedLayer]:
        catalog = await build_catalog(settings)
        await catalog.close()
        return proxied_layers(catalog, public_scope(catalog), lang)

    found = {p.id: p for p in asyncio.run(public_layers())}
    if collection not in found:
        names = ", ".join(found) or "none"
        raise SeedError(f"no public collection '{collection}' (there are: {names})")
    layer = found[collection]
    caches = [f"{layer_name(layer, image)}__{grid}" for image in layer.images]
    with _private_server(settings) as url, tempfile.TemporaryDirectory() as tmp:
        cache_dir = settings.data_dir / "cache" / "mapproxy"
        config = mapproxy_config([layer], url, cache_dir, "seed")
        conf_path = write_config(config, Path(tmp) / "mapproxy.yaml")
        seeds = {
            "seeds": {
                "onemap": {
                    "caches": caches,
                    "grids": [grid],
                    "levels": {"from": zooms[0], "to": zooms[1]},
                    "coverages": ["area"],
                }
            },
            "coverages": {"area": {"bbox": list(bbox or layer.bbox), "srs": "EPSG:4326"}},
        }
        seed_path = Path(tmp) / "seed.yaml"
        seed_path.write_text(yaml.safe_dump(seeds), "utf-8")
        mapproxy_conf = load_configuration(str(conf_path), seed=True)
        with mapproxy_conf:
            tasks = load_seed_tasks_conf(str(seed_path), mapproxy_conf).seeds(["onemap"])
            run_seed(tasks, concurrency=concurrency, progress_logger=ProgressLog(out=out))
    return len(caches)
