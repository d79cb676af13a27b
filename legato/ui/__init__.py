"""``legato ui``: a local web view of the run history (runs, graphs, timelines, logs).

The web stack (Starlette, uvicorn, Jinja2) is the optional extra
``legato[ui]``; nothing here imports it until :func:`create_app` or
:func:`serve` is called, and a missing package raises
:class:`MissingUIDependencies` naming the ``pip install`` line.

Modules: :mod:`~legato.ui.app` builds the application, :mod:`~legato.ui.routes`
holds the pages, :mod:`~legato.ui.runview` reads and aggregates one run
(cached, incremental), :mod:`~legato.ui.layout` lays out the graph and the
timeline, :mod:`~legato.ui.security` is the token, host, CSRF and header
middleware, :mod:`~legato.ui.extensions` is where artifacts, schedules and
limits plug in, :mod:`~legato.ui.server` checks the address and runs uvicorn.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from legato.core.errors import LegatoError

PIP_LINE = "pip install 'legato[ui]'"
_REQUIRED = ("starlette", "uvicorn", "jinja2")


class MissingUIDependencies(LegatoError, ImportError):
    """The web view's packages are not installed."""


def require_dependencies() -> None:
    """Raise :class:`MissingUIDependencies` unless Starlette, uvicorn and Jinja2 import."""
    missing = [name for name in _REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingUIDependencies(f"legato ui needs {', '.join(missing)}: {PIP_LINE}")


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The Starlette application (see :func:`legato.ui.app.create_app`)."""
    require_dependencies()
    from legato.ui.app import create_app as create

    return create(*args, **kwargs)


def serve(*args: Any, **kwargs: Any) -> None:
    """Serve the web view with uvicorn (see :func:`legato.ui.server.serve`)."""
    require_dependencies()
    from legato.ui.server import serve as run

    run(*args, **kwargs)


__all__ = ["PIP_LINE", "MissingUIDependencies", "create_app", "require_dependencies", "serve"]
