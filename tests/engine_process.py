"""A process for testing the job engine itself: it runs for as long as it is told,
reporting progress and touching a file on every step, so tests can see whether (and
when) the compute really stops. Registered only inside the test session."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from processes.base import JobContext, Output, Process


class Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(1.0, ge=0, le=120)
    marker: str | None = None  # a file the process appends a line to every 0.1 s


def run(inputs: Inputs, ctx: JobContext) -> dict[str, Any]:
    steps = int(inputs.seconds / 0.1)
    for i in range(steps):
        if inputs.marker:
            with Path(inputs.marker).open("a") as f:
                f.write(f"{os.getpid()} {time.time():.3f} {i}\n")
        ctx.progress(int(100 * i / max(steps, 1)), f"step {i}")
        time.sleep(0.1)
    return {"steps": steps}


PROCESS = Process(
    id="engine-test-sleep",
    version="0.0.1",
    title={"zh-CN": "引擎测试", "en": "Engine test"},
    description={"zh-CN": "测试用", "en": "For tests"},
    inputs=Inputs,
    outputs={
        "steps": Output(
            title={"zh-CN": "步数", "en": "Steps"},
            description={"zh-CN": "步数", "en": "Steps"},
            schema={"type": "integer"},
        )
    },
    run=run,
)
