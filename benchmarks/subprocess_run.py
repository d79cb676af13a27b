"""Running a measurement in a fresh interpreter and reading back its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def run_child(args: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> dict[str, Any]:
    """``python args...`` in a fresh process; its last stdout line is a JSON object."""
    completed = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                               env={**os.environ, **(env or {})})
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited with {completed.returncode}: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def print_result(result: dict[str, Any]) -> None:
    """The child's side of :func:`run_child`."""
    print(json.dumps(result), flush=True)
