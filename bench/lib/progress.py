"""Progress lines of a bench script: ``[<prefix> HH:MM:SS] message``, flushed."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def logger(prefix: str = "", stream: TextIO | None = None) -> Callable[[str], None]:
    """A log function writing to ``stream`` (stderr unless given)."""
    head = f"{prefix} " if prefix else ""

    def log(message: str) -> None:
        print(
            f"[{head}{time.strftime('%H:%M:%S')}] {message}",
            file=stream or sys.stderr,
            flush=True,
        )

    return log
