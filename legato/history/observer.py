"""The run history as a run observer of the engine, when history is on.

The engine tells its observers (:class:`legato.core.contracts.RunObserver`)
when a run with edges is created and when a batch of runs has settled, and
:mod:`legato.wiring` tells them when the flow run finishes; this module turns
that into the history recorder's calls: keyword calls for flow runs, and a
sink of run objects (and edges) for task runs, whose rows the history's
writer thread builds in bulk with :func:`_task_rows`. The
history package (SQLite) is imported only here, only when history is enabled,
and one recorder is shared by all flow runs of the process.
"""

from __future__ import annotations

import logging
import operator
import threading
from collections.abc import Sequence
from typing import Any

from legato.core.contracts import RunObserver
from legato.core.errors import format_error
from legato.core.states import StateType
from legato.core.graph import shared_identity
from legato.history.chunks import ROW_FIELDS, FromMapIndex

_lock = threading.Lock()
_recorders: dict[str, Any] = {}


class RunRecorder(RunObserver):
    """Adapts engine objects to :class:`legato.history.HistoryRecorder` calls."""

    __slots__ = ("history", "flow_run_id", "_runs", "_edges")

    def __init__(self, history: Any, flow_run_id: str) -> None:
        self.history = history
        self.flow_run_id = flow_run_id
        sink = history.task_run_sink(flow_run_id, _task_rows)
        self._runs, self._edges = sink.runs, sink.edges

    def run_edges(self, run_id: str, upstream_ids: Sequence[str]) -> None:
        """Edges into a run, taken when it is created.

        Its upstreams are known then, and dropped when it settles; runs
        without edges (nearly all the runs of a big map) never come here.
        """
        self._edges.append((run_id, upstream_ids))

    def runs_settled(self, runs: list[Any]) -> None:
        """Settled runs, a batch at a time: one ``deque.extend`` on the hot path.

        Their rows are built in bulk on the history's writer thread.
        """
        self._runs.extend(runs)

    def flow_run_finished(self, run: Any, error: str | None) -> None:
        self.history.flow_run_finished(
            id=run.id, state_type=run.state.type.value, state_name=run.state.name, ended_at=run.ended_at, error=error
        )


#: where each row field (legato.history.chunks.ROW_FIELDS) is read on a settled task run:
#: public fields only (``last_state`` is the state behind ``TaskRun.state``, set on every
#: settled run and faster to read than the property; its ``type`` is a ``str`` enum, which
#: msgpack stores as its text without a ``.value`` call per run)
_SOURCES = {
    "id": "id", "name": "name", "task_name": "task.name", "map_index": "map_index",
    "state_type": "type", "state_name": "name", "attempts": "run_count",
    "started_at": "started_at", "ended_at": "ended_at",
}
#: the fields read on the run's ``last_state``, not on the run
_OF_STATE = frozenset({"state_type", "state_name"})
_ID, _NAME, _TASK_NAME, _STATE_TYPE = (ROW_FIELDS.index(name) for name in ("id", "name", "task_name", "state_type"))
_GETTERS = tuple(operator.attrgetter(_SOURCES[name]) for name in ROW_FIELDS)
_last_state = operator.attrgetter("last_state")


def _task_rows(runs: list[Any]) -> tuple[list[Any], dict[int, str], dict[int, list[str]]]:
    """History rows of settled task runs, by column, built on the writer thread.

    See ``HistoryRecorder.task_run_sink``. Each column is one C-level pass
    over the runs and one list: no object per run, so thousands of rows do
    not set off the garbage collector over a graph of live runs. Only the
    rare runs with an error or tags take a Python step. When the runs are
    elements of one map with default ids and names, those two columns are
    the rule they follow (:class:`~legato.history.chunks.FromMapIndex`) and
    the task name is read once: making a string per id and per name was
    half of this function's time.
    """
    shared = shared_identity(runs)
    states = list(map(_last_state, runs))
    columns: list[Any] = []
    for position, name in enumerate(ROW_FIELDS):
        if position == _ID and shared.id_base is not None:
            columns.append(FromMapIndex(id_base=shared.id_base))
        elif position == _NAME and shared.task_name is not None:
            columns.append(FromMapIndex(name_prefix=shared.task_name, name_offset=shared.name_offset or 0))
        elif position == _TASK_NAME and shared.task_name is not None:
            columns.append([shared.task_name] * len(runs))
        else:
            columns.append(list(map(_GETTERS[position], states if name in _OF_STATE else runs)))
    errors = {}
    state_types = columns[_STATE_TYPE]
    if state_types.count(_COMPLETED) != len(state_types):  # in C; the loop only if some did not complete
        for i, state_type in enumerate(state_types):
            if state_type is not _COMPLETED and (message := _error_text(states[i])) is not None:
                errors[i] = message
    if shared.tags is not None:  # one map's elements, made together: their tags are its
        tags = dict.fromkeys(range(len(runs)), sorted(shared.tags)) if shared.tags else {}
    else:
        tags = {i: sorted(run.tags) for i, run in enumerate(runs) if run.tags} if any(map(_tags, runs)) else {}
    return columns, errors, tags


def _error_text(state: Any) -> str | None:
    if isinstance(state.data, BaseException):
        return format_error(state.data)
    return state.message or None


_tags = operator.attrgetter("tags")
_COMPLETED = StateType.COMPLETED


class RecentRuns:
    """The ids of the flow runs recorded in one database, the newest :data:`KEPT` of them.

    A set that forgets its oldest ids, so a process serving flows for months
    does not grow it forever; a log line arriving for a run that old (none
    does: a run's records arrive while it runs, or moments after) is dropped.
    """

    KEPT = 10_000

    def __init__(self) -> None:
        self._ids: dict[str, None] = {}

    def add(self, run_id: str) -> None:
        self._ids[run_id] = None
        if len(self._ids) > self.KEPT:
            del self._ids[next(iter(self._ids))]

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._ids


#: per database path, the runs its log handler files (see :func:`open_recorder`)
_runs_of: dict[str, RecentRuns] = {}


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
                runs = _runs_of[path] = RecentRuns()
                # run logs (flow, task and worker records carry flow_run_id) go to history too, each
                # database's handler taking only the runs recorded there
                logging.getLogger("legato").addHandler(RunLogHandler(history, runs=runs))
            _runs_of[path].add(run.id)
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
