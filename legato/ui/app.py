"""Build the web view's Starlette application: routes, templates, static files, the guard.

Templates are Jinja2 with autoescaping on for every template and every
string (``autoescape=True``, not by file extension), so a run's name, a
parameter or an error is always text in the page; nothing in the templates
marks run data safe.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from legato.history.errors import HistoryDatabaseError
from legato.ui import extensions, formatting
from legato.ui.runview import RunCache
from legato.ui.security import Guard, csrf_token

HERE = Path(__file__).resolve().parent


def create_app(
    db: Path | str | None = None, *, token: str | None = None, loopback_only: bool = True
) -> Any:
    """The ASGI app over the history database ``db`` (default: the configured one).

    ``token`` makes every request need it (see :mod:`legato.ui.security`);
    ``loopback_only`` answers only requests addressed to a loopback name.
    """
    from legato.ui import routes

    extensions.load_installed()
    app = Starlette(routes=[
        *routes.ROUTES,
        *[route for page in extensions.pages() for route in page.routes],
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ], exception_handlers={HistoryDatabaseError: _unreadable_history})  # fmt: skip
    app.state.db = Path(db) if db is not None else None
    app.state.cache = RunCache(app.state.db)
    app.state.templates = _environment()
    threading.Thread(target=_compile_templates, args=(app.state.templates,), daemon=True).start()
    return Guard(app, token=token, loopback_only=loopback_only)


def _unreadable_history(request: Request, exc: Exception) -> HTMLResponse:
    """A page saying what is wrong with the history (a damaged chunk, a locked file), not a bare 500."""
    return render(request, "error.html", status_code=500, page_title="History unreadable",
                  heading="History unreadable", message=str(exc))


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A template rendered with the request's helpers (query links, CSRF field, navigation)."""
    env: jinja2.Environment = request.app.state.templates
    token = csrf_token(request.scope)
    html = env.get_template(template).render(
        request=request,
        csrf_token=token,
        csrf_field=lambda: Markup('<input type="hidden" name="csrf_token" value="{}">').format(token),
        nav_pages=extensions.pages(),
        link=lambda **changes: _link(request, changes),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def _link(request: Request, changes: dict[str, Any]) -> str:
    """The current address with some query parameters changed (None removes one)."""
    params = dict(request.query_params)
    params.pop("partial", None)
    for name, value in changes.items():
        if value is None or value == "":
            params.pop(name, None)
        else:
            params[name] = str(value)
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def _compile_templates(env: jinja2.Environment) -> None:
    """Compile every template once, off the request path (~0.2 s the first page would pay)."""
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(formatting.TEMPLATE_GLOBALS)
    env.filters["e"] = escape
    return env


__all__ = ["create_app", "render"]
