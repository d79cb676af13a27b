"""What the chaos cases share: marker files that count executions, the counts, the table.

Every task in the suite leaves one marker file per execution, named
``<phase>-<element>-<pid>-<random>`` in a folder of the test's own: a file
survives the process that made it (SIGKILL included), and two executions
never write the same name. From the markers and the values a flow returned,
:func:`tally` makes one row of the table.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos_tasks import mark  # noqa: F401  (with the tasks: Dask and Ray workers get it by value)

#: the rows of this session, in the order the cases ran
ROWS: list[Row] = []


def markers(folder: str | Path, phase: str = "start") -> Counter[int]:
    """How many times each element reached ``phase``."""
    counts: Counter[int] = Counter()
    for name in os.listdir(folder):
        parts = name.split("-")
        if len(parts) == 4 and parts[0] == phase:
            counts[int(parts[1])] += 1
    return counts


def pids(folder: str | Path) -> set[int]:
    """The processes that ran at least one element."""
    return {int(name.split("-")[2]) for name in os.listdir(folder) if name.count("-") == 3}


@dataclass
class Row:
    case: str
    runner: str
    executions: int
    lost: int | None
    duplicated: int
    wrong: int
    seconds: float
    note: str = ""


@dataclass
class Clock:
    started: float = field(default_factory=time.monotonic)

    def seconds(self) -> float:
        return time.monotonic() - self.started


def tally(case: str, runner: str, expected: dict[int, Any], got: dict[int, Any] | None,
          executions: Counter[int], clock: Clock, note: str = "") -> Row:
    """One row: ``expected`` and ``got`` map element to value (``got`` None: nothing is owed)."""
    lost = None if got is None else sum(1 for key in expected if key not in got)
    wrong = 0 if got is None else sum(1 for key, value in got.items() if expected.get(key, object()) != value)
    row = Row(case, runner, sum(executions.values()), lost, sum(1 for n in executions.values() if n > 1), wrong,
              round(clock.seconds(), 2), note)
    ROWS.append(row)
    return row


def table(rows: Iterable[Row]) -> str:
    """The rows as a Markdown table (what the README shows)."""
    lines = ["| case | runner | executions | lost | duplicated | wrong | seconds | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lost = "-" if r.lost is None else str(r.lost)
        lines.append(f"| {r.case} | {r.runner} | {r.executions} | {lost} | {r.duplicated} | {r.wrong} | "
                     f"{r.seconds:.2f} | {r.note} |")
    return "\n".join(lines)


def full_run(config: Any) -> bool:
    """Whether this is the full chaos run (``--chaos-full`` or ``LEGATO_CHAOS_FULL=1``)."""
    flag = False
    try:
        flag = bool(config.getoption("--chaos-full"))
    except ValueError:
        pass
    return flag or os.environ.get("LEGATO_CHAOS_FULL", "").strip().lower() in {"1", "true", "yes", "on"}
