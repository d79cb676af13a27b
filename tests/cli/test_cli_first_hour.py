"""What a new user meets in the first hour of ``legato`` (issue 11).

``--param`` follows the flow's hints, ``runs ls --flow`` takes the function
name, running a task is a clear error, ``--version``, help without type
labels, and an unpicklable argument that prints one short error.
"""

from __future__ import annotations

import contextlib
import enum
import io
import re
import time
from pathlib import Path
from typing import Any, Literal, Optional

import pytest

from legato.cli import main
from legato.cli.loading import decode_params
from legato.history import HistoryRecorder, list_runs

FLOWS = Path(__file__).resolve().parent / "flows" / "first_hour_flows.py"


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


class Colour(str, enum.Enum):
    red = "red"


class _Flow:
    """Just what decode_params reads of a flow: its function."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn


def _hinted(day: str, maybe: Optional[str], path: Path, n: int, xs: list[int], mode: Literal["a", "b"],
            colour: Colour, anything: Any, bare, either: int | str) -> None:  # fmt: skip
    """A flow function with one parameter per kind of hint."""


def test_param_values_follow_the_type_hints():
    raw = {"day": "20261120", "maybe": "null", "path": "007", "n": "3", "xs": "[1, 2]", "mode": "a",
           "colour": "red", "anything": "[1]", "bare": "true", "either": "5"}  # fmt: skip
    assert decode_params(raw, _Flow(_hinted)) == {
        "day": "20261120", "maybe": "null", "path": "007",  # text for text-like hints
        "n": 3, "xs": [1, 2], "mode": "a", "colour": "red",
        "anything": [1], "bare": True, "either": 5,  # JSON wherever the hint is not text
    }  # fmt: skip
    assert decode_params({"anything": "not json", "bare": "{oops"}, _Flow(_hinted)) == {
        "anything": "not json", "bare": "{oops"
    }


def test_a_str_parameter_gets_its_text_through_the_cli(legato):
    result = legato("run", f"{FLOWS}:typed", "-p", "day=20261120", "-p", "n=3", "-p", "folder=/tmp/x",
                    "-p", "raw=[1, 2]", "-p", "anything=ada")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "('str', '20261120', 3, 'PosixPath', [1, 2], 'ada')"


def test_run_help_says_how_values_are_read():
    code, out, _ = _main("run", "--help")
    assert code == 0
    assert "annotated str" in " ".join(out.split()) and "JSON" in out


def _record_flow_run(db: Path, run_id: str, flow_name: str, entrypoint: str | None) -> None:
    with HistoryRecorder(db) as rec:
        rec.flow_run_started(id=run_id, name=f"{run_id}-name", flow_name=flow_name, parameters={}, run_key=None,
                             runner="threads", tags=[], started_at=time.time(), entrypoint=entrypoint)  # fmt: skip
        rec.flow_run_finished(id=run_id, state_type="COMPLETED", state_name="Completed", ended_at=time.time(), error=None)


def test_runs_ls_flow_matches_the_function_name_and_either_separator(home):
    db = home / "history.db"
    _record_flow_run(db, "aaaa0001", "sales-etl", None)
    _record_flow_run(db, "bbbb0002", "Nightly Sales Report", "/x/report.py:nightly_report")
    _record_flow_run(db, "cccc0003", "other", None)
    for name in ("sales_etl", "sales-etl", "SALES_ETL"):
        assert [run.id for run in list_runs(flow=name, db=db)] == ["aaaa0001"]
    assert [run.id for run in list_runs(flow="nightly-report", db=db)] == ["bbbb0002"]
    assert list_runs(flow="sales", db=db) == []
    code, out, _ = _main("runs", "ls", "--flow", "sales_etl")
    assert code == 0 and "aaaa0001" in out and "cccc0003" not in out
    assert _main("runs", "ls", "--flow", "nope")[1].strip() == "No runs match."


def test_running_a_task_says_it_is_a_task(legato, one_line_error):
    line = one_line_error(legato("run", f"{FLOWS}:noop", "-p", "x=1"), 2)
    assert line.startswith("error: 'noop' in first_hour_flows.py is a task, not a flow:")
    assert "@flow" in line
    assert list_runs() == []


def test_version():
    from legato import __version__

    assert _main("--version") == (0, f"legato {__version__}\n", "")


HELP_COMMANDS = [(), ("run",), ("resume",), ("graph",), ("runs",), ("runs", "ls"), ("runs", "show"), ("runs", "logs")]


@pytest.mark.parametrize("args", HELP_COMMANDS)
def test_help_shows_no_type_labels(args, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = _main(*args, "--help")
    assert code == 0 and "Usage: legato" in out
    assert not re.search(r"<\w[\w \[\]]*>", out), out  # <bool>, <str>, <int range>, <list[str]>
    assert not re.search(r"\{[A-Z_.:a-z]+\}", out), out  # {RUN_ID} in the usage line
    assert "--help " in out and "--help  " in out  # a flag has no value word: its help follows


def test_an_unpicklable_argument_is_one_short_error(legato):
    result = legato("run", f"{FLOWS}:locked")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "argument 'lock' cannot be sent" in errors[0]
    assert len(result.stderr.splitlines()) <= 4  # the run's start, the task and flow failures, the error

    verbose = legato("run", f"{FLOWS}:locked", "--traceback")
    assert verbose.returncode == 1
    lines = verbose.stderr.splitlines()
    assert lines.count("TypeError: cannot pickle '_thread.lock' object") == 1  # each link of the chain once
    assert verbose.stderr.count("Traceback (most recent call last)") == 3  # a chain of three, printed once
