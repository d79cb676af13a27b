"""A worker that dies with a batch of map elements is logged and counted (issue 14, failure 5)."""

from __future__ import annotations

import logging
import re

import pytest
from crash_tasks import executions, kill_worker_once
from log_capture import WarningMessages

from legato import flow, unmapped
from legato.history import list_runs, task_runs
from legato.runners.processes import ProcessPoolTaskRunner

pytestmark = pytest.mark.timeout(60)


def test_a_batch_lost_with_its_worker_is_one_warning_and_counted_attempts(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGATO_HISTORY", "1")
    folder = tmp_path / "runs"
    folder.mkdir()
    records = WarningMessages()
    logging.getLogger("legato").addHandler(records)

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def pipeline(n: int) -> list[int]:
        return kill_worker_once.map(range(n), unmapped(150), unmapped(str(folder))).result()

    try:
        assert pipeline(400) == list(range(400))
    finally:
        logging.getLogger("legato").removeHandler(records)
    counts = executions(folder)
    assert sorted(counts) == list(range(400)) and counts[150] == 2
    lost = [m for m in records.messages if "batch" in m]
    assert len(lost) == 1, records.messages
    assert "processes" in lost[0]
    rerun = int(re.search(r"(\d+) map elements", lost[0]).group(1))
    assert rerun >= 2
    runs = {t.name: t for t in task_runs(list_runs(limit=1)[0].id)}
    twice = [name for name, t in runs.items() if t.attempts == 2]
    assert len(twice) == rerun  # every element of the lost batch: attempts 2
    assert all(t.attempts in (1, 2) and t.state_name == "Completed" for t in runs.values())
    # an element ran twice only if it was in the lost batch
    assert {i for i, c in counts.items() if c > 1} <= {int(name.rsplit("-", 1)[1]) for name in twice}
