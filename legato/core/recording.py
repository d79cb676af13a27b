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

_lock = threading.Lock()
_recorders: dict[str, Any] = {}


class RunRecorder:
    """Adapts engine objects to :class:`legato.history.HistoryRecorder` calls."""

    __slots__ = ("history", "flow_run_id")

    def __init__(self, history: Any, flow_run_id: str) -> None:
        self.history = history
        self.flow_run_id = flow_run_id

    def task_run_finished(self, run: Any) -> None:
        from legato.core.engine import format_error

        state = run.state
        error = state.data if isinstance(state.data, BaseException) else None
        self.history.task_run_finished(
            id=run.id,
            flow_run_id=self.flow_run_id,
            name=run.name,
            task_name=run.task.name,
            map_index=run.map_index,
            state_type=state.type.value,
            state_name=state.name,
            attempts=run.run_count,
            started_at=run.started_at,
            ended_at=run.ended_at,
            error=format_error(error) if error is not None else state.message if state.name == "NotReady" else None,
            upstream_ids=run.upstream_ids(),
            tags=sorted(run.tags),
        )

    def flow_run_finished(self, run: Any, error: str | None) -> None:
        self.history.flow_run_finished(
            id=run.id, state_type=run.state.type.value, state_name=run.state.name, ended_at=run.ended_at, error=error
        )


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
