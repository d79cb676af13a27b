"""Per-flow numbers for the Flows page: P50/P95 durations, failure rate, the duration chart.

Computed here from each flow's most recent runs (the notifications work
may later keep such stats itself; then this module is where to read them).
Percentiles are nearest-rank over completed runs; the failure rate counts
failed and crashed runs among finished ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from legato.history.query import FlowRunRecord

CHART_WIDTH = 560
CHART_HEIGHT = 120
CHART_PAD = 22


@dataclass
class FlowStats:
    name: str
    runs: list[FlowRunRecord]  # newest first
    p50: float | None
    p95: float | None
    failure_rate: float | None
    running: int
    points: list[tuple[float, float, FlowRunRecord]]  # chart x, y, run (oldest first)
    max_duration: float


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``values``, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


def flow_stats(name: str, runs: list[FlowRunRecord]) -> FlowStats:
    completed = [r.duration for r in runs if r.state_type == "COMPLETED" and r.duration is not None]
    finished = [r for r in runs if r.ended_at is not None]
    failed = sum(1 for r in finished if r.state_type in ("FAILED", "CRASHED"))
    timed = [r for r in reversed(runs) if r.duration is not None]
    longest = max((r.duration or 0.0 for r in timed), default=0.0)
    return FlowStats(
        name=name,
        runs=runs,
        p50=percentile(completed, 0.50),
        p95=percentile(completed, 0.95),
        failure_rate=failed / len(finished) if finished else None,
        running=sum(1 for r in runs if r.state_type == "RUNNING"),
        points=_points(timed, longest),
        max_duration=longest,
    )


def _points(runs: list[FlowRunRecord], longest: float) -> list[tuple[float, float, FlowRunRecord]]:
    if not runs:
        return []
    first, last = runs[0].started_at, runs[-1].started_at
    span = max(last - first, 1e-9)
    width, height = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    points = []
    for run in runs:
        x = CHART_PAD + (width * (run.started_at - first) / span if len(runs) > 1 else width / 2)
        y = CHART_HEIGHT - CHART_PAD - height * ((run.duration or 0.0) / longest if longest else 0.0)
        points.append((x, y, run))
    return points


__all__ = ["CHART_HEIGHT", "CHART_WIDTH", "FlowStats", "flow_stats", "percentile"]
