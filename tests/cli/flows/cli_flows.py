"""Real flows for the CLI tests of ``legato run`` and ``legato resume`` (and flow loading).

Each is an ordinary ``@flow``; what the CLI gave it (runner, run key,
parameters) is read back from the run history, as a user would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from legato import Flow, flow


@flow
def add(a: int, b: int = 1) -> int:
    return a + b


@flow
def echo(value: Any) -> tuple[str, Any]:
    return type(value).__name__, value


@flow
def explode(message: str = "boom") -> None:
    raise ValueError(message)


@flow
def fail_once(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError("first attempt fails")
    return "recovered"


@flow
def quiet() -> None:
    return None


class _FlowWithoutRunKey(Flow):
    """A flow object from before run keys existed: ``with_options`` rejects ``run_key``."""

    def with_options(self, **changes: Any) -> Flow:
        if "run_key" in changes:
            raise TypeError("with_options() got an unexpected keyword argument 'run_key'")
        return super().with_options(**changes)


def _old(x: int = 0) -> int:
    return x


old_style = _FlowWithoutRunKey(_old, name="old-style")
not_a_flow = 42
