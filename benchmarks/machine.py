"""Where the numbers come from: the machine, the versions, the environment."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

#: set for the whole run (children inherit it); history is measured on its own
ENVIRONMENT = {"LEGATO_PROGRESS": "0", "LEGATO_HISTORY": "0", "LEGATO_LOGGING_LEVEL": "WARNING"}
#: the repository, put on PYTHONPATH so every child and worker (processes,
#: Dask, Ray) imports ``benchmarks`` whatever its working directory
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def isolated_environment() -> Iterator[Path]:
    """:data:`ENVIRONMENT`, a temporary ``LEGATO_HOME`` and :data:`ROOT` on
    ``PYTHONPATH``; restored afterwards."""
    saved = {key: os.environ.get(key) for key in [*ENVIRONMENT, "LEGATO_HOME", "LEGATO_DATABASE",
                                                  "LEGATO_TASK_RUNNER", "PYTHONPATH"]}
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    with tempfile.TemporaryDirectory(prefix="legato-bench-home-") as home:
        os.environ.update(ENVIRONMENT, LEGATO_HOME=home, PYTHONPATH=path)
        os.environ.pop("LEGATO_DATABASE", None)
        os.environ.pop("LEGATO_TASK_RUNNER", None)
        try:
            yield Path(home)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def machine_info() -> dict[str, Any]:
    return {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "memory_bytes": _memory(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {name: _version(name) for name in ("legato", "dask", "distributed", "ray")},
        "git": _git(),
    }


def _memory() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return pages * size if pages > 0 and size > 0 else None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git() -> dict[str, Any] | None:
    """The commit measured, and whether the tree had changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return None
