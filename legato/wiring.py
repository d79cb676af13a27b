"""The one place that connects the core to the real runners, result store, history and progress.

:mod:`legato.core` declares what it needs (:mod:`legato.core.contracts`) and
imports none of the layers above it; ``import legato`` installs
:data:`SERVICES` here, and every flow call asks it for its runner, its result
store and its run observers. Each layer is imported only when a flow run
first needs it, so ``import legato`` stays light.

A test (or an embedding program) may install services of its own with
:func:`legato.core.contracts.install`.
"""

from __future__ import annotations

import logging
from typing import Any

from legato.core import contracts


class Services:
    """The real implementations of :class:`legato.core.contracts.Services`."""

    def validate_runner(self, spec: Any) -> None:
        from legato.runners import validate_runner_spec

        validate_runner_spec(spec)

    def resolve_runner(self, spec: Any) -> Any:
        from legato.runners import resolve_runner

        return resolve_runner(spec)

    def inline_runner(self) -> Any:
        """The runner of a task called outside any flow: this thread."""
        from legato.runners.sync import SyncTaskRunner

        return SyncTaskRunner()

    def render_run_key(self, run_key: Any, parameters: dict[str, Any]) -> str | None:
        if run_key is None:
            return None
        try:
            from legato.results import render_run_key
        except ImportError:
            return str(run_key(**parameters) if callable(run_key) else run_key)
        return render_run_key(run_key, parameters)

    def cache_policy_of(self, task: Any) -> Any:
        """``task.cache_policy`` as Prefect reads it (see :func:`legato.cache_policies.effective_policy`)."""
        from legato.cache_policies import effective_policy

        return effective_policy(task._user_cache_policy, task.cache_key_fn, task._user_persist_result,
                                task.result_storage_key)

    def open_results(self, flow: Any, flow_run: Any) -> Any:
        try:
            from legato.results import ResultsManager
        except ImportError:
            return None
        return ResultsManager.for_flow_run(flow, flow_run)

    def open_observers(self, flow_run: Any, runner: Any, top_level: bool) -> list[Any]:
        """In the order they hear of the end: the history recorder (when history is on), the tracer (when
        OpenTelemetry is configured), and for a top-level run the progress display and ``LEGATO_NOTIFY``'s
        notifier, last, so that its message can read the failed task runs from the history."""
        observers: list[Any] = []
        recorder = _open_recorder(flow_run, runner)
        if recorder is not None:
            observers.append(recorder)
        from legato.tracing import open_tracer  # None unless OpenTelemetry is imported and configured

        tracer = open_tracer(flow_run)
        if tracer is not None:
            observers.append(tracer)
        if top_level:
            import legato.progress as progress

            display = progress.open_progress(flow_run.name)
            if display is not None:
                observers.append(display)
        from legato.notifications import open_environment_notifier

        notifier = open_environment_notifier(top_level)
        if notifier is not None:
            observers.append(notifier)
        return observers

    def tag_limits(self) -> tuple[Any, Any]:
        from legato.scheduling.limits import acquire_tag_slots, release

        return acquire_tag_slots, release

    def to_deployment(self, flow: Any, name: str | None, options: dict[str, Any]) -> Any:
        from legato.scheduling.deployments import to_deployment

        return to_deployment(flow, name, **options)


def _open_recorder(flow_run: Any, runner: Any) -> Any:
    from legato import config

    if not config.history_enabled():  # the history package (msgpack, sqlite3) is not even imported
        return None
    try:
        from legato.history.observer import open_recorder
    except ImportError:
        return None
    except Exception:  # history must never stop a flow from running
        logging.getLogger("legato.engine").warning("run history is unavailable", exc_info=True)
        return None
    return open_recorder(flow_run, runner)


SERVICES = Services()


def install() -> None:
    contracts.install(SERVICES)


__all__ = ["SERVICES", "Services", "install"]
