"""``legato stats`` / ``legato.history.stats`` over recorded runs with known durations."""

from __future__ import annotations

import json
import math

import pytest

from legato.history import stats
from legato.history.metrics import parse_since, percentile

NOW = 1_800_000_000.0


def _traceback(kind: str, message: str) -> str:
    return f'Traceback (most recent call last):\n  File "etl.py", line 3, in load\n{kind}: {message}\n'


def _nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


@pytest.fixture
def fifty_runs(recorder, start_flow, finish_task, db):
    """50 runs of 'nightly' over 50 hours: every 5th fails with ValueError, every 7th (else) with KeyError."""
    expected = {"flow": [], "extract": [], "load": [], "failed": {"ValueError": 0, "KeyError": 0}, "load_failed": 0}
    for i in range(50):
        started = NOW - (50 - i) * 3600
        duration = 10.0 + (i * 37 % 50)  # distinct-ish, unordered durations
        run_id = start_flow(flow_name="nightly", started_at=started)
        for k in range(4):
            span = 0.5 + (i * 7 + k * 3) % 11 / 10
            finish_task(run_id, name=f"extract-{k}", task_name="extract", map_index=k, started_at=started + 1,
                        ended_at=started + 1 + span)
            expected["extract"].append(span)
        kind = "ValueError" if i % 5 == 0 else "KeyError" if i % 7 == 0 else None
        load_span = 2.0 + i % 13
        finish_task(run_id, name="load-0", task_name="load", started_at=started + 3, ended_at=started + 3 + load_span,
                    state_type="FAILED" if kind else "COMPLETED", state_name="Failed" if kind else "Completed",
                    error=_traceback(kind, "bad row") if kind else None)
        expected["load"].append(load_span)
        if kind:
            expected["failed"][kind] += 1
            expected["load_failed"] += 1
        recorder.flow_run_finished(id=run_id, state_type="FAILED" if kind else "COMPLETED",
                                   state_name="Failed" if kind else "Completed", ended_at=started + duration,
                                   error=_traceback(kind, "bad row") if kind else None)
        expected["flow"].append(duration)
        if not kind:
            expected["last_success"] = started + duration
    recorder.flush()
    return expected


def test_flow_and_task_metrics_over_fifty_runs(fifty_runs, db):
    result = stats(now=NOW, db=db)
    (nightly,) = result.flows
    assert nightly.runs == 50
    failures = fifty_runs["failed"]
    assert failures == {"ValueError": 10, "KeyError": 6}
    assert nightly.failures_by_error == failures
    assert nightly.success_rate == pytest.approx((50 - 16) / 50)
    assert nightly.p50 == pytest.approx(_nearest_rank(fifty_runs["flow"], 50))
    assert nightly.p95 == pytest.approx(_nearest_rank(fifty_runs["flow"], 95))
    assert nightly.max == pytest.approx(max(fifty_runs["flow"]))
    assert nightly.since_last_success == pytest.approx(NOW - fifty_runs["last_success"])
    tasks = {t.task_name: t for t in result.tasks}
    assert tasks["extract"].runs == 200 and tasks["extract"].failed == 0
    assert tasks["extract"].p50 == pytest.approx(_nearest_rank(fifty_runs["extract"], 50))
    assert tasks["extract"].p95 == pytest.approx(_nearest_rank(fifty_runs["extract"], 95))
    assert tasks["load"].runs == 50 and tasks["load"].failed == fifty_runs["load_failed"]
    assert tasks["load"].failure_rate == pytest.approx(16 / 50)
    assert tasks["load"].p95 == pytest.approx(_nearest_rank(fifty_runs["load"], 95))


def test_since_window_and_flow_filter(fifty_runs, db):
    last_day = stats(since="1d", now=NOW, db=db).flows[0]
    assert last_day.runs == 24  # runs started 24 h ago up to 1 h ago
    assert stats(flow="other", now=NOW, db=db).flows == []


def test_cli_stats_json_and_table(fifty_runs, db, monkeypatch, capsys):
    from legato.cli.app import run_app

    monkeypatch.setenv("LEGATO_DATABASE", str(db))
    assert run_app(["stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flows"][0]["failures_by_error"] == {"ValueError": 10, "KeyError": 6}
    assert run_app(["stats", "--flow", "nightly"]) == 0
    out = capsys.readouterr().out
    assert "ValueError x10" in out and "KeyError x6" in out and "68.0%" in out
    assert run_app(["stats", "--since", "yesterday"]) == 2


def test_percentile_definition():
    assert percentile(list(range(1, 11)), 50) == 5
    assert percentile(list(range(1, 11)), 95) == 10
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 50) is None
    assert parse_since("7d") == 7 * 86400 and parse_since("90s") == 90


def test_real_flows_are_counted(monkeypatch, tmp_path):
    from legato import flow, task

    monkeypatch.setenv("LEGATO_PROGRESS", "0")

    @task
    def square(x: int) -> int:
        if x == 3:
            raise ArithmeticError("three")
        return x * x

    @flow
    def squares(fail: bool) -> list[int]:
        return square.map([1, 2, 3] if fail else [1, 2]).result()

    squares(False)
    with pytest.raises(ArithmeticError):
        squares(True)
    (result,) = stats(flow="squares").flows
    assert (result.runs, result.completed, result.failures_by_error) == (2, 1, {"ArithmeticError": 1})
    (task_stats,) = stats(flow="squares").tasks
    assert (task_stats.task_name, task_stats.runs, task_stats.failed) == ("square", 5, 1)
