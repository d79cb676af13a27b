"""Stand-in flows with exactly the API ``legato run`` relies on, and no engine.

A :class:`FakeFlow` has ``fn``, ``name``, ``with_options(task_runner=...,
run_key=...)`` and is called with keyword parameters; it records its run to
history like the engine does, and reports on stderr (one JSON line starting
with ``FAKE``) the options the CLI gave it. This lets the CLI tests check the
CLI's side of the contract whatever state the real engine is in.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from legato.history import HistoryRecorder

RUNNERS = ("sync", "threads", "processes", "dask", "ray")


class FakeFlow:
    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        task_runner: str | None = None,
        run_key: str | None = None,
        accepts_run_key: bool = True,
    ) -> None:
        self.fn = fn
        self.name = fn.__name__.replace("_", "-")
        self.task_runner = task_runner
        self.run_key = run_key
        self.accepts_run_key = accepts_run_key

    def with_options(self, *, task_runner: str | None = None, **options: Any) -> FakeFlow:
        if "run_key" in options and not self.accepts_run_key:
            raise TypeError("with_options() got an unexpected keyword argument 'run_key'")
        if task_runner is not None and task_runner not in RUNNERS:
            raise ValueError(f"unknown task runner {task_runner!r}")
        return FakeFlow(
            self.fn,
            task_runner=task_runner or self.task_runner,
            run_key=options.get("run_key", self.run_key),
            accepts_run_key=self.accepts_run_key,
        )

    def __call__(self, **parameters: Any) -> Any:
        run_id = uuid.uuid4().hex
        runner = self.task_runner or "threads"
        print("FAKE " + json.dumps({"run_id": run_id, "runner": runner, "run_key": self.run_key}), file=sys.stderr)
        with HistoryRecorder() as recorder:
            recorder.flow_run_started(
                id=run_id, name=f"fake-{run_id[:4]}", flow_name=self.name, parameters=parameters,
                run_key=self.run_key, runner=runner, tags=[], started_at=time.time(),
            )  # fmt: skip
            try:
                result = self.fn(**parameters)
            except Exception:
                recorder.flow_run_finished(
                    id=run_id, state_type="FAILED", state_name="Failed", ended_at=time.time(),
                    error=traceback.format_exc(),
                )  # fmt: skip
                raise
            recorder.flow_run_finished(
                id=run_id, state_type="COMPLETED", state_name="Completed", ended_at=time.time(), error=None
            )
            return result


@FakeFlow
def add(a: int, b: int = 1) -> int:
    return a + b


@FakeFlow
def echo(value: Any) -> tuple[str, Any]:
    return type(value).__name__, value


@FakeFlow
def explode(message: str = "boom") -> None:
    raise ValueError(message)


@FakeFlow
def fail_once(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError("first attempt fails")
    return "recovered"


@FakeFlow
def quiet() -> None:
    return None


def _old(x: int = 0) -> int:
    return x


old_style = FakeFlow(_old, accepts_run_key=False)
not_a_flow = 42
