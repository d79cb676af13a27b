"""``legato ui``: serve the run history as a local web page (the ``legato[ui]`` extra).

Kept apart from :mod:`legato.cli.app` so the web stack is imported only by
this command, after its options are checked.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from legato.cli.errors import UsageError


def ui(
    host: Annotated[str, typer.Option("--host", help="Address to bind; a non-loopback one needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 4200,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
    token: Annotated[
        Optional[str],
        typer.Option("--token", help="Require this token on every request ('auto' makes one and prints it).", show_default=False),
    ] = None,
) -> None:
    """Serve runs, graphs, timelines and logs as a local web page."""
    from legato import ui as web

    try:
        web.require_dependencies()
        from legato.ui.server import UnsafeAddress, serve
    except web.MissingUIDependencies as exc:
        raise UsageError(str(exc)) from exc
    try:
        serve(host, port, token=token, open_browser=open_browser)
    except UnsafeAddress as exc:
        raise UsageError(str(exc)) from exc
    except KeyboardInterrupt:
        pass


__all__ = ["ui"]
