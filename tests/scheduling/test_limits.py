"""Concurrency, rate and tag limits: shared leases in SQLite that a dead holder does not keep."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest
from cli_support import FLOWS, cli_env, in_process

import legato as lg
from legato.scheduling import limits
from legato.scheduling.errors import ConcurrencySlotTimeout, LimitNotFound


def test_a_limit_bounds_holders_across_threads(home):
    limits.set_limit("warehouse", 2)
    inside, peak, lock = [0], [0], threading.Lock()

    def work():
        with lg.concurrency("warehouse", timeout_seconds=20):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert peak[0] == 2
    assert limits.list_limits()[0].occupied == 0


def test_timeouts_undefined_names_and_impossible_requests(home):
    limits.set_limit("one", 1)
    with lg.concurrency("one"):
        with pytest.raises(ConcurrencySlotTimeout):
            with lg.concurrency("one", timeout_seconds=0.05):
                pass
    with lg.concurrency("nobody-defined-this"):  # no limit: nothing to wait for
        pass
    with pytest.raises(LimitNotFound):
        with lg.concurrency("nobody-defined-this", strict=True):
            pass
    with pytest.raises(ValueError, match="never fit"):
        with lg.concurrency("one", occupy=2):
            pass


def test_acquiring_several_limits_is_all_or_nothing(home):
    limits.set_limit("a", 1)
    limits.set_limit("b", 1)
    with lg.concurrency("b"):
        with pytest.raises(ConcurrencySlotTimeout):
            with lg.concurrency(["a", "b"], timeout_seconds=0.05):
                pass
        with lg.concurrency("a", timeout_seconds=1):  # "a" was not left taken by the failed attempt
            pass


def test_a_sigkilled_holder_frees_its_slot_at_once(home):
    limits.set_limit("solo", 1)
    code = (
        "import time, legato\n"
        "with legato.concurrency('solo'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=cli_env(home))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConcurrencySlotTimeout):
            with lg.concurrency("solo", timeout_seconds=0.1):
                pass
    finally:
        holder.kill()
        holder.wait(10)
    with lg.concurrency("solo", timeout_seconds=10):
        pass


def test_a_lease_of_another_host_is_freed_when_it_expires(home):
    limits.set_limit("remote", 1)
    store = limits._store()
    store.write(lambda c: c.execute(
        "INSERT INTO leases (id, name, occupy, holder, acquired_at, expires_at) VALUES ('x', 'remote', 1, ?, ?, ?)",
        (f"not-{socket.gethostname()}:1:1", time.time(), time.time() + 0.3),
    ))  # fmt: skip
    with pytest.raises(ConcurrencySlotTimeout):
        with lg.concurrency("remote", timeout_seconds=0.05):
            pass
    with lg.concurrency("remote", timeout_seconds=10):
        pass


def test_rate_limit_spaces_acquisitions(home):
    limits.set_limit("api", per_second=1)
    lg.rate_limit("api")  # the first goes through at once
    with pytest.raises(ConcurrencySlotTimeout):
        lg.rate_limit("api", timeout_seconds=0.1)  # the next free moment is about a second away
    lg.rate_limit("not-a-limit")
    with pytest.raises(LimitNotFound):
        lg.rate_limit("not-a-limit", strict=True)


def test_tag_limit_shared_by_two_flows_in_two_processes(home, capsys):
    log = home / "queries.jsonl"
    assert in_process(capsys, "limits", "set", "tag:db", "2")[0] == 0
    env = cli_env(home, SCHED_TEST_LOG=str(log))
    runs = [
        subprocess.Popen([sys.executable, "-m", "legato.cli", "run", f"{FLOWS}:warehouse", "--param", "n=6"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=home)
        for _ in range(2)
    ]  # fmt: skip
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(events) == 12 and len({e["pid"] for e in events}) == 2
    edges = sorted([(e["start"], 1) for e in events] + [(e["end"], -1) for e in events], key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak <= 2
    code, listing, _ = in_process(capsys, "limits", "ls")
    assert code == 0 and "tag:db" in listing
    limits.remove_limit("tag:db")
    assert limits.list_limits() == []


def test_tag_limit_on_the_process_runner(home):
    """In a process of its own: worker processes take the environment of the process pool's first start
    (a forkserver), which in a test session is some earlier test's LEGATO_HOME."""
    log = home / "process-queries.jsonl"
    limits.set_limit("tag:db", 1)
    done = subprocess.run([sys.executable, "-m", "legato.cli", "run", f"{FLOWS}:warehouse", "--runner", "processes",
                           "--param", "n=4", "--param", "seconds=0.05"], capture_output=True, text=True,
                          env=cli_env(home, SCHED_TEST_LOG=str(log)), cwd=home, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6"
    events = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda e: e["start"])
    assert len(events) == 4
    assert all(a["end"] <= b["start"] for a, b in zip(events, events[1:]))  # one at a time, across workers
