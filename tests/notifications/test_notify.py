"""Notifications posted to a real local HTTP server through apprise's json:// plugin."""

from __future__ import annotations

import sys
import time

import pytest

pytest.importorskip("apprise")

import legato  # noqa: E402
from legato import flow, notify, task  # noqa: E402
from legato.history import list_runs, run_logs  # noqa: E402
from legato.notifications import environment_urls  # noqa: E402


@task
def explode(n: int) -> int:
    raise ValueError(f"disk full on shard {n}")


@task
def fine(n: int) -> int:
    return n


@flow
def failing_pipeline(day: str = "2026-12-01") -> int:
    return explode.submit(3).result()


@flow
def good_pipeline() -> int:
    return fine.submit(1).result()


def test_failing_flow_posts_one_message_with_task_and_error(inbox, monkeypatch):
    box, url = inbox
    monkeypatch.setenv("LEGATO_NOTIFY", url)
    with pytest.raises(ValueError, match="disk full"):
        failing_pipeline()
    assert len(box.messages) == 1
    message = box.messages[0]
    text = message["title"] + "\n" + message["message"]
    run = list_runs(limit=1)[0]
    assert "failing-pipeline" in text
    assert "explode-0" in text and "ValueError: disk full on shard 3" in text
    assert f"legato runs show {run.id}" in text
    assert "day='2026-12-01'" in text
    assert message["type"] == "failure"


def test_successful_flow_posts_nothing(inbox, monkeypatch):
    box, url = inbox
    monkeypatch.setenv("LEGATO_NOTIFY", url)
    assert good_pipeline() == 1
    assert box.messages == []


@pytest.mark.parametrize("which", ["closed_url", "silent_url"])
def test_unreachable_url_delays_by_at_most_the_bound_and_fails_nothing(which, request, monkeypatch):
    url = request.getfixturevalue(which)
    monkeypatch.setenv("LEGATO_NOTIFY", url)
    monkeypatch.setenv("LEGATO_NOTIFY_TIMEOUT", "1")
    started = time.monotonic()
    with pytest.raises(ValueError, match="disk full"):  # the flow's own failure, nothing else
        failing_pipeline()
    assert time.monotonic() - started < 1 + 2.0  # the bound, plus a generous margin for the flow itself
    assert good_pipeline() == 1
    failed_run = list_runs(flow="failing-pipeline", limit=1)[0]
    assert any("notification not sent" in line.message for line in run_logs(failed_run.id))


def test_hook_and_environment_notify_a_url_once(inbox, monkeypatch):
    box, url = inbox
    monkeypatch.setenv("LEGATO_NOTIFY", url)
    hooked = failing_pipeline.with_options(on_failure=[notify(url)])
    with pytest.raises(ValueError):
        hooked()
    assert len(box.messages) == 1


def test_hook_without_environment(inbox):
    box, url = inbox
    with pytest.raises(ValueError):
        failing_pipeline.with_options(on_failure=[notify(url)])()
    assert len(box.messages) == 1 and "explode-0" in box.messages[0]["message"]


def test_recovered_after_a_failed_run_of_the_same_run_key(inbox, monkeypatch):
    box, url = inbox
    state = {"broken": True}

    @task
    def flaky() -> int:
        if state["broken"]:
            raise RuntimeError("api down")
        return 1

    hook = notify(url, on=("Failed", "Recovered"))

    @flow(on_failure=[hook], on_completion=[hook])
    def nightly() -> int:
        return flaky()

    with pytest.raises(RuntimeError):
        nightly(run_key="night-1")
    state["broken"] = False
    assert nightly(run_key="night-1") == 1
    assert nightly(run_key="night-1") == 1  # the previous run completed: nothing more
    assert [m["type"] for m in box.messages] == ["failure", "success"]
    assert "recovered" in box.messages[1]["title"]


def test_many_failures_are_listed_then_counted(inbox, monkeypatch):
    box, url = inbox
    monkeypatch.setenv("LEGATO_NOTIFY", url)

    @flow
    def fan() -> list[int]:
        return explode.map(range(8)).result()

    with pytest.raises(ValueError):
        fan()
    body = box.messages[0]["message"]
    assert "Failed tasks (8):" in body and "... and 3 more" in body
    assert body.count("  - explode-") == 5


def test_cli_notify_option(inbox, tmp_path, monkeypatch):
    from legato.cli.app import run_app

    box, url = inbox
    script = tmp_path / "job.py"
    script.write_text(
        "from legato import flow, task\n"
        "@task\ndef broken():\n    raise KeyError('missing column')\n"
        "@flow\ndef job():\n    broken()\n"
    )
    monkeypatch.setattr("os.environ", dict(__import__("os").environ))  # the CLI edits the environment
    assert run_app(["run", f"{script}:job", "--notify", url]) == 1
    assert len(box.messages) == 1 and "broken-0" in box.messages[0]["message"]


def test_environment_urls_split_on_spaces_and_on_commas_before_a_scheme():
    raw = "json://a:1/ , slack://T/B/C mailto://u:p@x.org?to=a@x.org,b@x.org,ntfy://topic"
    assert environment_urls(raw) == ["json://a:1/", "slack://T/B/C", "mailto://u:p@x.org?to=a@x.org,b@x.org",
                                     "ntfy://topic"]


def test_bad_url_and_missing_apprise_fail_when_the_hook_is_made(monkeypatch):
    with pytest.raises(ValueError, match="not a notification URL"):
        notify("nosuchscheme://x")
    monkeypatch.setitem(sys.modules, "apprise", None)
    with pytest.raises(ImportError, match=r"pip install 'legato\[notify\]'"):
        legato.notify("json://127.0.0.1:1/")


def test_a_hook_that_sends_nothing_leaves_the_environment_url_to_notify(inbox, monkeypatch):
    box, url = inbox
    monkeypatch.setenv("LEGATO_NOTIFY", url)
    with pytest.raises(ValueError):
        failing_pipeline.with_options(on_failure=[notify(url, on=("Crashed",))])()
    assert len(box.messages) == 1
