"""``legato runs ls/show/logs``, ``legato graph``, usage errors and ``--help``.

These commands only read, so each runs once against one recorded history
(the ``results`` fixture) and the tests check the results. A sample runs as
real ``python -m legato.cli`` subprocesses, concurrently; the rest in-process
through :func:`legato.cli.main`, which takes the same path minus start-up.
"""

from __future__ import annotations

import contextlib
import io
import subprocess

import pytest

USAGE_ERRORS = [
    (("runs", "show", "nope"), "no run matches 'nope'"),
    (("runs", "show", "4e9"), "'4e9' matches several runs (4e9fa1e, 4e904e9); give more characters"),
    (("runs", "show", " "), "no run id given"),
    (("runs", "logs", "zz"), "no run matches 'zz'"),
    (("graph", "zz"), "no run matches 'zz'"),
    (("graph", "e7e7", "--format", "svg"), "--format"),
    (("runs", "ls", "--status", "exploded"), "unknown status 'exploded'"),
    (("runs", "ls", "--limit", "zero"), "--limit"),
    (("runs", "show",), "Missing argument 'RUN_ID'"),
    (("resume", "nope"), "no run matches 'nope'"),
    (("resume", "e7e7"), "run e7e7e7e7 is Completed: there is nothing to resume"),
    (("frobnicate",), "No such command 'frobnicate'"),
    (("runs", "ls", "--bogus"), "No such option"),
]  # fmt: skip
HELP = [(), ("runs",), ("run",), ("resume",), ("graph",), ("runs", "ls"), ("runs", "show"), ("runs", "logs")]
LS_FILTERS = [
    (("--status", "failed"), ["4e904e90"]),
    (("--status", "COMPLETED", "--limit", "1"), ["4e9fa1e9"]),
    (("--flow", "etl", "-n", "5"), ["e7e7e7e7"]),
]
COMMANDS = [
    ("runs", "ls"),
    ("runs", "show", "4e90"),
    ("runs", "show", "4e90", "--traceback"),
    ("runs", "show", "e7e7e7e7aaaa0001"),
    ("runs", "logs", "e7e7"),
    ("runs", "logs", "4e9f"),
    ("graph", "e7e7"),
    ("graph", "e7e7", "--format", "dot"),
    (),
    *(("runs", "ls", *options) for options, _ in LS_FILTERS),
    *(args for args, _ in USAGE_ERRORS),
    *((*args, "--help") for args in HELP),
]
#: Run as real subprocesses (concurrently); every other command runs in-process
#: through legato.cli.main, a subprocess each being too slow for the whole matrix.
IN_SUBPROCESS = {
    ("runs", "ls"),
    ("runs", "show", "4e90"),
    ("runs", "logs", "e7e7"),
    ("graph", "e7e7"),
    ("runs", "show", "nope"),
    ("runs", "ls", "--bogus"),
    ("--help",),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory, sample_history, cli_batch):
    home = tmp_path_factory.mktemp("inspect") / "home"
    sample_history(home / "history.db")
    found = cli_batch(home, IN_SUBPROCESS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEGATO_HOME", str(home))
        patch.setenv("COLUMNS", "200")
        patch.delenv("LEGATO_DATABASE", raising=False)
        for args in COMMANDS:
            if args not in found:
                found[args] = _in_process(args)
    return found


def _in_process(args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    from legato.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.fixture
def ok(results):
    def get(*args: str) -> str:
        result = results[args]
        assert result.returncode == 0, result.stderr
        return result.stdout

    return get


def test_runs_ls_lists_newest_first(ok):
    lines = ok("runs", "ls").splitlines()
    assert lines[0].split() == ["id", "flow", "name", "state", "started", "duration", "tasks"]
    assert [line.split()[0] for line in lines[1:]] == ["4e9fa1e9", "4e904e90", "e7e7e7e7"]
    etl = lines[3]
    assert "etl-run" in etl and "Completed" in etl and "102 (2 failed)" in etl and "10.0s" in etl
    assert "Failed" in lines[2]


@pytest.mark.parametrize(("options", "expected"), LS_FILTERS)
def test_runs_ls_filters(ok, options, expected):
    assert [line.split()[0] for line in ok("runs", "ls", *options).splitlines()[1:]] == expected


def test_runs_ls_on_an_empty_home(legato):
    result = legato("runs", "ls")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "No runs recorded."


def test_runs_show_by_prefix(ok):
    out = ok("runs", "show", "4e90")
    assert "4e904e90bbbb0002" in out and "report-run" in out and "Failed" in out
    assert "error       KeyError: 'title'" in out and "Traceback" not in out
    task_line = next(line for line in out.splitlines() if line.startswith("render-0"))
    assert task_line.split()[:3] == ["render-0", "Failed", "2"]
    assert task_line.rstrip().endswith("KeyError: 'title'")  # the line that says what happened


def test_runs_show_traceback_prints_full_errors(ok):
    assert ok("runs", "show", "4e90", "--traceback").count("Traceback (most recent call last)") == 2


def test_runs_show_lists_every_task_run(ok):
    out = ok("runs", "show", "e7e7e7e7aaaa0001")
    assert "day='2024-01-01'" in out and "/x/etl.py:etl" in out
    rows = [line for line in out.splitlines() if line.startswith(("load-", "square-", "total-"))]
    assert len(rows) == 102


def test_runs_logs(ok):
    lines = ok("runs", "logs", "e7e7").splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("INFO     flow | Beginning flow run")
    assert lines[1].endswith("WARNING  total-0 | total is [big]")  # no rich markup eaten


def test_runs_logs_without_logs(ok):
    assert "No logs recorded for run 4e9fa1e9." in ok("runs", "logs", "4e9f")


def test_graph_mermaid_and_dot(ok):
    assert ok("graph", "e7e7").splitlines()[:6] == [
        "flowchart LR",
        '    n0["load-0 [Completed]"]',
        '    n1["square [x100: 98 Completed, 2 Failed]"]',
        '    n2["total-0 [Completed]"]',
        "    n0 --> n1",
        "    n1 --> n2",
    ]
    dot = ok("graph", "e7e7", "--format", "dot")
    assert dot.startswith('digraph "etl" {')
    assert '    n1 [label="square [x100: 98 Completed, 2 Failed]", color=red];' in dot


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_usage_errors_are_one_line_and_exit_2(results, one_line_error, args, message):
    assert message in one_line_error(results[args], 2)


@pytest.mark.parametrize("args", HELP)
def test_help_everywhere(ok, args):
    assert "Usage: legato" in ok(*args, "--help")


def test_no_command_prints_help_and_exits_2(results):
    result = results[()]
    assert result.returncode == 2
    assert "Usage: legato" in result.stdout and "runs" in result.stdout
