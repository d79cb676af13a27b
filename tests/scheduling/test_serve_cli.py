"""End to end: ``legato serve`` in subprocesses, killed and restarted, two at once; backfills.

These run on the wall clock (one-second intervals), so they are the few slow
tests of the package; every wait is bounded.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
from cli_support import FLOWS, history_runs, in_process, legato, start_server, stop, wait_for, windows


def completed_keys(home):
    return Counter(key for key, state in history_runs(home) if state == "COMPLETED")


def assert_each_window_once(home, deployment):
    rows = windows(home, deployment)
    starts = [start for start, _, _ in rows]
    assert starts == [starts[0] + i for i in range(len(starts))], "a window is missing"
    assert {state for _, state, _ in rows} == {"COMPLETED"}, rows
    done = completed_keys(home)
    keys = [k for k in done if k and k.startswith(f"{deployment}@")]
    assert len(keys) == len(rows) and all(done[k] == 1 for k in keys), done
    return rows


def test_a_killed_server_restarted_with_catchup_all_runs_every_window_exactly_once(legato_home):
    from legato.history import list_runs

    home = legato_home
    # queue, not skip: on a loaded machine a window may outlast its second; none may be skipped here
    serve_args = [f"{FLOWS}:ticker", "--interval", "1", "--param", "seconds=0.15", "--overlap", "queue"]
    first = start_server(home, *serve_args, "--catchup", "all")
    try:
        wait_for(lambda: sum(s == "COMPLETED" for _, s, _ in windows(home, "ticker")) >= 4, what="four windows")
        wait_for(lambda: any(s == "RUNNING" for _, s, _ in windows(home, "ticker")), what="a running window")
    finally:
        stop(first, signal.SIGKILL)
    killed = [start for start, state, _ in windows(home, "ticker") if state == "RUNNING"]
    assert len(killed) == 1
    time.sleep(2.2)  # down for two windows
    second = start_server(home, *serve_args, "--catchup", "all")
    try:
        def caught_up() -> bool:
            rows = windows(home, "ticker")
            return all(s == "COMPLETED" for _, s, _ in rows) and rows[-1][0] >= killed[0] + 5

        wait_for(caught_up, what="windows after the restart")
    finally:
        out = stop(second, signal.SIGTERM)
    assert second.returncode == 0, out
    rows = assert_each_window_once(home, "ticker")
    resumed = [attempts for start, _, attempts in rows if start == killed[0]]
    assert resumed == [2]  # the killed window ran again, once, under its run key
    killed_key = f"ticker@{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(killed[0]))}Z"
    states = sorted(r.state_type for r in list_runs(limit=100) if r.run_key == killed_key)
    # its resumption completed; the killed run shows as Crashed if the history had written it before the kill
    assert states in (["COMPLETED"], ["COMPLETED", "CRASHED"]), states


@pytest.mark.slow
def test_two_servers_of_one_deployment_run_each_window_once(tmp_path):
    home = tmp_path
    args = [f"{FLOWS}:ticker", "--interval", "1", "--param", "seconds=0.05", "--overlap", "queue", "--catchup", "all"]
    servers = [start_server(home, *args) for _ in range(2)]
    try:
        wait_for(lambda: sum(s == "COMPLETED" for _, s, _ in windows(home, "ticker")) >= 6, what="six windows")
    finally:
        outputs = [stop(s) for s in servers]
    assert all(s.returncode == 0 for s in servers), outputs
    rows = assert_each_window_once(home, "ticker")
    assert all(attempts == 1 for _, _, attempts in rows)


def test_backfill_runs_each_day_once_and_a_second_backfill_runs_nothing(legato_home, capsys, monkeypatch):
    home = legato_home
    log = home / "tasks.jsonl"
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("SCHED_TEST_LOG", str(log))
    args = ["backfill", f"{FLOWS}:daily_etl", "--start", "2026-11-01", "--end", "2026-11-06", "--cron", "0 0 * * *",
            "--param", "day={start:%Y-%m-%d}", "--max-parallel", "2"]  # fmt: skip
    code, out, err = in_process(capsys, *args, "--dry-run")
    assert code == 0, err
    assert out.count("day='2026-11-0") == 5 and not log.exists()

    failing = legato(home, *args, SCHED_TEST_LOG=str(log), SCHED_TEST_FAIL_DAYS="2026-11-03")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "4 completed, 1 failed" in failing.stdout
    days = sorted(line.split('"day": "')[1][:10] for line in log.read_text().splitlines())
    assert days == [f"2026-11-0{d}" for d in range(1, 6)]

    log.unlink()
    again = legato(home, *args, SCHED_TEST_LOG=str(log))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 completed, 4 done" in again.stdout
    assert log.read_text().count('"day": "2026-11-03"') == 1 and len(log.read_text().splitlines()) == 1

    log.unlink()
    code, out, err = in_process(capsys, *args)
    assert code == 0 and "5 done" in out and not log.exists(), out + err
    code, out, _ = in_process(capsys, "schedules", "show", "daily-etl")
    assert code == 0 and out.count("Completed") == 5
    from legato.history import list_runs

    completed = [r for r in list_runs(limit=50) if r.state_type == "COMPLETED"]
    assert sorted(r.parameters["day"] for r in completed) == [f"'2026-11-0{d}'" for d in range(1, 6)]
    assert sorted(r.run_key for r in completed) == [f"daily-etl@2026-11-0{d}T00:00:00Z" for d in range(1, 6)]


def test_cli_errors_are_one_line(legato_home, capsys):
    def error(*args):
        code, _, err = in_process(capsys, *args)
        assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
        return err

    assert error("serve", f"{FLOWS}:ticker", "--cron", "61 * * * *").startswith("error: bad cron expression")
    assert "exactly one of" in error("serve", f"{FLOWS}:ticker", "--cron", "* * * * *", "--interval", "5")
    assert "catchup must be one of" in error("serve", f"{FLOWS}:ticker", "--interval", "5", "--catchup", "sometimes")
    assert "bad parameters" in error("serve", f"{FLOWS}:ticker", "--interval", "5", "--param", "nope=1")
    assert "no deployment named 'nope'" in error("schedules", "pause", "nope")
    assert "no limit named 'nope'" in error("limits", "rm", "nope")
    assert "give slots" in error("limits", "set", "x")


def test_schedules_ls_pause_and_resume(legato_home, capsys, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from sched_support import Recorder

    from legato.cli.loading import load_module
    from legato.scheduling.clock import FakeClock
    from legato.scheduling.deployments import to_deployment
    from legato.scheduling.server import Server

    monkeypatch.setenv("COLUMNS", "250")
    module = load_module(FLOWS)
    minute = datetime.now(timezone.utc).replace(second=15, microsecond=0)
    clock = FakeClock(minute - timedelta(minutes=10))
    server = Server([to_deployment(module.ticker, "every-minute", cron="* * * * *", timezone="Europe/Paris")],
                    clock=clock, run_window=Recorder())  # fmt: skip
    server.register()
    clock.advance(minutes=3)  # three windows came due: the latest runs
    server.tick()
    server.drain()
    code, out, _ = in_process(capsys, "schedules", "ls")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("every-minute"))
    assert "cron * * * * * (Europe/Paris)" in line and "Completed" in line and " no " in line
    assert "1 completed" in line and "2 skipped (late)" in line
    assert in_process(capsys, "schedules", "pause", "every-minute")[1].strip() == "every-minute: paused"
    code, out, _ = in_process(capsys, "schedules", "ls")
    line = next(line for line in out.splitlines() if line.startswith("every-minute"))
    assert " yes " in line and " - " in line  # no next run while paused
    assert in_process(capsys, "schedules", "resume", "every-minute")[0] == 0
    code, out, _ = in_process(capsys, "schedules", "show", "every-minute")
    assert out.count("Skipped (late)") == 2 and out.count("Completed") == 1
    assert in_process(capsys, "schedules", "rm", "every-minute")[0] == 0
    assert "No deployments" in in_process(capsys, "schedules", "ls")[1]
    assert in_process(capsys, "schedules", "rm", "every-minute")[0] == 2


@pytest.mark.slow
def test_sigint_lets_the_running_window_finish(tmp_path):
    home = tmp_path
    server = start_server(home, f"{FLOWS}:ticker", "--interval", "1", "--param", "steps=4", "--param", "seconds=0.25",
                          "--runner", "sync")  # fmt: skip
    try:
        wait_for(lambda: any(s == "RUNNING" for _, s, _ in windows(home, "ticker")), what="a running window")
        running = [start for start, state, _ in windows(home, "ticker") if state == "RUNNING"]
    finally:
        out = stop(server, signal.SIGINT)
    assert server.returncode == 0, out
    states = {start: state for start, state, _ in windows(home, "ticker")}
    assert states[running[0]] == "COMPLETED", states  # finished, not cancelled
    assert not {"RUNNING", "PENDING"} & set(states.values())
