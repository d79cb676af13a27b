"""Run logs from Dask and Ray workers, back in the flow process.

A task on a cluster worker logs (``get_run_logger()``, or ``print`` with
``log_prints``) inside a worker process whose output is not the user's
terminal, and whose records never reach the flow's run history. Each record
legato's logger makes there is turned into a plain dict (message already
formatted, exception as text, the run fields: :func:`as_event`), carried to
the flow process, and re-emitted there through the logger it came from
(:func:`reemit`), so the flow's own handlers, the history included, file it
under its run. The workers stop printing legato's records themselves.
Artifacts travel the same way (they are records with a payload, see
:mod:`legato.artifacts`).

How the dicts travel differs:

* **Dask** has a side channel for exactly this: a worker publishes events on
  a topic (``Worker.log_event``) and the scheduler hands them to every client
  subscribed to it (:func:`subscribe_dask`, when the runner starts). Events
  travel asynchronously: a record arrives shortly after the task that logged
  it, possibly after the flow run has returned.
* **Ray** has none that reaches a driver reliably (its forwarded worker
  output is lost when a short flow shuts Ray down first), so the records of
  a task ride back in the small status every Ray task returns
  (:func:`collected`, read by the runner when the status arrives).

Installing the worker side is a no-op after the first task in a process.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Any

DASK_TOPIC = "legato-run-logs"
_FIELDS = ("flow_run_id", "flow_run_name", "task_run_id", "task_run_name", "task_name", "flow_name")
_FORMATTER = logging.Formatter()
_installed = False
_install_lock = threading.Lock()
_collector: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "legato_worker_logs", default=None)


def as_event(record: logging.LogRecord) -> dict[str, Any]:
    """A log record as plain data that any backend can carry."""
    event: dict[str, Any] = {
        "name": record.name, "levelno": record.levelno, "levelname": record.levelname,
        "msg": record.getMessage(), "created": record.created,
        "exc_text": _FORMATTER.formatException(record.exc_info) if record.exc_info else None,
    }
    for field in _FIELDS:
        value = getattr(record, field, None)
        if value is not None:
            event[field] = str(value)
    artifact = getattr(record, "legato_artifact", None)
    if artifact is not None:  # an artifact travels as a record too (see legato.artifacts); its payload is plain data
        event["legato_artifact"] = artifact
    return event


def is_forwarding() -> bool:
    """Do this process's legato records go to a flow process (a Dask or Ray worker that ran a task)?"""
    return any(isinstance(handler, _Forwarder) for handler in logging.getLogger("legato").handlers)


def reemit(event: Any) -> None:
    """Hand a record that came from a worker to this process's logging, under the logger it came from."""
    if not isinstance(event, dict) or "name" not in event:
        return
    record = logging.makeLogRecord({**event, "args": None})
    if event.get("exc_text"):
        record.msg = f"{record.msg}\n{event['exc_text']}"
        record.exc_text = None
    logging.getLogger(str(event["name"])).handle(record)


class _Forwarder(logging.Handler):
    def __init__(self, publish: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self.publish = publish

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.publish(as_event(record))
        except Exception:  # no worker (anymore), or the scheduler is gone: nothing to tell
            pass


def _install(publish: Callable[[dict[str, Any]], None]) -> None:
    """Route legato's records in this worker process to ``publish`` instead of its stderr (once)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        logger = logging.getLogger("legato")
        logger.handlers[:] = [_Forwarder(publish)]
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        from legato.core import logs

        logs.mark_configured()  # a flow run on this worker must not add a stderr handler beside it
        _installed = True


# -- Dask


def _publish_to_dask(event: dict[str, Any]) -> None:
    from distributed import get_worker

    get_worker().log_event(DASK_TOPIC, event)


def forward_from_dask_worker() -> None:
    _install(_publish_to_dask)


def subscribe_dask(client: Any) -> None:
    """Re-emit in this process the records that the client's workers publish."""
    try:
        client.subscribe_topic(DASK_TOPIC, _reemit_dask_event)
    except Exception as error:  # an old scheduler without topics: logs stay on the workers
        logging.getLogger("legato.runners.dask").debug("cannot subscribe to worker logs: %r", error)


def _reemit_dask_event(event: Any) -> None:
    reemit(event[1] if isinstance(event, tuple) and len(event) == 2 else event)


# -- Ray


def _collect(event: dict[str, Any]) -> None:
    records = _collector.get()
    if records is not None:
        records.append(event)


def start_collecting() -> contextvars.Token[list[dict[str, Any]] | None]:
    """Collect the records made from here on in this context (one Ray task)."""
    _install(_collect)
    return _collector.set([])


def collected(token: contextvars.Token[list[dict[str, Any]] | None]) -> list[dict[str, Any]]:
    """The records collected since :func:`start_collecting`; stops collecting."""
    records = _collector.get() or []
    _collector.reset(token)
    return records


__all__ = ["as_event", "is_forwarding", "collected", "forward_from_dask_worker", "reemit", "start_collecting", "subscribe_dask"]
