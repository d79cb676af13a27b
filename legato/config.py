"""Settings read from the environment.

Every setting is read when it is asked for, never at import time, so a test
(or a long-lived process) can change an environment variable and see the new
value on the next call. Stdlib only: the engine imports this on every run.

=======================  =============================  ============================
variable                 function                       default
=======================  =============================  ============================
LEGATO_HOME              :func:`legato_home`            ``~/.legato``
LEGATO_DATABASE          :func:`database_path`          ``$LEGATO_HOME/history.db``
LEGATO_HISTORY           :func:`history_enabled`        on
LEGATO_PROGRESS          :func:`progress_enabled`       on
LEGATO_BATCHING          :func:`batching_enabled`       on
LEGATO_PERSIST_RESULTS   :func:`persist_results`        off
LEGATO_REFRESH_CACHE     :func:`refresh_cache`          off
LEGATO_TASK_RUNNER       :func:`task_runner_override`   none (the flow's own runner)
LEGATO_LOGGING_LEVEL     :func:`logging_level`          ``INFO``
LEGATO_RESULTS_KEY       :func:`results_key`            none (``$LEGATO_HOME/results.key``)
LEGATO_FULL_TRACEBACKS   :func:`full_tracebacks`        off
LEGATO_TRACING           :func:`tracing_allowed`        on (when a provider is configured)
LEGATO_NOTIFY            :func:`notify_urls`            none
LEGATO_NOTIFY_ON         :func:`notify_events`          Failed, Crashed, TimedOut
LEGATO_NOTIFY_TIMEOUT    :func:`notify_timeout`         5 (seconds)
LEGATO_INFLATE_MAX_RATIO :func:`inflate_limit`          100
LEGATO_INFLATE_MAX_BYTES :func:`inflate_limit`          1 GiB
=======================  =============================  ============================

:data:`SETTINGS` lists them; a test checks the README's table against it.

``LEGATO_ENTRYPOINT`` and ``LEGATO_CLI_PARAMETERS`` are not settings but a
hand-over from ``legato run`` to the history recorder (see below).

Switches are off when set to ``0``, ``false``, ``no`` or ``off`` (any case);
any other value, or an empty one, leaves them on.
"""

from __future__ import annotations

import os
from pathlib import Path

_OFF_WORDS = frozenset({"0", "false", "no", "off"})

#: Set by ``legato run`` for the flow it calls: the ``path/to/file.py:flow_name``
#: it was started from. The history recorder claims (reads and removes) it for
#: the first flow run started afterwards, so ``legato resume`` can rerun it.
ENTRYPOINT_ENV = "LEGATO_ENTRYPOINT"
#: Set alongside :data:`ENTRYPOINT_ENV`: a JSON object of the raw ``--param`` strings.
CLI_PARAMETERS_ENV = "LEGATO_CLI_PARAMETERS"


def legato_home() -> Path:
    """The folder legato keeps its files in; created on first use."""
    raw = os.environ.get("LEGATO_HOME", "").strip()
    home = Path(raw).expanduser() if raw else Path.home() / ".legato"
    home.mkdir(parents=True, exist_ok=True)
    return home


def database_path() -> Path:
    """The SQLite file that run history is written to.

    Only ``LEGATO_HOME`` is created here; the folder of an explicit
    ``LEGATO_DATABASE`` is created by whoever opens the file for writing.
    """
    raw = os.environ.get("LEGATO_DATABASE", "").strip()
    if raw:
        return Path(raw).expanduser()
    return legato_home() / "history.db"


def history_enabled() -> bool:
    """Whether runs are recorded to the history database."""
    return _switch("LEGATO_HISTORY")


def progress_enabled() -> bool:
    """Whether the engine shows a progress display while a flow runs."""
    return _switch("LEGATO_PROGRESS")


def full_tracebacks() -> bool:
    """Whether task tracebacks keep legato's own frames (for debugging legato itself)."""
    return _switch("LEGATO_FULL_TRACEBACKS", default=False)


def batching_enabled() -> bool:
    """Whether the engine sends the elements of a map to the runner in batches."""
    return _switch("LEGATO_BATCHING")


def persist_results() -> bool:
    """Whether every task run persists its result by default (Prefect's ``PREFECT_RESULTS_PERSIST_BY_DEFAULT``)."""
    return _switch("LEGATO_PERSIST_RESULTS", default=False)


def refresh_cache() -> bool:
    """Whether cached results are recomputed (and stored again) instead of read."""
    return _switch("LEGATO_REFRESH_CACHE", default=False)


def task_runner_override() -> str | None:
    """The runner name that replaces every flow's own ``task_runner``, if set."""
    return os.environ.get("LEGATO_TASK_RUNNER", "").strip() or None


def logging_level() -> str:
    """The level of legato's loggers (a name such as ``DEBUG``)."""
    return os.environ.get("LEGATO_LOGGING_LEVEL", "").strip().upper() or "INFO"


def results_key() -> str:
    """The key result records are signed with, when set here rather than in a key file ("" when unset)."""
    return os.environ.get("LEGATO_RESULTS_KEY", "")


def tracing_allowed() -> bool:
    """Whether legato traces flow runs when an OpenTelemetry provider is configured (see legato.tracing)."""
    return _switch("LEGATO_TRACING")


def notify_urls() -> str:
    """The apprise URLs every top-level flow run notifies, as written (see legato.notifications)."""
    return os.environ.get("LEGATO_NOTIFY", "")


def add_notify_urls(urls: list[str]) -> None:
    """Add URLs to ``LEGATO_NOTIFY`` for this process and its children (``legato run --notify``)."""
    os.environ["LEGATO_NOTIFY"] = " ".join([notify_urls(), *urls]).strip()


def notify_events() -> str:
    """The final states (comma separated) that ``LEGATO_NOTIFY`` sends for, as written ("" for the default)."""
    return os.environ.get("LEGATO_NOTIFY_ON", "").strip()


def notify_timeout() -> str:
    """The time bound, in seconds, of ``LEGATO_NOTIFY``'s sending, as written ("" for the default)."""
    return os.environ.get("LEGATO_NOTIFY_TIMEOUT", "").strip()


def inflate_limit(name: str) -> str:
    """``LEGATO_INFLATE_MAX_RATIO`` or ``LEGATO_INFLATE_MAX_BYTES`` as written: how far a compressed record may inflate."""
    if name not in ("LEGATO_INFLATE_MAX_RATIO", "LEGATO_INFLATE_MAX_BYTES"):
        raise ValueError(f"not an inflation limit: {name!r}")
    return os.environ.get(name, "").strip()


#: every setting: variable -> the function that reads it
SETTINGS = {
    "LEGATO_HOME": legato_home,
    "LEGATO_DATABASE": database_path,
    "LEGATO_HISTORY": history_enabled,
    "LEGATO_PROGRESS": progress_enabled,
    "LEGATO_BATCHING": batching_enabled,
    "LEGATO_PERSIST_RESULTS": persist_results,
    "LEGATO_REFRESH_CACHE": refresh_cache,
    "LEGATO_TASK_RUNNER": task_runner_override,
    "LEGATO_LOGGING_LEVEL": logging_level,
    "LEGATO_RESULTS_KEY": results_key,
    "LEGATO_FULL_TRACEBACKS": full_tracebacks,
    "LEGATO_TRACING": tracing_allowed,
    "LEGATO_NOTIFY": notify_urls,
    "LEGATO_NOTIFY_ON": notify_events,
    "LEGATO_NOTIFY_TIMEOUT": notify_timeout,
    "LEGATO_INFLATE_MAX_RATIO": inflate_limit,
    "LEGATO_INFLATE_MAX_BYTES": inflate_limit,
}


def _switch(name: str, default: bool = True) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in _OFF_WORDS


__all__ = [
    "CLI_PARAMETERS_ENV",
    "ENTRYPOINT_ENV",
    "SETTINGS",
    "batching_enabled", "database_path", "full_tracebacks", "history_enabled", "inflate_limit",
    "add_notify_urls", "notify_events", "notify_timeout", "notify_urls", "tracing_allowed", "legato_home", "logging_level", "persist_results",
    "progress_enabled", "refresh_cache", "results_key", "task_runner_override",
]
