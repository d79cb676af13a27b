"""The Python examples of the README sections on notifications, artifacts, stats and tracing run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SECTIONS = ("## Notifications", "## Artifacts", "## Pipeline metrics: `legato stats`", "## Tracing (OpenTelemetry)")


def _blocks(heading: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


@pytest.mark.parametrize("heading", SECTIONS)
def test_python_blocks_run(heading, tmp_path, monkeypatch, capsys):
    pytest.importorskip("apprise")
    pytest.importorskip("opentelemetry.sdk")
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path))
    monkeypatch.setenv("LEGATO_PROGRESS", "0")
    for name in ("LEGATO_DATABASE", "LEGATO_HISTORY", "LEGATO_NOTIFY"):
        monkeypatch.delenv(name, raising=False)
    blocks = _blocks(heading)
    assert blocks
    for block in blocks:
        exec(compile(block, f"README {heading}", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    if "Tracing" in heading:
        assert "['flow traced', 'task double-0', 'task double-1', 'task double-2']" in out
