"""The web view's guard: host check, access token, CSRF and security headers, in one ASGI middleware.

Every request passes through :class:`Guard`, in this order:

1. **Host.** Served on loopback without a token, only ``Host: localhost``,
   ``127.0.0.1`` or ``[::1]`` is answered: a page elsewhere that points a
   name of its own at 127.0.0.1 (DNS rebinding) gets 421, not the history.
2. **Token.** With a token, a request carries it as ``Authorization: Bearer
   TOKEN``, or as the cookie this middleware sets, or once as ``?token=TOKEN``:
   that answer is a redirect to the same address without it, setting an
   ``HttpOnly; SameSite=Strict`` cookie, so the token leaves the address bar
   and the browser's history. Anything else gets 401. Comparisons are
   constant-time.
3. **Cross-site requests.** A request that can change state (any method
   but GET, HEAD, OPTIONS) must come from this site (``Sec-Fetch-Site``,
   ``Origin``) and carry the server's CSRF token, as the ``X-CSRF-Token``
   header or a ``csrf_token`` form field. Pages get the token from
   :func:`csrf_token` (a ``<meta>`` tag and a hidden field in forms).
4. **Headers.** Every answer gets a Content-Security-Policy that allows
   only this server's own scripts and styles (no inline script, no inline
   event handler: a ``<script>`` or ``onerror=`` that got past escaping still
   would not run), ``nosniff``, no framing, no referrer, no caching.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "legato_ui"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 64 * 1024

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def new_token() -> str:
    """A fresh access token (32 random bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def csrf_token(scope: Scope) -> str:
    """The CSRF token a page puts in its forms (set on the scope by :class:`Guard`)."""
    return str(scope.get("legato_csrf", ""))


class Guard:
    """ASGI middleware; see the module docstring. ``token=None`` serves without one."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_only: bool) -> None:
        self.app = app
        self.token = token
        self.loopback_only = loopback_only
        self.csrf = secrets.token_urlsafe(32)
        self._cookie_value = _digest(token, "cookie") if token else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["legato_csrf"] = self.csrf
        headers = _headers(scope)
        send = _with_headers(send)
        if self.loopback_only and _host_name(headers.get("host", "")) not in LOOPBACK_NAMES:
            await _plain(send, 421, "This legato ui answers only to localhost, 127.0.0.1 or [::1].")
            return
        if self.token is not None:
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            given = [value for name, value in query if name == "token"]
            if given and _same(given[-1], self.token) and scope["method"] in SAFE_METHODS:
                await self._set_cookie_and_redirect(scope, query, send)
                return
            if not self._authorized(headers):
                await _plain(send, 401, "This legato ui needs its token: open the address `legato ui` printed.")
                return
        if scope["method"] not in SAFE_METHODS:
            receive = await self._check_csrf(scope, headers, receive, send)
            if receive is None:
                return
        await self.app(scope, receive, send)

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer ") and _same(bearer[7:].strip(), self.token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is no cookie
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and _same(morsel.value, self._cookie_value)

    async def _set_cookie_and_redirect(self, scope: Scope, query: list[tuple[str, str]], send: Send) -> None:
        rest = urlencode([(name, value) for name, value in query if name != "token"])
        path = "/" + str(scope["path"]).lstrip("/")  # never "//host": that would leave this site
        location = quote(path, safe="/") + (f"?{rest}" if rest else "")
        cookie = f"{COOKIE}={self._cookie_value}; HttpOnly; SameSite=Strict; Path=/"
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1", "replace")), (b"set-cookie", cookie.encode()),
            (b"content-length", b"0"),
        ]})  # fmt: skip
        await send({"type": "http.response.body", "body": b""})

    async def _check_csrf(self, scope: Scope, headers: dict[str, str], receive: Receive, send: Send) -> Receive | None:
        """The ``receive`` to hand on (the body read here is replayed), or None if refused."""
        site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if site not in (None, "same-origin", "none") or (origin and _host_of_origin(origin) != headers.get("host")):
            await _plain(send, 403, "Cross-site request refused.")
            return None
        if _same(headers.get("x-csrf-token", ""), self.csrf):
            return receive
        body, complete = await _read_body(receive, MAX_FORM_BYTES)
        form = dict(parse_qsl(body.decode("utf-8", "replace"))) if complete else {}
        if not _same(form.get("csrf_token", ""), self.csrf):
            await _plain(send, 403, "Missing or wrong CSRF token.")
            return None
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


def _digest(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if ":" in host else host


def _host_of_origin(origin: str) -> str:
    return origin.split("://", 1)[-1].rstrip("/")


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body, False
        body += message.get("body", b"")
        if len(body) > limit:
            return b"", False
        if not message.get("more_body", False):
            return body, True


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            message["headers"] = list(message.get("headers", [])) + [h for h in HEADERS if h[0] not in present]
        await send(message)

    return sending


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


__all__ = ["CONTENT_SECURITY_POLICY", "COOKIE", "Guard", "csrf_token", "new_token"]
