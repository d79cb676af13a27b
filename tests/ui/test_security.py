"""Safe by default: loopback only, the token, the Host check, CSRF on state-changing requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ui_support import History
from ui_serving import ServerThread, request

from legato import ui
from legato.ui import create_app, extensions
from legato.ui.security import COOKIE
from legato.ui.server import UnsafeAddress, address, is_loopback, settle_token

REPO = Path(__file__).resolve().parents[2]
TOKEN = "a-test-token-of-enough-length"


@pytest.fixture(scope="module")
def guarded(history: History):  # type: ignore[no-untyped-def]
    with ServerThread(create_app(history.db, token=TOKEN, loopback_only=False)) as server:
        yield server


def test_without_the_token_every_page_is_refused(guarded) -> None:
    for path in ("/runs", "/flows", "/static/app.js", "/runs/x/status"):
        reply = request(guarded.url, path)
        assert reply.status == 401, path
        assert "token" in reply.body and "<" not in reply.body


def test_a_wrong_token_is_refused(guarded) -> None:
    assert request(guarded.url, "/runs?token=wrong").status == 401
    assert request(guarded.url, "/runs", headers={"Authorization": "Bearer wrong"}).status == 401
    assert request(guarded.url, "/runs", headers={"Cookie": f"{COOKIE}={TOKEN}"}).status == 401


def test_the_token_as_a_header_is_accepted(guarded) -> None:
    assert request(guarded.url, "/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status == 200


def test_the_token_in_the_address_sets_a_cookie_and_leaves_the_address(guarded) -> None:
    reply = request(guarded.url, f"/runs?state=failed&token={TOKEN}")
    assert reply.status == 303
    assert reply.headers["location"] == "/runs?state=failed"
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    value = cookie.split(";")[0]
    assert request(guarded.url, "/runs?state=failed", headers={"Cookie": value}).status == 200


def test_the_token_redirect_stays_on_this_site(guarded) -> None:
    reply = request(guarded.url, f"//attacker.example/x?token={TOKEN}")
    assert reply.status == 303 and reply.headers["location"] == "/attacker.example/x"


def test_on_loopback_only_loopback_host_names_are_answered(server) -> None:
    assert request(server.url, "/runs", headers={"Host": "localhost:4200"}).status == 200
    assert request(server.url, "/runs", headers={"Host": "[::1]:4200"}).status == 200
    rebound = request(server.url, "/runs", headers={"Host": "attacker.example:4200"})
    assert rebound.status == 421


def test_non_loopback_host_is_refused_without_a_token() -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.org", "::"):
        assert not is_loopback(host)
        with pytest.raises(UnsafeAddress, match="--token"):
            settle_token(host, None)
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host) and settle_token(host, None) is None
    generated = settle_token("0.0.0.0", "auto")
    assert generated and len(generated) >= 40 and generated != settle_token("0.0.0.0", "auto")
    with pytest.raises(UnsafeAddress, match="16"):
        settle_token("0.0.0.0", "short")
    assert address("0.0.0.0", 4200, "t0k") == "http://127.0.0.1:4200/runs?token=t0k"


def _cli(args: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "legato.cli", *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_refuses_a_non_loopback_host_without_a_token() -> None:
    result = _cli(["ui", "--host", "0.0.0.0", "--port", "1"])
    assert result.returncode == 2
    assert "not a loopback address" in result.stderr and "--token auto" in result.stderr


def test_cli_serves_and_prints_its_address(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "LEGATO_HOME": str(tmp_path)}
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "legato.cli", "ui", "--port", str(port)],
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        status = None
        while time.monotonic() - started < 20 and status != 200:
            try:
                status = request(f"http://127.0.0.1:{port}", "/runs").status
            except OSError:
                time.sleep(0.02)
        elapsed = time.monotonic() - started
        assert status == 200
        print(f"legato ui answered after {elapsed:.2f}s")  # interpreter start included
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/runs" in err


def test_missing_web_packages_name_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ui.importlib.util.find_spec
    monkeypatch.setattr(ui.importlib.util, "find_spec", lambda name: None if name == "uvicorn" else real(name))
    with pytest.raises(ui.MissingUIDependencies, match=r"uvicorn: pip install 'legato\[ui\]'"):
        ui.create_app()


@pytest.fixture
def with_post_page():  # type: ignore[no-untyped-def]
    async def pause(request):  # type: ignore[no-untyped-def]
        form = await extensions.form_fields(request)
        return PlainTextResponse(f"paused {form.get('schedule', '?')}")

    extensions.add_page("Schedules", "/schedules", [Route("/schedules/pause", pause, methods=["POST"])])
    yield
    extensions.clear()


def test_state_changing_requests_need_the_csrf_token(history: History, with_post_page) -> None:
    with ServerThread(create_app(history.db)) as server:
        page = request(server.url, "/runs").body
        assert 'href="/schedules"' in page  # an extension page is linked from the navigation
        csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        post = lambda body, headers: request(server.url, "/schedules/pause", method="POST", body=body, headers=headers)  # noqa: E731
        assert post(b"schedule=nightly", form).status == 403
        assert post(b"schedule=nightly&csrf_token=wrong", form).status == 403
        cross = {**form, "Origin": "http://attacker.example", "X-CSRF-Token": csrf}
        assert post(b"schedule=nightly", cross).status == 403
        assert post(b"schedule=nightly", {**form, "Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf}).status == 403
        ok = post(f"schedule=nightly&csrf_token={csrf}".encode(), form)
        assert ok.status == 200 and ok.body == "paused nightly"  # the body read for the check reaches the route
        same = {**form, "X-CSRF-Token": csrf, "Origin": server.url, "Sec-Fetch-Site": "same-origin"}
        assert post(b"schedule=hourly", same).body == "paused hourly"
        assert request(server.url, "/schedules/pause").status == 405  # GET changes nothing


def test_an_extension_section_on_a_run_page_is_escaped_unless_it_is_markup(history: History) -> None:
    from markupsafe import Markup, escape

    extensions.add_run_section("Artifacts", lambda request, run: f"<b>{run.name}</b> <script>x()</script>")
    extensions.add_run_section("Links", lambda request, run: Markup("<a href='/flows'>{}</a>").format(escape(run.flow_name)))
    try:
        with ServerThread(create_app(history.db)) as server:
            body = request(server.url, f"/runs/{history.squares}").body
    finally:
        extensions.clear()
    assert "<h2>Artifacts</h2>" in body and "&lt;script&gt;x()&lt;/script&gt;" in body and "<script>x()" not in body
    assert "<a href='/flows'>squares</a>" in body
