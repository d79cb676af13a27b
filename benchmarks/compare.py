"""``python -m benchmarks.compare OLD.json NEW.json``: did anything get slower than the noise?

Two runs of the suite on one kind of machine are compared workload by
workload, on legato's ratio to raw in each run (which cancels most of what
the machine did differently between the runs), and on legato's own number.
The noise of a comparison is the larger spread of its repeated runs in
either file (best / worst - 1 of a measurement's runs, the larger of
legato's and raw's), never under :data:`NOISE_FLOOR`: a change smaller than
that is not called a change. A measurement with a single run (the 100k
and 1M sizes) has no spread of its own and gets the floor.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: the smallest change called a change: run-to-run spread of the same code on a quiet 2-core machine
NOISE_FLOOR = 0.10


def spread(runs: list[float]) -> float:
    """best / worst - 1 of a measurement's repeated runs (0 for fewer than two)."""
    positive = [run for run in runs if run > 0]
    return max(positive) / min(positive) - 1 if len(positive) >= 2 else 0.0


def _throughput(result: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {(m["runner"], m["name"], m["n"], m["side"], m["method"]): m for m in result["measurements"]
            if m["section"] == "throughput" and m["side"] in ("legato", "raw")}


def _raw_for(by_key: dict[tuple[Any, ...], dict[str, Any]], runner: str, name: str, n: int) -> dict[str, Any] | None:
    return next((m for (r, w, size, side, _), m in by_key.items() if (r, w, size, side) == (runner, name, n, "raw")),
                None)


def rows(old: dict[str, Any], new: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One row per legato throughput measurement present in both results."""
    before, after = _throughput(old), _throughput(new)
    for key, ours in after.items():
        runner, name, n, side, _ = key
        if side != "legato":
            continue
        key_before = next((k for k in before if k[:4] == key[:4]), None)
        if key_before is None:
            continue
        theirs, raw_before, raw_after = before[key_before], _raw_for(before, runner, name, n), _raw_for(after, runner, name, n)
        parts = [m for m in (ours, theirs, raw_before, raw_after) if m is not None]
        noise = max(NOISE_FLOOR, *(spread(m["runs"]) for m in parts))
        change = ours["value"] / theirs["value"] - 1
        ratio_change = None
        if raw_before and raw_after and raw_before["value"] and raw_after["value"]:
            ratio_change = (ours["value"] / raw_after["value"]) / (theirs["value"] / raw_before["value"]) - 1
        slower = change < -noise and (ratio_change is None or ratio_change < -noise)
        yield {"runner": runner, "workload": name, "n": n, "unit": ours["unit"], "old": theirs["value"],
               "new": ours["value"], "change": change, "ratio_change": ratio_change, "noise": noise, "slower": slower}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    old, new = (json.loads(path.read_text()) for path in (args.old, args.new))
    found = list(rows(old, new))
    print(f"{'runner':10} {'workload':10} {'n':>8} {'old':>12} {'new':>12} {'change':>8} {'vs raw':>8} {'noise':>6}")
    for row in found:
        ratio = "" if row["ratio_change"] is None else f"{row['ratio_change']:+.0%}"
        print(f"{row['runner']:10} {row['workload']:10} {row['n']:>8} {row['old']:>12,.1f} {row['new']:>12,.1f} "
              f"{row['change']:>+8.0%} {ratio:>8} {row['noise']:>6.0%}{'  SLOWER' if row['slower'] else ''}")
    slower = [row for row in found if row["slower"]]
    print(f"{len(slower)} of {len(found)} slower than their noise (both on their own and against raw)")
    return 1 if slower else 0


if __name__ == "__main__":
    raise SystemExit(main())
