"""Running ``legato`` commands against a test's LEGATO_HOME, and reading what they left."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cli_environment import cli_environment

FLOWS = Path(__file__).resolve().parent / "flows" / "sched_flows.py"


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    return cli_environment(home, 250, **extra)


def legato(home: Path, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "legato.cli", *args], capture_output=True, text=True, env=cli_env(home, **env),
        timeout=timeout, cwd=home,
    )  # fmt: skip


def start_server(home: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "legato.cli", "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=cli_env(home, **env), cwd=home,
    )  # fmt: skip


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 20) -> str:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise AssertionError(f"server did not stop:\n{out}") from None
    return out


def windows(home: Path, deployment: str) -> list[tuple[float, str, int]]:
    """``(start, state, attempts)`` of each window, oldest first (empty before the file exists)."""
    path = home / "schedules.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(path, timeout=30)
    try:
        return conn.execute(
            "SELECT start, state, attempts FROM windows WHERE deployment=? ORDER BY start", (deployment,)
        ).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        conn.close()


def wait_for(predicate, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def history_runs(home: Path) -> list[tuple[str, str]]:
    """``(run_key, state_type)`` of every recorded flow run."""
    conn = sqlite3.connect(home / "history.db", timeout=30)
    try:
        return conn.execute("SELECT run_key, state_type FROM flow_runs").fetchall()
    finally:
        conn.close()


def in_process(capsys, *args):
    """``legato ARGS`` in this process (no interpreter start-up): (exit code, stdout, stderr)."""
    from legato.cli.app import run_app

    code = run_app(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err
