"""The serving loop on a fake clock: catch-up, overlap, restarts, two claimers, pauses.

The window runner is a recorder (see conftest), so these tests check the
scheduler's decisions alone, in milliseconds; test_execute.py runs real flows.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from legato import flow
from legato.scheduling.deployments import to_deployment
from legato.scheduling.server import Server

from sched_support import T0, Recorder


@flow
def job(day: str = "") -> str:
    return day


def make(store, clock, recorder, *, holder="host:1:1", alive=lambda h: True, **options):
    if not {"cron", "rrule", "interval"} & set(options):
        options["interval"] = 60
    deployment = to_deployment(job, "job", **options)
    return Server([deployment], clock=clock, store=store, holder=holder, run_window=recorder, alive=alive)


def settle(server, timeout=10.0):
    deadline = time.monotonic() + timeout
    while server.running:
        assert time.monotonic() < deadline, "windows still running"
        time.sleep(0.002)


def states(store, name="job"):
    return [(w.start_dt - T0.replace(microsecond=0), w.label) for w in reversed(store.windows(name, limit=1000))]


def minutes(*ns):
    return [timedelta(minutes=n) for n in ns]


def test_windows_start_after_the_first_serve_and_run_once_each(store, clock, recorder):
    server = make(store, clock, recorder)
    assert server.tick() == []  # registering at T0 schedules nothing before it
    for _ in range(3):
        clock.advance(60)
        server.tick()
        settle(server)
    server.tick()  # nothing new came due
    assert recorder.keys == [
        "job@2026-12-01T00:01:00Z", "job@2026-12-01T00:02:00Z", "job@2026-12-01T00:03:00Z"
    ]  # fmt: skip
    assert [label for _, label in states(store)] == ["Completed"] * 3


def test_catchup_latest_runs_the_most_recent_missed_window(store, clock, recorder):
    server = make(store, clock, recorder)
    server.register()
    clock.advance(minutes=10, seconds=1)
    server.tick()
    settle(server)
    assert recorder.keys == ["job@2026-12-01T00:10:00Z"]
    rows = states(store)
    assert rows[:9] == [(m, "Skipped (late)") for m in minutes(*range(1, 10))]
    assert rows[9] == (timedelta(minutes=10), "Completed")
    server._history.close()  # the skipped windows are in the run history too
    from legato.history import list_runs

    skipped = [r for r in list_runs(limit=50) if r.state_name == "Skipped"]
    assert sorted(r.run_key for r in skipped) == [f"job@2026-12-01T00:0{m}:00Z" for m in range(1, 10)]
    assert all(r.state_type == "CANCELLED" and "late" in (r.error or "") for r in skipped)


def test_catchup_all_runs_every_missed_window_oldest_first_up_to_the_cap(store, clock, recorder):
    server = make(store, clock, recorder, catchup="all", max_catchup=4)
    server.register()
    clock.advance(minutes=6)
    for _ in range(5):
        server.tick()
        settle(server)
    assert recorder.keys == [f"job@2026-12-01T00:0{m}:00Z" for m in (3, 4, 5, 6)]
    assert [label for _, label in states(store)] == ["Skipped (late)"] * 2 + ["Completed"] * 4


def test_catchup_skip_runs_only_windows_noticed_on_time(store, clock, recorder):
    server = make(store, clock, recorder, cron="0 0 * * *", catchup="skip")
    server.register()
    clock.advance(hours=23, minutes=59, seconds=59)
    server.tick()
    clock.advance(seconds=30)  # midnight, noticed 29.5 s late: on time
    server.tick()
    settle(server)
    clock.advance(hours=24, minutes=5)  # the next midnight noticed five minutes late
    server.tick()
    settle(server)
    assert recorder.keys == ["job@2026-12-02T00:00:00Z"]
    assert [label for _, label in states(store)] == ["Completed", "Skipped (late)"]


@pytest.mark.parametrize(
    "policy, second, runs_at_once",
    [("skip", "Skipped (overlap)", 1), ("cancel-new", "Cancelled (overlap)", 1), ("queue", "Completed", 1),
     ("allow", "Completed", 2)],
)  # fmt: skip
def test_overlap_policies(store, clock, recorder, policy, second, runs_at_once):
    recorder.gate = threading.Event()
    server = make(store, clock, recorder, overlap=policy)
    server.register()
    clock.advance(60)
    server.tick()
    assert recorder.started.acquire(timeout=5)
    clock.advance(60)  # the second window comes due while the first still runs
    server.tick()
    assert len(server.running) == runs_at_once
    recorder.gate.set()
    settle(server)
    server.tick()  # a queued window is claimed once the first is done
    settle(server)
    assert [label for _, label in states(store)] == ["Completed", second]
    assert len(recorder.keys) == (1 if policy in ("skip", "cancel-new") else 2)


def test_a_window_whose_server_died_is_resumed_once_under_the_same_run_key(store, clock):
    dead = set()
    alive = lambda holder: holder not in dead  # noqa: E731
    first = Recorder()
    first.gate = threading.Event()
    a = make(store, clock, first, holder="host:100:1", alive=alive)
    a.register()
    clock.advance(60)
    a.tick()
    assert first.started.acquire(timeout=5)
    dead.add("host:100:1")  # server A is SIGKILLed mid-window
    clock.advance(150)  # down for two more windows; B starts with catchup=all
    second = Recorder()
    b = make(store, clock, second, holder="host:200:1", alive=alive, catchup="all")
    for _ in range(4):
        b.tick()
        settle(b)
    assert second.keys == ["job@2026-12-01T00:01:00Z", "job@2026-12-01T00:02:00Z", "job@2026-12-01T00:03:00Z"]
    resumed = store.window("job", (T0.replace(microsecond=0) + timedelta(minutes=1)).timestamp())
    assert resumed is not None and resumed.state == "COMPLETED" and resumed.attempts == 2
    first.gate.set()
    settle(a)  # A's late finish must not overwrite B's record
    assert store.window("job", resumed.start).holder == "host:200:1"


def test_a_lease_that_expires_frees_the_window_for_another_host(store, clock):
    first = Recorder()
    first.gate = threading.Event()
    a = make(store, clock, first, holder="other-host:1:1")
    a.register()
    clock.advance(60)
    a.tick()
    assert first.started.acquire(timeout=5)
    second = Recorder()
    b = make(store, clock, second, holder="host:2:2", overlap="queue")
    clock.advance(30)
    b.tick()
    assert second.keys == []  # A's lease (60 s) still holds
    clock.advance(40)
    b.tick()
    settle(b)
    b.tick()
    settle(b)
    assert second.keys == ["job@2026-12-01T00:01:00Z", "job@2026-12-01T00:02:00Z"]  # the taken-over one first
    first.gate.set()
    settle(a)


def test_two_claimers_run_each_window_once(store, clock, legato_home):
    from legato.scheduling.store import Store

    recorders = [Recorder(), Recorder()]
    servers = [
        make(Store(), clock, recorders[i], holder=f"host:{i}:1", catchup="all", overlap="allow") for i in range(2)
    ]
    for server in servers:
        server.register()
    for _ in range(30):
        clock.advance(60)
        barrier = threading.Barrier(2)

        def tick(server):
            barrier.wait(5)
            server.tick()

        threads = [threading.Thread(target=tick, args=(s,)) for s in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        for server in servers:
            settle(server)
    keys = recorders[0].keys + recorders[1].keys
    assert len(keys) == 30 and len(set(keys)) == 30
    assert [label for _, label in states(store)] == ["Completed"] * 30


def test_paused_deployments_run_nothing_and_resume_from_now(store, clock, recorder):
    server = make(store, clock, recorder, paused=True)
    server.register()
    clock.advance(180)
    server.tick()
    assert recorder.keys == []
    store.set_paused("job", False, clock.now().timestamp())
    clock.advance(60)
    server.tick()
    settle(server)
    assert recorder.keys == ["job@2026-12-01T00:04:00Z"]  # the paused span is not caught up
    # serving again with paused=False does not undo a pause made from the CLI
    store.set_paused("job", True, clock.now().timestamp())
    make(store, clock, recorder).register()
    assert store.deployment("job").paused


def test_serve_forever_waits_on_the_clock_and_stops_cleanly(store, clock, recorder):
    server = make(store, clock, recorder, interval=3600)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        for _ in range(3):
            deadline = time.monotonic() + 5
            while clock.waiting == 0:
                assert time.monotonic() < deadline
                time.sleep(0.001)
            clock.advance(hours=1)
            assert recorder.started.acquire(timeout=5)
    finally:
        server.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert len(recorder.keys) == 3


@pytest.mark.parametrize(
    "cron, start, expected",
    [
        # clocks go forward at 02:00 on 2026-03-08: 02:30 does not exist, the run is at 03:00 EDT
        ("30 2 * * *", "2026-03-07T12:00:00+00:00", ["03-08 03:00 EDT", "03-09 02:30 EDT"]),
        # clocks go back at 02:00 on 2026-11-01: 01:30 happens twice, the run happens once
        ("30 1 * * *", "2026-10-31T12:00:00+00:00", ["11-01 01:30 EDT", "11-02 01:30 EST"]),
    ],
)
def test_serving_across_a_dst_change_runs_each_local_time_once(store, recorder, cron, start, expected):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from legato.scheduling.clock import FakeClock

    clock = FakeClock(datetime.fromisoformat(start))
    server = make(store, clock, recorder, cron=cron, timezone="America/New_York")
    server.register()
    for _ in range(48 * 4):  # two days, a tick every 15 minutes
        clock.advance(minutes=15)
        server.tick()
        settle(server)
    ny = ZoneInfo("America/New_York")
    ran = [w.start_dt.astimezone(ny).strftime("%m-%d %H:%M %Z") for w in reversed(store.windows("job"))]
    assert ran == expected
    assert len(recorder.keys) == len(expected)


def test_a_deployment_removed_while_served_is_registered_again(store, clock, recorder):
    server = make(store, clock, recorder)
    server.register()
    store.delete_deployment("job")
    clock.advance(60)
    server.tick()  # registers it again, from now: nothing is due yet
    clock.advance(60)
    server.tick()
    settle(server)
    assert recorder.keys == ["job@2026-12-01T00:02:00Z"]
