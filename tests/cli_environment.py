"""The environment tests give a ``legato`` command run in a subprocess: its own LEGATO_HOME, this checkout on
the path, plain wide output, and none of the variables a test run may have set for itself."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_NOT_INHERITED = ("LEGATO_DATABASE", "LEGATO_HISTORY", "LEGATO_ENTRYPOINT", "LEGATO_CLI_PARAMETERS")


def cli_environment(home: Path, columns: int, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "LEGATO_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "COLUMNS": str(columns),
        "NO_COLOR": "1",
        "LEGATO_PROGRESS": "0",
    }
    for name in _NOT_INHERITED:
        env.pop(name, None)
    env.update(extra)
    return env
