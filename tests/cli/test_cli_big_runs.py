"""``legato runs show`` and ``runs logs`` on big runs: a summary, filters, bounded output.

The fast tests record a 3,001-task run with the recorder directly (three
chunks, ten failures, one task run recorded twice) and read it in-process.
The slow one runs a real 200,000-task flow and times the commands' first
line as real subprocesses (reported, not asserted: only a hang bound is).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from legato.cli import main
from legato.history import HistoryRecorder

RUN = "b16b16b1aaaa0001"
EXTRACTS = 3000
FAILED = {7, 70, 700, 1000, 1500, 2000, 2100, 2500, 2900, 2999}


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _record_big_run(db: Path) -> None:
    """extract x3000 (durations 0-99 ms, ten Failed), load x1, and ``again-0`` recorded twice."""
    base = time.time() - 1000
    with HistoryRecorder(db) as rec:
        rec.flow_run_started(id=RUN, name="big-run", flow_name="big", parameters={}, run_key=None,
                             runner="threads", tags=[], started_at=base)  # fmt: skip
        rec.task_run_finished(
            id="again", flow_run_id=RUN, name="again-0", task_name="again", map_index=None, state_type="FAILED",
            state_name="Failed", attempts=1, started_at=base, ended_at=base + 1, error="first try",
            upstream_ids=[], tags=[],
        )  # fmt: skip
        for i in range(EXTRACTS):
            failed = i in FAILED
            rec.task_run_finished(
                id=f"extract{i:05d}", flow_run_id=RUN, name=f"extract-{i}", task_name="extract", map_index=i,
                state_type="FAILED" if failed else "COMPLETED", state_name="Failed" if failed else "Completed",
                attempts=1, started_at=base + i, ended_at=base + i + (i % 100) / 1000,
                error=f"Traceback (most recent call last):\nValueError: bad row {i}" if failed else None,
                upstream_ids=[], tags=[],
            )  # fmt: skip
            if i % 1000 == 999:
                rec.flush()  # one chunk per thousand
        rec.task_run_finished(
            id="again", flow_run_id=RUN, name="again-0", task_name="again", map_index=None, state_type="COMPLETED",
            state_name="Completed", attempts=2, started_at=base, ended_at=base + 2, error=None,
            upstream_ids=[], tags=[],
        )  # fmt: skip
        rec.task_run_finished(
            id="load", flow_run_id=RUN, name="load-0", task_name="load", map_index=None, state_type="COMPLETED",
            state_name="Completed", attempts=1, started_at=base + EXTRACTS, ended_at=base + EXTRACTS + 0.5,
            error=None, upstream_ids=[], tags=[],
        )  # fmt: skip
        for i in range(3000):
            level = "WARNING" if i % 100 == 0 else "INFO"
            task_run_id = f"extract{i:05d}" if i % 2 else None
            rec.log(flow_run_id=RUN, task_run_id=task_run_id, ts=base + i, level=level, logger="legato.task",
                    message=f"line {i}")  # fmt: skip
        rec.flow_run_finished(id=RUN, state_type="FAILED", state_name="Failed", ended_at=base + 3001, error="ValueError")


@pytest.fixture(scope="module")
def big_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("big") / "home"
    _record_big_run(home / "history.db")
    return home


@pytest.fixture
def show(big_home, monkeypatch):
    monkeypatch.setenv("LEGATO_HOME", str(big_home))
    monkeypatch.delenv("LEGATO_DATABASE", raising=False)

    def run(*args: str) -> str:
        code, out, err = _main(*args)
        assert code == 0, err
        return out

    return run


def _task_rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("extract-", "load-", "again-"))]


def test_runs_show_summarizes_by_task_name(show):
    lines = show("runs", "show", RUN[:6]).splitlines()
    start = lines.index(next(line for line in lines if line.split()[:2] == ["task", "runs"]))
    assert lines[start].split() == ["task", "runs", "states", "p50", "p95"]
    summary = {line.split()[0]: line.split(None, 2)[2] for line in lines[start + 1 : start + 4]}
    assert summary["extract"].split() == ["2,990", "Completed,", "10", "Failed", "49ms", "94ms"]
    assert summary["again"].split() == ["1", "Completed", "2.00s", "2.00s"]  # its last record only
    assert summary["load"].split() == ["1", "Completed", "500ms", "500ms"]


def test_runs_show_is_bounded_by_default_and_says_what_it_left_out(show):
    out = show("runs", "show", RUN)
    rows = _task_rows(out)
    assert len(rows) == 200
    assert [row.split()[0] for row in rows[:2]] == ["extract-0", "extract-1"]  # chunk by chunk, in start order
    assert "... 2,802 more task runs (--limit N shows N, --all shows all)" in out


@pytest.mark.parametrize(("options", "count"), [(("--limit", "5"), 5), (("--limit", "0"), 3002), (("--all",), 3002)])
def test_runs_show_limit(show, options, count):
    out = show("runs", "show", RUN, *options)
    rows = _task_rows(out)
    assert len(rows) == count
    assert len({row.split()[0] for row in rows}) == count  # each task run once
    assert ("more task runs" in out) == (count < 3002)


def test_runs_show_filters_by_state_and_task(show):
    failed = _task_rows(show("runs", "show", RUN, "--state", "failed"))
    assert [row.split()[0] for row in failed] == [f"extract-{i}" for i in sorted(FAILED)]  # not again-0: it completed
    assert all(row.rstrip().endswith(f"ValueError: bad row {row.split()[0][8:]}") for row in failed)
    assert [row.split()[0] for row in _task_rows(show("runs", "show", RUN, "-t", "load"))] == ["load-0"]
    assert [row.split()[0] for row in _task_rows(show("runs", "show", RUN, "--task", "extract-42"))] == ["extract-42"]
    out = show("runs", "show", RUN, "--task", "extract", "--state", "COMPLETED", "-n", "3")
    assert [row.split()[0] for row in _task_rows(out)] == ["extract-0", "extract-1", "extract-2"]
    assert "... 2,987 more task runs" in out
    assert "No task runs match." in show("runs", "show", RUN, "--task", "nope")


def test_runs_show_traceback_prints_the_errors_of_the_rows_shown(show):
    out = show("runs", "show", RUN, "--state", "failed", "--limit", "2", "--traceback")
    assert out.count("Traceback (most recent call last)") == 2


def test_runs_logs_limit_and_level(show):
    lines = show("runs", "logs", RUN).splitlines()
    assert len(lines) == 1001 and lines[-1] == "... 2,000 more lines (--limit N shows N, --all shows all)"
    assert lines[0].endswith("flow | line 0") and lines[1].endswith("extract-1 | line 1")
    assert len(show("runs", "logs", RUN, "--all").splitlines()) == 3000
    assert len(show("runs", "logs", RUN, "--limit", "0").splitlines()) == 3000
    warnings = show("runs", "logs", RUN, "--level", "warning").splitlines()
    assert len(warnings) == 30 and all("WARNING" in line for line in warnings)
    assert show("runs", "logs", RUN, "--level", "error").strip() == f"No logs recorded at ERROR or above for run {RUN[:8]}."
    assert show("runs", "logs", RUN, "-l", "WARNING", "-n", "2").splitlines()[-1] == "... 28 more lines (--limit N shows N, --all shows all)"


@pytest.mark.parametrize(("args", "message"), [
    (("runs", "logs", RUN, "--level", "loud"), "unknown level 'loud'"),
    (("runs", "show", RUN, "--limit", "-1"), "--limit must be 0 (all) or more"),
])  # fmt: skip
def test_bad_options_are_usage_errors(big_home, monkeypatch, args, message):
    monkeypatch.setenv("LEGATO_HOME", str(big_home))
    code, out, err = _main(*args)
    assert code == 2 and message in err and err.count("\n") == 1


# -- a real 200,000-task run -----------------------------------------------------------

BIG = 200_000


def _first_line_latency(args: list[str], home: Path) -> tuple[float, float, str]:
    """Seconds until the first line of output, seconds until the end, and the output."""
    env = {**os.environ, "LEGATO_HOME": str(home), "COLUMNS": "120", "NO_COLOR": "1"}
    env.pop("LEGATO_DATABASE", None)
    started = time.perf_counter()
    with subprocess.Popen([sys.executable, "-m", "legato.cli", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env) as proc:  # fmt: skip
        assert proc.stdout is not None
        first = proc.stdout.readline()
        first_at = time.perf_counter() - started
        rest, err = proc.communicate(timeout=60)  # the hang bound
        total = time.perf_counter() - started
    assert proc.returncode == 0, err
    return first_at, total, first + rest


@pytest.mark.slow
def test_a_200k_task_run_prints_at_once(tmp_path, monkeypatch, capsys):
    from legato import flow, get_run_logger, task
    from legato.history import list_runs
    from legato.runners import ThreadPoolTaskRunner

    monkeypatch.setenv("LEGATO_HOME", str(tmp_path))
    monkeypatch.delenv("LEGATO_DATABASE", raising=False)
    monkeypatch.setenv("LEGATO_HISTORY", "1")
    monkeypatch.setenv("LEGATO_PROGRESS", "0")

    @task
    def noop(x: int) -> int:
        if x % 1000 == 0:
            get_run_logger().info("at %d", x)
        return x

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
    def huge(n: int) -> int:
        return len(noop.map(range(n)).result())

    assert huge(BIG) == BIG
    run_id = list_runs(limit=1)[0].id

    first, total, out = _first_line_latency(["runs", "show", run_id[:8]], tmp_path)
    assert "noop  200,000  200,000 Completed" in out
    assert len([line for line in out.splitlines() if line.startswith("noop-")]) == 200
    assert "... 199,800 more task runs" in out
    logs_first, logs_total, logs = _first_line_latency(["runs", "logs", run_id[:8], "--limit", "50"], tmp_path)
    assert len(logs.splitlines()) == 51 and logs.splitlines()[1].endswith("noop-0 | at 0")
    with capsys.disabled():
        print(f"\n200k-task run: `legato runs show` first line {first:.2f}s, done {total:.2f}s; "
              f"`legato runs logs --limit 50` first line {logs_first:.2f}s, done {logs_total:.2f}s "
              "(interpreter start-up included)")  # fmt: skip
