"""How the task runs of a flow take part in the transaction they were created in.

The engine tells the transaction (the core's ``run_scope`` when the run was
created) three things, all in the flow's process, whatever the runner:

* ``run_created``: the run gets its own child transaction (what
  ``get_transaction()`` returns inside its body, when the body runs in the
  flow's process: threads, sync, direct calls);
* ``defer_store``: the record a completed, persisting run would write now is
  written when its transaction commits instead (so a rolled-back run leaves
  no record, and nobody reads one before the commit: READ_COMMITTED);
* ``run_settled``: a Completed run joins the transaction, staging its task's
  ``on_commit``/``on_rollback`` hooks; a Cached one joins as committed (no
  hooks: its work was done before); a Failed, Crashed or Cancelled one rolls
  the transaction back, at once (the hooks of the runs that completed in it
  run, last first). Only final states count: a failed attempt that a retry
  makes good rolls nothing back. A run that completes in a transaction that
  has already rolled back (it was still running when another failed) is
  rolled back as it completes, so what it did is undone too (Prefect runs no
  hook for it).

On a worker process (processes, Dask, Ray) the task body sees no
transaction (``get_transaction()`` is None there); its hooks still run, in
the flow's process, once its result has come back.
"""

from __future__ import annotations

from typing import Any

from legato.core import states as S
from legato.core.context import task_run_context
from legato.results import manager as results_manager

#: each running task run's own transaction, by run id (the body looks its own up here)
_own: dict[str, Any] = {}
_ROLLS_BACK = (S.StateType.FAILED, S.StateType.CRASHED, S.StateType.CANCELLED)


def run_created(scope: Any, run: Any) -> None:
    child = type(scope)(commit_mode=scope.commit_mode, isolation_level=scope.isolation_level, logger=scope.logger)
    child._parent = scope
    child._lock = scope._lock
    child.state = child.state.ACTIVE
    child.task_run_name = run.name
    with scope._runs_condition:
        scope._runs.add(run)
    _own[run.id] = child
    results_manager.deferred_runs.add(run.id)  # its record is written at commit, never by a worker


def defer_store(run: Any, write: Any) -> bool:
    """Keep the record write of a completing run for its transaction's commit; False if it has none."""
    child = _own.get(run.id)
    if child is None:
        return False
    child._writes.append(write)
    return True


def run_settled(scope: Any, run: Any, state: Any) -> None:
    child = _own.pop(run.id, None)
    results_manager.deferred_runs.discard(run.id)
    try:
        if child is None or state is None:
            return
        kind = state.type
        if kind is S.StateType.COMPLETED:
            if state.name == "Cached":
                child.state = child.state.COMMITTED
            else:
                task = run.task
                child.stage(None, on_rollback_hooks=list(getattr(task, "on_rollback", ()) or ()),
                            on_commit_hooks=list(getattr(task, "on_commit", ()) or ()))
            scope.add_child(child)
            if scope.is_rolled_back():  # it finished after another run failed: undo it too, now
                child.rollback()
        elif kind in _ROLLS_BACK:
            child.rollback()
            scope.add_child(child)
            scope.rollback()
    finally:
        with scope._runs_condition:
            scope._runs.discard(run)
            scope._runs_condition.notify_all()


def await_runs(scope: Any) -> None:
    """Wait until every task run created in the block has settled and joined (or rolled back) ``scope``."""
    condition = scope._runs_condition
    while True:
        with condition:
            pending = list(scope._runs)
        if not pending:
            return
        for run in pending:
            run.engine.wait_run(run, None)
        with condition:  # settled; the engine tells the scope right after: a short wait
            condition.wait_for(lambda: not (scope._runs & set(pending)), timeout=5.0)


def current_run_transaction() -> Any:
    """The own transaction of the task run whose body runs here (in the flow's process), or None."""
    context = task_run_context.get()
    if context is None or not _own:
        return None
    return _own.get(getattr(context.task_run, "id", None))


__all__ = ["await_runs", "current_run_transaction", "defer_store", "run_created", "run_settled"]
