"""Settings read from the environment.

Every setting is read when it is asked for, never at import time, so a test
(or a long-lived process) can change an environment variable and see the new
value on the next call. Stdlib only: the engine imports this on every run.

=================  ==========================  =============================
variable           function                    default
=================  ==========================  =============================
LEGATO_HOME        :func:`legato_home`         ``~/.legato``
LEGATO_DATABASE    :func:`database_path`       ``$LEGATO_HOME/history.db``
LEGATO_HISTORY     :func:`history_enabled`     on
LEGATO_PROGRESS    :func:`progress_enabled`    on
LEGATO_FULL_TRACEBACKS  :func:`full_tracebacks`  off
=================  ==========================  =============================

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


def _switch(name: str, default: bool = True) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in _OFF_WORDS


__all__ = [
    "CLI_PARAMETERS_ENV",
    "ENTRYPOINT_ENV",
    "database_path", "full_tracebacks", "history_enabled", "legato_home", "progress_enabled"]
