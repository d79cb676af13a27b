"""Entrypoints, flow loading and ``--param`` parsing, in-process (no subprocess)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from legato.cli import main
from legato.cli.errors import UsageError
from legato.cli.loading import Entrypoint, check_arguments, decode_params, load_flow, parse_params

FLOWS = Path(__file__).resolve().parent / "flows" / "cli_flows.py"


def test_parse_params_keeps_raw_strings_and_splits_at_the_first_equals():
    assert parse_params(["a=1", "b==x", "c=", "url=http://h/?q=1"]) == {"a": "1", "b": "=x", "c": "", "url": "http://h/?q=1"}


@pytest.mark.parametrize("bad", ["novalue", "=3", " =3"])
def test_parse_params_rejects_pairs_without_a_key(bad):
    with pytest.raises(UsageError, match="expected --param key=value"):
        parse_params([bad])


def test_decode_params_uses_json_when_it_can():
    decoded = decode_params({"n": "3", "f": "2.5", "t": "true", "z": "null", "xs": "[1, 2]", "s": '"q"', "w": "ada", "e": ""})
    assert decoded == {"n": 3, "f": 2.5, "t": True, "z": None, "xs": [1, 2], "s": "q", "w": "ada", "e": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flows.py", "expected path/to/file.py:flow_name, got 'flows.py'"),
        ("flows.py:", "expected path/to/file.py:flow_name"),
        (":flow", "expected path/to/file.py:flow_name"),
        ("missing.py:flow", "no such file: missing.py"),
    ],
)
def test_bad_entrypoints(text, message):
    with pytest.raises(UsageError, match=message.replace(".", r"\.")):
        Entrypoint.parse(text)


def test_entrypoint_is_stored_with_an_absolute_path(monkeypatch):
    monkeypatch.chdir(FLOWS.parent)
    entrypoint = Entrypoint.parse("cli_flows.py:add")
    assert str(entrypoint) == f"{FLOWS}:add"


def test_load_flow_finds_flows_and_explains_what_is_missing():
    assert load_flow(Entrypoint(FLOWS, "add")).name == "add"
    with pytest.raises(UsageError, match=r"cli_flows.py has no flow named 'nope' \(flows found: add, echo, "):
        load_flow(Entrypoint(FLOWS, "nope"))
    with pytest.raises(UsageError, match=r"'not_a_flow' in cli_flows.py is not a flow"):
        load_flow(Entrypoint(FLOWS, "not_a_flow"))


def test_loading_puts_the_files_folder_on_sys_path_and_registers_the_module():
    load_flow(Entrypoint(FLOWS, "add"))
    assert str(FLOWS.parent) in sys.path
    assert sys.modules["cli_flows"].__file__ == str(FLOWS)


def test_a_file_that_fails_to_import_is_a_usage_error(tmp_path):
    broken = tmp_path / "broken_flows.py"
    broken.write_text("raise ImportError('no such thing')\n")
    with pytest.raises(UsageError, match="cannot load broken_flows.py: ImportError: no such thing"):
        load_flow(Entrypoint(broken, "f"))
    assert "broken_flows" not in sys.modules


def test_a_file_named_like_an_imported_module_gets_its_own_name(tmp_path, monkeypatch):
    # load_module puts the file's folder on sys.path (as `legato run` needs); a
    # folder holding json.py must not stay there for the rest of the session
    monkeypatch.setattr(sys, "path", list(sys.path))
    clash = tmp_path / "json.py"
    clash.write_text("X = 1\n")
    from legato.cli.loading import load_module

    module = load_module(clash)
    assert module.X == 1 and module.__name__ != "json"
    import json

    assert hasattr(json, "dumps")


def test_check_arguments_reports_unknown_and_missing_parameters():
    add = load_flow(Entrypoint(FLOWS, "add"))
    check_arguments(add, {"a": 1})
    with pytest.raises(UsageError, match=r"bad parameters for flow 'add': .*'c'.* \(parameters: a, b\)"):
        check_arguments(add, {"a": 1, "c": 2})
    with pytest.raises(UsageError, match="missing a required argument: 'a'"):
        check_arguments(add, {})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nowhere.py:f"], "error: no such file: nowhere.py"),
        (["run", f"{FLOWS}"], "error: expected path/to/file.py:flow_name"),
        (["run", f"{FLOWS}:nope"], "has no flow named 'nope'"),
        (["run", f"{FLOWS}:add", "-p", "nokey"], "expected --param key=value, got 'nokey'"),
        (["run", f"{FLOWS}:add", "-p", "a=1", "-p", "zz=2"], "unexpected keyword argument 'zz'"),
        (["run", f"{FLOWS}:add"], "missing a required argument: 'a'"),
        (["run", f"{FLOWS}:add", "-p", "a=1", "--runner", "quantum"], "unknown or unusable runner 'quantum'"),
    ],
)
def test_run_usage_errors_in_process(args, message, capsys):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert message in captured.err
