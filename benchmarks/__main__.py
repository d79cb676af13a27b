"""``python -m benchmarks``: run the suite, print the tables, write JSON and a chart.

    python -m benchmarks --quick                       # CI: seconds (plus cluster start for dask/ray)
    python -m benchmarks                               # full sizes, for people
    python -m benchmarks --runners threads,processes --sections throughput,startup
    python -m benchmarks --out /tmp/bench --no-chart
    python -m benchmarks --quick --runners threads --peers dask-delayed,joblib

Everything runs in this one process, runner after runner (memory, start-up
and history measurements start fresh interpreters of their own). Run
history and the progress display are off for the throughput runs, and
``LEGATO_HOME`` is a temporary folder. See :mod:`benchmarks` for the
sections.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import chart
from benchmarks.machine import isolated_environment, machine_info
from benchmarks.measure import Measurement, say
from benchmarks.peers import PEERS
from benchmarks.settings import FULL, QUICK, RUNNERS, SECTIONS, WORKERS, Plan
from benchmarks.throughput import WORKLOADS

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI (default: full sizes)")
    parser.add_argument("--runners", type=_names(RUNNERS), default=list(RUNNERS),
                        help=f"comma-separated, from {','.join(RUNNERS)} (default: all)")
    parser.add_argument("--sections", type=_names(SECTIONS), default=list(SECTIONS),
                        help=f"comma-separated, from {','.join(SECTIONS)} (default: all)")
    parser.add_argument("--workloads", type=_names(WORKLOADS), default=list(WORKLOADS),
                        help=f"throughput workloads, comma-separated, from {','.join(WORKLOADS)} (default: all)")
    parser.add_argument("--peers", type=_names(("all", *PEERS)), default=[],
                        help=f"also run the workloads on peers, comma-separated, from {','.join(PEERS)} or all "
                             "(default: none); see benchmarks.peers")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON and the chart")
    parser.add_argument("--chart", action=argparse.BooleanOptionalAction, default=chart.available(),
                        help="draw a PNG chart (default: on when matplotlib is importable)")
    return parser.parse_args(argv)


def _names(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"unknown {unknown or text!r}; choose from {','.join(allowed)}")
        return names
    return parse


@dataclass
class Outcome:
    measurements: list[Measurement] = field(default_factory=list)
    runners: dict[str, Any] = field(default_factory=dict)  # name -> availability, workers, errors
    failed_sections: dict[str, str] = field(default_factory=dict)
    peers: dict[str, Any] = field(default_factory=dict)  # peer -> installed, error, per-runner sides


def run(plan: Plan, runners: list[str], sections: list[str], workloads: Collection[str] = WORKLOADS,
        peers: Collection[str] = ()) -> Outcome:
    """Every requested section, in order; a section, runner or peer that fails is recorded and skipped.

    ``peers`` run with the throughput section, on each runner they compare with.
    """
    from benchmarks import history, memory, startup, throughput
    from benchmarks.peers import status

    outcome = Outcome()
    if "throughput" in sections and peers:
        outcome.peers = status(PEERS if "all" in peers else peers)
    if "startup" in sections:  # first, while this process is still fresh
        _guarded(outcome, "startup", lambda: startup.measure(plan.startup_repeat))
    if "throughput" in sections:
        for name in runners:
            result = throughput.run(name, plan, workloads, peers=outcome.peers)
            outcome.runners[name] = {"available": result.available, "workers": result.workers,
                                     "error": result.error, "errors": result.errors}
            outcome.measurements += result.measurements
    if "memory" in sections:
        _guarded(outcome, "memory", lambda: memory.measure(plan.memory_sizes, plan.traced_sizes))
    if "history" in sections:
        _guarded(outcome, "history", lambda: history.measure(plan.history_size, plan.history_repeat, plan.history_rounds))
    return outcome


def _guarded(outcome: Outcome, section: str, measure: Callable[[], list[Measurement]]) -> None:
    try:
        outcome.measurements += measure()
    except Exception as error:
        outcome.failed_sections[section] = f"{type(error).__name__}: {error}"
        say(f"{section}: failed: {outcome.failed_sections[section]}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from benchmarks import report
    from benchmarks.peers import prefect_side

    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    uses_prefect = bool({"prefect", "all"} & set(args.peers)) and "throughput" in args.sections
    with isolated_environment() as home, prefect_side.environment(home) if uses_prefect else nullcontext():
        info = machine_info()
        say(f"legato benchmarks, {plan.mode} mode: runners {','.join(args.runners)}; "
            f"sections {','.join(args.sections)}" + (f"; peers {','.join(args.peers)}" if args.peers else ""))
        outcome = run(plan, args.runners, args.sections, args.workloads, args.peers)
    result = report.build(info, plan, WORKERS, outcome.runners, outcome.failed_sections, outcome.measurements,
                          outcome.peers)
    report.print_tables(result)
    path = report.write_json(result, args.out)
    print(f"\nJSON: {path}")
    if args.chart and result["comparisons"]:
        print(f"chart: {chart.draw(result, path.with_suffix('.png'))}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
