"""A start-up that fails because the configuration does not fit the data says so in
one line (the collection, what does not fit, the fix), never with a traceback."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.state import state_or_none


class StartupErrors:
    """Outermost: the lifespan's failure message becomes the one line the start-up
    left in the state (``startup_failure``), when it left one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through; rewrite only the start-up failure."""
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_the_line(message: Message) -> None:
            state = state_or_none(scope["app"])
            line = state.startup_failure if state is not None else None
            if message["type"] == "lifespan.startup.failed" and line:
                message = {**message, "message": line}
            await send(message)

        await self.app(scope, receive, send_the_line)
