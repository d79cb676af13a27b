"""The history of a big map of compact elements reads back as the task runs themselves say."""

from __future__ import annotations

import legato.history
from legato import flow, task
from legato.core.context import get_run_context
from legato.runners.threads import ThreadPoolTaskRunner


@task
def noop(x: int) -> int:
    return x


def test_a_10k_map_history_reads_back_its_runs_ids_names_states_and_times(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path))
    monkeypatch.setenv("LEGATO_HISTORY", "1")
    kept: dict[str, object] = {}

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
    def big(n: int) -> int:
        futures = noop.map(range(n))
        futures.wait()
        kept["flow_run_id"] = get_run_context().flow_run.id
        kept["runs"] = [f.task_run for f in futures]
        return len(futures)

    assert big(10_000) == 10_000
    runs = kept["runs"]
    records = {r.id: r for r in legato.history.task_runs(kept["flow_run_id"])}
    assert len(records) == 10_000
    for run in runs:
        record = records[run.id]
        assert (record.name, record.task_name, record.map_index) == (run.name, "noop", run.map_index)
        assert (record.state_type, record.state_name, record.attempts) == ("COMPLETED", "Completed", 1)
        assert (record.started_at, record.ended_at) == (run.started_at, run.ended_at)
        assert record.error is None and record.tags == []
