"""The bridge from the engine to the run history, when history is on.

The engine calls three methods (flow started, task run final, flow finished);
this module turns them into the history recorder's plain keyword calls. The
history package (SQLite) is imported only here, only when history is enabled,
and one recorder is shared by all flow runs of the process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from legato.core.engine import format_error
from legato.core.states import StateType

_lock = threading.Lock()
_COMPLETED = StateType.COMPLETED
_recorders: dict[str, Any] = {}


class RunRecorder:
    """Adapts engine objects to :class:`legato.history.HistoryRecorder` calls."""

    __slots__ = ("history", "flow_run_id")

    def __init__(self, history: Any, flow_run_id: str) -> None:
        self.history = history
        self.flow_run_id = flow_run_id

    def task_run_finished(self, run: Any) -> None:
        """One small append on the hot path; rows are built in bulk on the history's writer thread."""
        upstream_ids = tuple(run.upstream_ids()) if (run.upstreams or run.wait_for) else ()
        self.history.task_run_finished_deferred(_task_rows, (run, self.flow_run_id, upstream_ids))

    def flow_run_finished(self, run: Any, error: str | None) -> None:
        self.history.flow_run_finished(
            id=run.id, state_type=run.state.type.value, state_name=run.state.name, ended_at=run.ended_at, error=error
        )


def _task_rows(items: list[tuple[Any, str, tuple[str, ...]]]) -> list[tuple[Any, ...]]:
    """History rows of settled task runs (on the writer thread: one tight loop for the common case)."""
    rows = []
    append = rows.append
    for run, flow_run_id, upstream_ids in items:
        state = run.state
        if state.data is None or state.type is _COMPLETED:
            message = state.message if state.name == "NotReady" else None
        else:
            message = format_error(state.data) if isinstance(state.data, BaseException) else None
        append((
            (run.id, flow_run_id, run.name, run.task.name, run.map_index, state.type.value, state.name,
             run.run_count, run.started_at, run.ended_at, message),
            tuple(sorted(run.tags)) if run.tags else (),
            upstream_ids,
        ))  # fmt: skip
    return rows


def open_recorder(run: Any, runner: Any) -> RunRecorder | None:
    """Record this flow run, unless history is off or unavailable."""
    try:
        from legato import config

        if not config.history_enabled():
            return None
        from legato.history import HistoryRecorder, RunLogHandler

        path = str(config.database_path())
        with _lock:
            history = _recorders.get(path)
            if history is None:
                history = _recorders[path] = HistoryRecorder(config.database_path())
                # run logs (flow, task and worker records carry flow_run_id) go to history too
                logging.getLogger("legato").addHandler(RunLogHandler(history))
        history.flow_run_started(
            id=run.id,
            name=run.name,
            flow_name=run.flow_name,
            parameters=run.parameters,
            run_key=run.run_key,
            runner=getattr(runner, "name", type(runner).__name__),
            tags=sorted(run.tags),
            started_at=run.started_at,
        )
        return RunRecorder(history, run.id)
    except ImportError:
        return None
    except Exception:  # history must never stop a flow from running
        logging.getLogger("legato.engine").warning("run history is unavailable", exc_info=True)
        return None
