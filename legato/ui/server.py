"""Serve the web view: check the address, settle the token, run uvicorn.

Safe by default: the server binds 127.0.0.1. A host that is not a loopback
address would show every run (parameters, errors, logs) to the network, so
it is refused unless a token is given; ``--token auto`` makes one and prints
it. A token is sent in clear over plain HTTP: on an untrusted network, put
the server behind TLS (an SSH tunnel to the loopback address is simplest).
"""

from __future__ import annotations

import ipaddress
import sys
import threading
import webbrowser
from pathlib import Path
from typing import TextIO

from legato.ui.security import new_token

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
AUTO_TOKEN = "auto"


class UnsafeAddress(ValueError):
    """A non-loopback host without a token."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) is only reachable from this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def settle_token(host: str, token: str | None) -> str | None:
    """The token the server requires: ``token``, a new one for ``"auto"``, or None on loopback.

    Raises :class:`UnsafeAddress` for a non-loopback ``host`` without a token.
    """
    if token == AUTO_TOKEN:
        return new_token()
    if token is not None:
        if len(token) < 16:
            raise UnsafeAddress("a token must be at least 16 characters (or use --token auto)")
        return token
    if not is_loopback(host):
        raise UnsafeAddress(
            f"refusing to serve the run history on {host}, which is not a loopback address, without a "
            "token: add --token auto (a new token is printed) or --token SECRET"
        )
    return None


def address(host: str, port: int, token: str | None) -> str:
    """The address to open in a browser (with ``?token=`` when one is needed)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/runs" + (f"?token={token}" if token else "")


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    token: str | None = None,
    open_browser: bool = False,
    db: Path | str | None = None,
    out: TextIO = sys.stderr,
) -> None:
    """Run the web view until interrupted."""
    required = settle_token(host, token)  # refuse an unsafe address before importing the web stack
    import uvicorn

    from legato.ui.app import create_app

    app = create_app(db, token=required, loopback_only=is_loopback(host))
    url = address(host, port, required)
    print(f"legato ui: serving the run history on {url}", file=out)
    if required and token == AUTO_TOKEN:
        print(f"legato ui: token {required} (send it as ?token= once, or as 'Authorization: Bearer')", file=out)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)


__all__ = ["AUTO_TOKEN", "DEFAULT_HOST", "DEFAULT_PORT", "UnsafeAddress", "address", "is_loopback", "serve", "settle_token"]
