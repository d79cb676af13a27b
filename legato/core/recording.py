"""The bridge from the engine to the run history, when history is on.

The engine calls three methods (flow started, task run final, flow finished);
this module turns them into the history recorder's plain keyword calls. The
history package (SQLite) is imported only here, only when history is enabled,
and one recorder is shared by all flow runs of the process.
"""

from __future__ import annotations

import functools
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
        """One append on the hot path; the row is built on the history's writer thread."""
        upstream_ids = tuple(run.upstream_ids()) if (run.upstreams or run.wait_for) else ()
        self.history.task_run_finished_deferred(functools.partial(_task_row, run, self.flow_run_id, upstream_ids))

    def flow_run_finished(self, run: Any, error: str | None) -> None:
        self.history.flow_run_finished(
            id=run.id, state_type=run.state.type.value, state_name=run.state.name, ended_at=run.ended_at, error=error
        )


def _task_row(run: Any, flow_run_id: str, upstream_ids: tuple[str, ...]) -> tuple[tuple[Any, ...], tuple[str, ...], tuple[str, ...]]:
    """The history row of a settled task run (called on the writer thread, so kept lean)."""
    state = run.state
    data = state.data
    if isinstance(data, BaseException):
        message: str | None = _format_error(data)
    else:
        message = state.message if state.name == "NotReady" else None
    row = (
        run.id, flow_run_id, run.name, run.task.name, run.map_index, state.type.value, state.name,
        run.run_count, run.started_at, run.ended_at, message,
    )  # fmt: skip
    return row, (tuple(sorted(run.tags)) if run.tags else ()), upstream_ids


def _format_error(error: BaseException) -> str | None:
    from legato.core.engine import format_error

    return format_error(error)


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
