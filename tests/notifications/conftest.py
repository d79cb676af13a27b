"""A real HTTP server on loopback that keeps the JSON bodies posted to it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.arrived = threading.Event()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, str]]:
    """An inbox and its ``json://127.0.0.1:PORT/`` URL."""
    box = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            box.messages.append(json.loads(self.rfile.read(length)))
            box.arrived.set()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box, f"json://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A ``json://`` URL whose server accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"json://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


@pytest.fixture
def closed_url() -> str:
    """A ``json://`` URL on a loopback port nothing listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"json://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path / "home"))
    for name in ("LEGATO_DATABASE", "LEGATO_HISTORY", "LEGATO_NOTIFY", "LEGATO_NOTIFY_ON", "LEGATO_NOTIFY_TIMEOUT",
                 "LEGATO_ENTRYPOINT", "LEGATO_CLI_PARAMETERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEGATO_PROGRESS", "0")
