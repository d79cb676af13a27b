"""Where artifacts, schedules and limits plug into the web view (and anything after them).

Two kinds of extension, both registered at import time of the feature's own
module (the web view imports ``legato.ui.extensions`` entry points listed in
:data:`EXTENSION_MODULES` when it builds the app, skipping any not installed):

* :func:`add_page` adds a top-level page with a link in the navigation bar,
  e.g. *Schedules* with a POST route to pause one. Its routes are Starlette
  routes; state-changing ones must be POST and are CSRF-checked by
  :mod:`legato.ui.security` before they run (forms include
  ``{{ csrf_field() }}``; read them with :func:`form_fields`; scripts send the ``X-CSRF-Token`` header from the
  page's ``<meta name="csrf-token">``).
* :func:`add_run_section` adds a section to a run's page, e.g. *Artifacts*:
  a function ``(request, run) -> Markup | str | None`` whose result is placed
  after the logs. A plain ``str`` is escaped; return
  ``markupsafe.Markup`` only for HTML you built with escaping
  (``markupsafe.escape`` of every value from a run).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: modules imported (if present) when the app is built, so features register themselves
EXTENSION_MODULES: list[str] = [
    "legato.artifacts.ui",
    "legato.schedules.ui",
    "legato.limits.ui",
]


@dataclass(frozen=True)
class Page:
    title: str
    path: str
    routes: Sequence[Any]


@dataclass(frozen=True)
class RunSection:
    title: str
    render: Callable[[Any, Any], Any]


_pages: list[Page] = []
_sections: list[RunSection] = []


def add_page(title: str, path: str, routes: Sequence[Any]) -> None:
    """A page linked from the navigation as ``title`` at ``path``, served by ``routes``."""
    if not path.startswith("/"):
        raise ValueError(f"a page path starts with '/': {path!r}")
    if any(page.path == path for page in _pages):
        return
    _pages.append(Page(title, path, list(routes)))


def add_run_section(title: str, render: Callable[[Any, Any], Any]) -> None:
    """A section titled ``title`` on every run's page, rendered by ``render(request, run)``."""
    if not any(section.title == title for section in _sections):
        _sections.append(RunSection(title, render))


def pages() -> list[Page]:
    return list(_pages)


def run_sections() -> list[RunSection]:
    return list(_sections)


def load_installed() -> None:
    """Import the feature modules that exist, so they register their pages and sections."""
    for name in EXTENSION_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise


async def form_fields(request: Any) -> dict[str, str]:
    """A POSTed ``application/x-www-form-urlencoded`` form as a dict (no multipart package needed)."""
    from urllib.parse import parse_qsl

    body = await request.body()
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def clear() -> None:
    """Forget every registration (for tests)."""
    _pages.clear()
    _sections.clear()


__all__ = ["EXTENSION_MODULES", "Page", "RunSection", "add_page", "add_run_section", "form_fields", "load_installed", "pages", "run_sections"]
