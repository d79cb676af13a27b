"""Sending one message to some apprise URLs, bounded in time, never raising.

A flow that failed must still end promptly when the chat service is down,
so the whole send (every attempt and the pauses between them) runs on a
daemon thread and the caller waits for it at most ``timeout`` seconds. An
attempt that fails (apprise returns False, or raises) is tried again after
a short pause that doubles each time (0.2 s, 0.4 s, ...), while the deadline
allows. A thread still stuck in a socket when the deadline passes is
abandoned: it ends when apprise's own socket timeouts end it, and it cannot
keep the process alive (daemon).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from legato.notifications.message import Message

#: the default bound on one notification, all attempts included (``LEGATO_NOTIFY_TIMEOUT``)
DEFAULT_TIMEOUT = 5.0
ATTEMPTS = 3
FIRST_PAUSE = 0.2
INSTALL_HINT = "pip install 'legato[notify]'"

logger = logging.getLogger("legato.notifications")


def load_apprise():  # type: ignore[no-untyped-def]
    """The apprise module, or ImportError naming the pip line."""
    try:
        import apprise
    except ImportError as exc:
        raise ImportError(f"notifications need apprise: {INSTALL_HINT}") from exc
    return apprise


def check_url(url: str) -> None:
    """Raise ValueError if apprise does not understand ``url`` (ImportError if apprise is missing)."""
    apprise = load_apprise()
    if apprise.Apprise.instantiate(url) is None:
        raise ValueError(f"not a notification URL apprise understands: {redacted(url)!r}")


def redacted(url: str) -> str:
    """A URL fit for a log line: its scheme and host, no tokens or passwords."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "<url>"
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if scheme.lower() in {"json", "jsons", "form", "forms", "xml", "xmls", "ntfy", "ntfys"}:
        return f"{scheme}://{host}/..."
    return f"{scheme}://..."


def send(urls: Sequence[str], message: Message, timeout: float = DEFAULT_TIMEOUT,
         sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Send ``message`` to every URL within ``timeout`` seconds; the URLs it could not reach."""
    results: dict[str, bool] = {}
    deadline = time.monotonic() + timeout

    def work() -> None:
        for url in urls:
            results[url] = _send_one(url, message, deadline, sleep)

    thread = threading.Thread(target=work, name="legato-notify", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    return [url for url in urls if not results.get(url, False)]


def _send_one(url: str, message: Message, deadline: float, sleep: Callable[[float], None]) -> bool:
    try:
        apprise = load_apprise()
    except ImportError as exc:
        logger.error("%s", exc)
        return False
    pause = FIRST_PAUSE
    for attempt in range(1, ATTEMPTS + 1):
        try:
            client = apprise.Apprise()
            if not client.add(url):
                logger.error("not a notification URL apprise understands: %s", redacted(url))
                return False
            if client.notify(title=message.title, body=message.body, notify_type=message.kind):
                return True
        except Exception as exc:  # a plugin's bug must not reach the flow
            logger.debug("notification attempt %d to %s raised: %s", attempt, redacted(url), exc)
        if attempt == ATTEMPTS or time.monotonic() + pause >= deadline:
            return False
        sleep(pause)
        pause *= 2
    return False


__all__ = ["DEFAULT_TIMEOUT", "INSTALL_HINT", "check_url", "load_apprise", "redacted", "send"]
