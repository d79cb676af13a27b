"""Every LEGATO_* setting is read in legato/config.py, and the README's table lists exactly those."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from legato import config

ROOT = Path(__file__).resolve().parent.parent
#: hand-overs from ``legato run`` to the history recorder, not settings (see legato.config)
HANDOVERS = {config.ENTRYPOINT_ENV, config.CLI_PARAMETERS_ENV}


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_the_readme_table_lists_exactly_the_settings_of_config():
    table = re.findall(r"^\| `(LEGATO_[A-Z_]+)` \|", _readme_section("Settings"), re.MULTILINE)
    assert sorted(table) == sorted(config.SETTINGS)


def test_no_module_but_config_reads_a_legato_variable():
    readers = []
    for path in (ROOT / "legato").rglob("*.py"):
        if path.name == "config.py" and path.parent.name == "legato":
            continue
        for line in path.read_text().splitlines():
            if re.search(r"environ(\.get|\.pop|\[)\(?\s*['\"]LEGATO_", line):
                readers.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert readers == []
    text = (ROOT / "legato" / "config.py").read_text()
    for name in config.SETTINGS:
        assert f'"{name}"' in text


@pytest.mark.parametrize("value, expected", [("", False), ("1", True), ("yes", True), ("0", False), ("off", False),
                                             ("FALSE", False)])
def test_a_switch_has_one_meaning_of_off(monkeypatch, value, expected):
    monkeypatch.setenv("LEGATO_PERSIST_RESULTS", value)
    assert config.persist_results() is expected
    monkeypatch.setenv("LEGATO_BATCHING", value)
    assert config.batching_enabled() is (expected or value == "")


def test_persist_results_off_does_not_open_the_result_store_up_front(monkeypatch):
    """``LEGATO_PERSIST_RESULTS=0`` used to mean "on" where the flow decides whether to open the store."""
    import legato.core.flow as flow_module
    from legato import flow

    @flow
    def plain():
        return 1

    run = flow_module.FlowRun(id="x", name="x", flow_name="plain")
    monkeypatch.setenv("LEGATO_PERSIST_RESULTS", "0")
    assert flow_module._results_needed_now(plain, run) is False
    monkeypatch.setenv("LEGATO_PERSIST_RESULTS", "1")
    assert flow_module._results_needed_now(plain, run) is True


def test_the_development_example_runs():
    block = re.search(r"```python\n(.*?)```", _readme_section("Development"), re.DOTALL)
    assert block is not None
    exec(compile(block.group(1), "README.md (Development)", "exec"), {"__name__": "readme_development"})
