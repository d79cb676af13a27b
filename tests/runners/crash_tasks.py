"""Tasks that kill their own worker once, for the batched-crash tests (importable by workers)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from legato import task


@task
def kill_worker_once(i: int, victim: int, folder: str) -> int:
    """Element ``victim`` SIGKILLs its worker the first time it runs; every run leaves a marker file."""
    marker = Path(folder) / f"{i}.{os.getpid()}.{os.urandom(4).hex()}"
    marker.touch()
    if i == victim and not (Path(folder) / "killed").exists():
        (Path(folder) / "killed").touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return i


def executions(folder: str | Path) -> dict[int, int]:
    """How many times each element ran, from the markers."""
    counts: dict[int, int] = {}
    for path in Path(folder).iterdir():
        if path.name != "killed":
            index = int(path.name.split(".")[0])
            counts[index] = counts.get(index, 0) + 1
    return counts
