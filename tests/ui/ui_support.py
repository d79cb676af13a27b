"""What the web view tests share besides fixtures: the recorded history and a way to record elsewhere."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: this folder: subprocesses put it on sys.path to import ui_flows
HERE = Path(__file__).resolve().parent


@dataclass
class History:
    db: Path
    squares: str  # run ids
    nightly: str
    xss: str
    slow: str


@contextlib.contextmanager
def database(path: Path) -> Iterator[Path]:
    """Flows called inside the block record to ``path``."""
    previous = os.environ.get("LEGATO_DATABASE")
    os.environ["LEGATO_DATABASE"] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop("LEGATO_DATABASE", None)
        else:
            os.environ["LEGATO_DATABASE"] = previous
