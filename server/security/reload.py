"""Reload the security configuration (roles, editions, identity provider) without a
restart: SIGHUP to `onemap serve`, or `reload_security(app)`.

The new configuration is validated and its grants resolved against the running catalog
first; if anything is wrong the old grants stay and the error is logged. Other sections
(collections, database, tiles) need a restart.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress

from anyio import to_thread
from fastapi import FastAPI

from config.loader import ConfigError, load_settings
from server.security.auth import Authenticator
from server.security.grants import GrantError, build_grants
from server.state import app_state

log = logging.getLogger("onemap.reload")


async def reload_security(app: FastAPI) -> bool:
    """Swap in the security section of the configuration file; False if refused."""
    state = app_state(app)
    try:
        fresh = await to_thread.run_sync(load_settings)
        settings = state.settings.model_copy(update={"security": fresh.security})
        grants = await build_grants(settings, state.catalog)
        authenticator = await to_thread.run_sync(Authenticator, settings)
    except (ConfigError, GrantError, ValueError, OSError) as exc:
        log.error("security configuration not reloaded: %s", exc)
        return False
    state.settings = settings
    state.authenticator = authenticator
    state.anonymous_scope = grants.scope(frozenset())
    state.grants = grants
    log.info("security configuration reloaded: %d roles", len(settings.security.roles))
    return True


def reload_on_sighup(app: FastAPI) -> None:
    """Reload on SIGHUP (only where the event loop may own signals: the main thread)."""
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[bool]] = set()  # referenced until done

    def schedule() -> None:
        task = loop.create_task(reload_security(app))
        running.add(task)
        task.add_done_callback(running.discard)

    with suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, schedule)
