"""OpenTelemetry traces: a span per flow run and per task run (``pip install 'legato[otel]'``).

Spans go to the ``TracerProvider`` the application configured (in code, or
with ``opentelemetry-instrument`` and the standard ``OTEL_*`` variables).
Tracing is on only when ``opentelemetry.trace`` is already imported and its
provider is a real one, so it costs nothing otherwise: legato never imports
OpenTelemetry itself (its import alone takes ~120 ms), and a flow run checks
one ``sys.modules`` entry. ``LEGATO_TRACING=0`` turns it off regardless.

* The flow run's span starts when the run begins and is made current in the
  flow's thread, so spans the body makes, and subflows, nest under it.
* Task run spans are children of their flow run's span. They are emitted
  in bulk when the flow run ends, with each run's recorded start and end
  times (``started_at``/``ended_at``), from the batches the engine hands to
  its recorder: the engine's hot path gains one ``deque.extend`` per batch,
  as for the history, and nothing when tracing is off.

Attributes: ``legato.flow.name``, ``legato.flow_run.id``/``.name``,
``legato.run_key``, ``legato.task.name``, ``legato.task_run.id``/``.name``,
``legato.map_index``, ``legato.attempts``, ``legato.state.type``/``.name``;
a failed run's span has status ERROR and its exception as an event.

Not done: the trace context is not carried into task code, so spans a task
makes itself (on a thread or in a worker) do not join the flow's trace.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from typing import Any

from legato import config
from legato.core.contracts import RunObserver

logger = logging.getLogger("legato.tracing")
INSTALL_HINT = "pip install 'legato[otel]'"
_TRACER_NAME = "legato"
_provider: Any = None  # see use_tracer_provider


def use_tracer_provider(provider: Any) -> None:
    """Send legato's spans to ``provider`` instead of the global one (None: back to the global one).

    For applications and tests that keep a provider of their own rather than
    calling ``opentelemetry.trace.set_tracer_provider`` (which can be done
    only once per process).
    """
    global _provider
    _provider = provider


def tracing_enabled() -> bool:
    """Is an OpenTelemetry provider configured in this process (and tracing not turned off)?"""
    if _provider is None and "opentelemetry.trace" not in sys.modules:
        return False
    if not config.tracing_allowed():
        return False
    if _provider is not None:
        return True
    trace = sys.modules["opentelemetry.trace"]
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def open_tracer(run: Any) -> Any:
    """A run observer that traces ``run``, or None when tracing is off (see :func:`tracing_enabled`)."""
    if not tracing_enabled():
        return None
    try:
        return TracingObserver(run)
    except Exception:  # tracing must never stop a flow
        logger.warning("could not start a trace for flow run %r", getattr(run, "name", "?"), exc_info=True)
        return None


class TracingObserver(RunObserver):
    """Keeps the settled task runs of one flow run; when it ends, emits their spans under the flow's."""

    def __init__(self, run: Any) -> None:
        from opentelemetry import context, trace

        self.flow_run_id = run.id
        self._runs: deque[Any] = deque()
        self._tracer = _provider.get_tracer(_TRACER_NAME) if _provider is not None else trace.get_tracer(_TRACER_NAME)
        self._span = self._tracer.start_span(
            f"flow {run.flow_name}", start_time=_ns(run.started_at), attributes=_flow_attributes(run)
        )
        self._token = context.attach(trace.set_span_in_context(self._span))

    def runs_settled(self, runs: list[Any]) -> None:
        self._runs.extend(runs)

    def flow_run_finished(self, run: Any, error: str | None) -> None:
        try:
            self._finish(run)
        except Exception:
            logger.warning("could not finish the trace of flow run %r", run.name, exc_info=True)

    def _finish(self, run: Any) -> None:
        from opentelemetry import context, trace

        parent = trace.set_span_in_context(self._span)
        for task_run in self._runs:
            start = task_run.started_at if task_run.started_at is not None else task_run.ended_at
            span = self._tracer.start_span(f"task {task_run.name}", context=parent, start_time=_ns(start),
                                           attributes=_task_attributes(task_run, run))  # fmt: skip
            _set_outcome(span, task_run.state)
            span.end(end_time=_ns(task_run.ended_at))
        self._runs.clear()
        self._span.set_attributes(_state_attributes(run.state))
        _set_outcome(self._span, run.state)
        self._span.end(end_time=_ns(run.ended_at))
        try:
            context.detach(self._token)
        except Exception:  # ended in another context (an async flow's thread): nothing to restore there
            pass


def _flow_attributes(run: Any) -> dict[str, Any]:
    attributes = {"legato.flow.name": run.flow_name, "legato.flow_run.id": run.id, "legato.flow_run.name": run.name}
    if run.run_key is not None:
        attributes["legato.run_key"] = str(run.run_key)
    return attributes


def _task_attributes(task_run: Any, flow_run: Any) -> dict[str, Any]:
    attributes = {
        "legato.task.name": task_run.task.name, "legato.task_run.id": task_run.id,
        "legato.task_run.name": task_run.name, "legato.flow_run.id": flow_run.id,
        "legato.attempts": int(task_run.run_count), **_state_attributes(task_run.state),
    }  # fmt: skip
    if task_run.map_index is not None:
        attributes["legato.map_index"] = int(task_run.map_index)
    return attributes


def _state_attributes(state: Any) -> dict[str, Any]:
    return {"legato.state.type": str(state.type.value), "legato.state.name": str(state.name)}


def _set_outcome(span: Any, state: Any) -> None:
    from opentelemetry.trace import Status, StatusCode

    if state.is_completed():
        span.set_status(Status(StatusCode.OK))
        return
    if state.is_failed() or state.is_crashed():
        if isinstance(state.data, BaseException):
            span.record_exception(state.data)
        span.set_status(Status(StatusCode.ERROR, state.message or state.name))


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1e9)


__all__ = ["INSTALL_HINT", "TracingObserver", "open_tracer", "tracing_enabled", "use_tracer_provider"]
