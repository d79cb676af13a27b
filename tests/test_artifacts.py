"""legato.artifacts: Prefect 3's artifact functions, stored in the history and shown by the CLI."""

from __future__ import annotations

import pytest

from legato import flow, task
from legato.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from legato.history import list_runs
from legato.history.artifacts import list_artifacts


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEGATO_PROGRESS", "0")
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("LEGATO_DATABASE", "LEGATO_HISTORY", "LEGATO_NOTIFY"):
        monkeypatch.delenv(name, raising=False)


@task
def summarize(rows: list[dict]) -> int:
    create_table_artifact(rows, key="daily-sales", description="per store")
    return len(rows)


@flow
def daily(day: str) -> int:
    create_markdown_artifact(f"# Sales for {day}\n\nAll stores reported.", key="sales-report")
    create_link_artifact("https://example.com/dash", link_text="dashboard", key="dash")
    progress = create_progress_artifact(0, key="load-progress", description="loading")
    update_progress_artifact(progress, 100)
    return summarize([{"store": "a", "total": 10}, {"store": "b", "total": 12}])


def test_flow_and_task_artifacts_are_recorded_with_their_runs():
    assert daily("2026-12-01") == 2
    run = list_runs(limit=1)[0]
    by_key = {a.key: a for a in list_artifacts(flow_run_id=run.id)}
    assert set(by_key) == {"sales-report", "dash", "load-progress", "daily-sales"}
    assert by_key["sales-report"].data.startswith("# Sales for 2026-12-01")
    assert by_key["sales-report"].task_run_id is None
    assert by_key["daily-sales"].task_run_id is not None
    assert by_key["daily-sales"].data == {"columns": ["store", "total"], "rows": [["a", 10], ["b", 12]]}
    assert by_key["load-progress"].data == 100.0 and by_key["load-progress"].description == "loading"
    assert by_key["dash"].data == {"link": "https://example.com/dash", "link_text": "dashboard"}


def test_table_shapes():
    @flow
    def shapes() -> None:
        create_table_artifact({"a": [1, 2], "b": [3, 4]}, key="cols")
        create_table_artifact([[1, 2], [3, 4]], key="lists")
        with pytest.raises(ValueError, match="equal lengths"):
            create_table_artifact({"a": [1], "b": [1, 2]})
        with pytest.raises(TypeError):
            create_table_artifact("nope")

    shapes()
    assert list_artifacts("cols")[0].data == {"columns": ["a", "b"], "rows": [[1, 3], [2, 4]]}
    assert list_artifacts("lists")[0].data == {"columns": None, "rows": [[1, 2], [3, 4]]}


@pytest.mark.parametrize("key", ["Upper", "under_score", "space key", ""])
def test_keys_are_lowercase_letters_numbers_and_dashes(key):
    with pytest.raises(ValueError, match="lowercase letters, numbers, and dashes"):
        create_markdown_artifact("x", key=key)


def test_cli_ls_show_and_runs_show(capsys):
    from legato.cli.app import run_app

    daily("2026-12-01")
    daily("2026-12-02")
    run = list_runs(limit=1)[0]
    capsys.readouterr()
    assert run_app(["artifacts", "ls"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("sales-report") == 1 and "daily-sales" in listing  # the latest of each key
    assert run_app(["artifacts", "show", "sales-report"]) == 0
    shown = capsys.readouterr().out
    assert "Sales for 2026-12-02" in shown and "history (2 versions)" in shown
    assert run_app(["artifacts", "show", "daily-sales"]) == 0
    assert "store" in capsys.readouterr().out
    assert run_app(["runs", "show", run.id]) == 0
    shown = capsys.readouterr().out
    assert "load-progress" in shown and "summarize-0" in shown and "(flow)" in shown
    assert run_app(["artifacts", "show", "no-such-key"]) == 2


def test_history_off_keeps_nothing_and_fails_nothing(monkeypatch):
    monkeypatch.setenv("LEGATO_HISTORY", "0")
    assert daily("2026-12-01") == 2
    monkeypatch.delenv("LEGATO_HISTORY")
    assert list_artifacts() == []
