"""Reading: listing and filtering runs, id prefixes, an empty history."""

from __future__ import annotations

import pytest

from legato.history import (
    AmbiguousRunId,
    HistoryDatabaseError,
    HistoryError,
    RunNotFound,
    get_run,
    list_runs,
    task_runs,
)
from legato.core.errors import LegatoError


def _finish(recorder, run_id, state_type, state_name, ended_at):
    recorder.flow_run_finished(id=run_id, state_type=state_type, state_name=state_name, ended_at=ended_at, error=None)


def test_list_runs_newest_first_with_filters_and_limit(db, recorder, start_flow):
    a = start_flow(id="aaaa1111", flow_name="etl", started_at=100.0)
    b = start_flow(id="bbbb2222", flow_name="etl", started_at=200.0)
    c = start_flow(id="cccc3333", flow_name="report", started_at=300.0)
    _finish(recorder, a, "COMPLETED", "Completed", 101.0)
    _finish(recorder, b, "FAILED", "Failed", 201.0)
    _finish(recorder, c, "COMPLETED", "Cached", 301.0)

    assert [r.id for r in list_runs(db=db)] == [c, b, a]
    assert [r.id for r in list_runs(status="failed", db=db)] == [b]
    assert [r.id for r in list_runs(status="COMPLETED", db=db)] == [c, a]
    assert [r.id for r in list_runs(flow="etl", db=db)] == [b, a]
    assert [r.id for r in list_runs(limit=1, db=db)] == [c]
    assert [r.id for r in list_runs(limit=None, db=db)] == [c, b, a]


def test_unknown_status_is_a_value_error(db, start_flow):
    start_flow()
    with pytest.raises(ValueError, match="unknown status"):
        list_runs(status="exploded", db=db)


def test_run_ids_resolve_by_unique_prefix(db, start_flow):
    start_flow(id="abc123")
    start_flow(id="abd456")
    assert get_run("abc", db=db).id == "abc123"
    assert get_run("abd456", db=db).id == "abd456"
    with pytest.raises(AmbiguousRunId, match="several runs"):
        get_run("ab", db=db)
    with pytest.raises(RunNotFound, match="no run matches 'zzz'"):
        get_run("zzz", db=db)
    with pytest.raises(RunNotFound):
        task_runs("zzz", db=db)
    with pytest.raises(RunNotFound):
        get_run("  ", db=db)


def test_prefix_characters_are_not_wildcards(db, start_flow):
    start_flow(id="run_1")
    with pytest.raises(RunNotFound):
        get_run("run%", db=db)


def test_a_missing_database_is_an_empty_history(tmp_path):
    missing = tmp_path / "nothing.db"
    assert list_runs(db=missing) == []
    with pytest.raises(RunNotFound, match="no history"):
        get_run("abc", db=missing)
    assert not missing.exists()


def test_a_corrupt_database_is_a_history_error(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryDatabaseError):
        list_runs(db=bad)


def test_errors_belong_to_the_legato_hierarchy():
    assert issubclass(HistoryError, LegatoError)
    assert issubclass(RunNotFound, LookupError) and issubclass(AmbiguousRunId, LookupError)


def test_public_names_match_all():
    import legato.history as history

    for name in history.__all__:  # every exported name resolves (most are loaded lazily)
        assert getattr(history, name) is not None
    public = {name for name in vars(history) if not name.startswith("_")}
    modules = {"chunks", "errors", "graph", "handler", "query", "recorder", "schema", "summary", "crashes", "annotations",
               "artifacts", "failures", "metrics", "scan", "healing", "observer"}
    assert public - modules == set(history.__all__)
