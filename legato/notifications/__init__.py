"""Tell people when a flow fails: ``legato.notify(url)`` and ``LEGATO_NOTIFY``.

::

    @flow(on_failure=[notify("slack://T000/B000/XXXX")], on_crashed=[notify("slack://...")])
    def nightly(): ...

    LEGATO_NOTIFY="json://127.0.0.1:8000/ ntfy://alerts" python nightly.py    # every flow of the process

A notifier is a flow hook: called as ``hook(flow, run, state)`` it sends one
message when the state's name is one of ``on`` (default Failed, Crashed,
TimedOut), and, if ``"Recovered"`` is in ``on``, when a flow completes after
its previous run (of the same run key if the run has one, else of the same
flow) failed or crashed. URLs are apprise's, so Slack, Teams, Discord,
e-mail, ntfy, PagerDuty and JSON webhooks all work (``pip install
'legato[notify]'``).

``LEGATO_NOTIFY`` holds URLs separated by spaces or by commas that start a
new URL (apprise URLs may hold commas of their own, as in ``mailto://...?to=a,b``);
``LEGATO_NOTIFY_ON`` the events (comma separated, default as above) and
``LEGATO_NOTIFY_TIMEOUT`` the bound in seconds (default 5). They apply to
every top-level flow run of the process (not to subflows, whose failure
reaches their parent); a URL a hook of the flow already notified for the
same run is not notified twice.

Sending never raises and never holds the flow longer than the bound; a
message that could not be sent is logged on the run's logger, so it is also
a line in the run's history (``legato runs logs <id>``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from legato.notifications.sending import DEFAULT_TIMEOUT, INSTALL_HINT, check_url, redacted, send

from legato import config
from legato.core.contracts import RunObserver

DEFAULT_EVENTS = ("Failed", "Crashed", "TimedOut")
RECOVERED = "Recovered"
NOTIFY_ENV = "LEGATO_NOTIFY"
EVENTS_ENV = "LEGATO_NOTIFY_ON"
TIMEOUT_ENV = "LEGATO_NOTIFY_TIMEOUT"

logger = logging.getLogger("legato.notifications")

_URL_SPLIT = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
#: (run id, url) pairs hooks have notified, so LEGATO_NOTIFY does not repeat them for that run
_sent_lock = threading.Lock()
_sent_by_hooks: set[tuple[str, str]] = set()


class Notifier:
    """A flow hook that sends a message about the run's final state (see :func:`notify`)."""

    def __init__(self, urls: Sequence[str], on: Iterable[str], timeout: float) -> None:
        self.urls = list(urls)
        self.on = frozenset(event.lower() for event in on)
        self.timeout = timeout
        self.__name__ = "notify"

    def __call__(self, flow: Any, run: Any, state: Any) -> None:
        if deliver(self.urls, self.on, self.timeout, flow, run, state) and config.notify_urls():
            with _sent_lock:
                _sent_by_hooks.update((run.id, url) for url in self.urls)

    def __repr__(self) -> str:
        return f"notify({', '.join(map(redacted, self.urls))})"


def notify(url: str | Sequence[str], *, on: Iterable[str] = DEFAULT_EVENTS, timeout: float = DEFAULT_TIMEOUT) -> Notifier:
    """A flow hook sending an apprise notification when the run ends in one of ``on``.

    Use it in ``on_failure=[...]``, ``on_crashed=[...]`` or ``on_completion=[...]``
    (with ``"Completed"`` or ``"Recovered"`` in ``on``). ``timeout`` bounds
    the time it may hold the flow, retries included. The URLs are checked
    now, so a typo fails at import, not at 3 a.m.; without apprise this
    raises ImportError naming ``pip install 'legato[notify]'``.
    """
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ValueError("notify() needs at least one URL")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    for one in urls:
        check_url(one)
    return Notifier(urls, on, timeout)


def deliver(urls: Sequence[str], on: frozenset[str], timeout: float, flow: Any, run: Any, state: Any) -> bool:
    """Send the message ``state`` calls for, if any (True if one was due); log, never raise, what failed."""
    started = time.monotonic()  # the bound covers reading the history for the message too
    try:
        recovered = False
        if state.name.lower() not in on:
            recovered = RECOVERED.lower() in on and state.is_completed() and _previous_run_failed(run)
            if not recovered:
                return False
        from legato.notifications.message import flow_message

        message = flow_message(getattr(flow, "name", run.flow_name), run, state, recovered=recovered)
        failed = send(urls, message, max(0.0, timeout - (time.monotonic() - started)))
    except Exception:
        logger.exception("notification of flow run %r failed", getattr(run, "name", "?"))
        return True
    if failed:
        from legato.core.logs import flow_run_logger

        flow_run_logger(run).warning(
            "notification not sent within %.3g s to %s", timeout, ", ".join(map(redacted, failed))
        )
    return True


class EnvironmentNotifier(RunObserver):
    """The run observer that applies ``LEGATO_NOTIFY`` when a top-level flow run ends (after the history)."""

    def flow_run_finished(self, flow_run: Any, error: str | None) -> None:
        notify_at_end(None, flow_run, flow_run.state)


def open_environment_notifier(top_level: bool) -> EnvironmentNotifier | None:
    """An :class:`EnvironmentNotifier` when ``LEGATO_NOTIFY`` names a URL and the run is not a subflow."""
    return EnvironmentNotifier() if top_level and config.notify_urls().strip() else None


def notify_at_end(flow: Any, run: Any, state: Any) -> None:
    """Apply ``LEGATO_NOTIFY`` to a top-level flow run that just ended (the engine calls this)."""
    from legato.core.context import flow_run_context

    with _sent_lock:
        done = {url for run_id, url in _sent_by_hooks if run_id == run.id}
        _sent_by_hooks.difference_update((run.id, url) for url in done)
    if flow_run_context.get() is not None:  # a subflow: its parent reports
        return
    urls = [url for url in environment_urls() if url not in done]
    if urls:
        deliver(urls, environment_events(), environment_timeout(), flow, run, state)


def environment_urls(raw: str | None = None) -> list[str]:
    """The URLs of ``LEGATO_NOTIFY``, in order, without repeats."""
    raw = config.notify_urls() if raw is None else raw
    return list(dict.fromkeys(part for part in _URL_SPLIT.split(raw.strip()) if part))


def environment_events() -> frozenset[str]:
    raw = config.notify_events()
    events = [part.strip() for part in raw.split(",") if part.strip()] if raw else DEFAULT_EVENTS
    return frozenset(event.lower() for event in events)


def environment_timeout() -> float:
    raw = config.notify_timeout()
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        logger.warning("%s=%r is not a number; using %s s", TIMEOUT_ENV, raw, DEFAULT_TIMEOUT)
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def _previous_run_failed(run: Any) -> bool:
    """Did the run before this one (same run key, else same flow) end Failed or Crashed?"""
    try:
        from legato import config

        if not config.history_enabled():
            return False
        from legato.history.query import open_for_reading

        column, value = ("run_key", run.run_key) if run.run_key is not None else ("flow_name", run.flow_name)
        with open_for_reading(None) as conn:
            if conn is None:
                return False
            row = conn.execute(
                f"SELECT state_type FROM flow_runs WHERE {column} = ? AND id != ? AND started_at <= ? "
                "AND state_type IN ('COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED') ORDER BY started_at DESC LIMIT 1",
                (value, run.id, run.started_at or float("inf")),
            ).fetchone()
    except Exception as exc:
        logger.debug("could not read the previous run of %s: %s", run.id, exc)
        return False
    return row is not None and row[0] in ("FAILED", "CRASHED")


__all__ = ["DEFAULT_EVENTS", "INSTALL_HINT", "Notifier", "environment_urls", "notify", "notify_at_end"]
