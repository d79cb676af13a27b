"""Crash detection: a RUNNING row whose process is gone is a crashed run.

A flow killed by SIGKILL, an OOM killer or a power cut never gets to write
its final state, so its row stays RUNNING forever. Readers fix that when they
look: if the row was written on this host and its process no longer exists
(or its pid now belongs to a process started after the run began, i.e. the
pid was reused), the run is CRASHED. Rows from other hosts cannot be
checked and are left as they are.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import psutil

from legato.history import schema
from legato.history.summary import this_host

#: Clock slack when comparing a process's start time with a run's start time.
CREATE_TIME_SLACK = 1.0

CRASHED_MESSAGE = "process {pid} on {hostname} exited without recording a final state"


def process_alive(pid: int, started_at: float) -> bool:
    """Whether the process that started a run at ``started_at`` still runs.

    Errors other than "no such process" (e.g. access denied) count as alive:
    a run is only declared crashed when we are sure.
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return process.create_time() <= started_at + CREATE_TIME_SLACK
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def find_crashed(conn: sqlite3.Connection) -> dict[str, str]:
    """Ids of RUNNING runs of this host whose process is gone, with an error message."""
    hostname = this_host()
    rows = conn.execute(
        "SELECT id, pid, started_at FROM flow_runs WHERE state_type = 'RUNNING' AND hostname = ?",
        (hostname,),
    ).fetchall()
    return {
        run_id: CRASHED_MESSAGE.format(pid=pid, hostname=hostname)
        for run_id, pid, started_at in rows
        if pid is not None and not process_alive(pid, started_at)
    }


def mark_crashed(conn: sqlite3.Connection, crashed: dict[str, str]) -> bool:
    """Persist the CRASHED state of ``crashed`` runs; False if the file is not writable.

    Only rows still RUNNING are changed, so a run that finished meanwhile
    keeps its real final state.
    """
    if not crashed:
        return True
    rows: Iterable[tuple[str, str]] = [(message, run_id) for run_id, message in crashed.items()]
    try:
        schema.write_transaction(
            conn,
            lambda c: c.executemany(
                "UPDATE flow_runs SET state_type = 'CRASHED', state_name = 'Crashed', "
                "error = COALESCE(error, ?) WHERE id = ? AND state_type = 'RUNNING'",
                rows,
            ),
        )
    except sqlite3.Error:
        return False
    return True


__all__ = ["find_crashed", "mark_crashed", "process_alive"]
