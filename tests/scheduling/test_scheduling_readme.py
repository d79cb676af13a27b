"""The README's "Running on a schedule" examples, and examples/nightly_etl.py, run as written."""

from __future__ import annotations

import contextlib
import io
import re
import sqlite3
from pathlib import Path

from legato.cli.loading import load_module

REPO = Path(__file__).resolve().parents[2]


def section_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Running on a schedule", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_python_blocks_run_and_print_what_they_say(legato_home):
    blocks = section_blocks()
    assert len(blocks) == 2
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
        expected = [line.split("# ", 1)[1] for line in block.splitlines() if line.startswith("# [")]
        printed = out.getvalue().splitlines()
        for line in expected:
            assert line in printed, (line, printed)


def test_the_nightly_example_backfills_the_days_that_ended(legato_home):
    from legato.scheduling import backfill

    module = load_module(REPO / "examples" / "nightly_etl.py")
    args = dict(name="nightly", cron="0 0 * * *", timezone="Europe/Paris", parameters={"run_date": "{start:%Y-%m-%d}"})
    first = backfill(module.nightly_etl, "2026-11-02", "2026-11-04", **args)
    again = backfill(module.nightly_etl, "2026-11-02", "2026-11-04", **args)
    assert [w.status for w in first] == ["completed", "completed"]
    assert [w.status for w in again] == ["done", "done"]
    with sqlite3.connect(legato_home / "warehouse.db") as db:
        days = [d for (d,) in db.execute("SELECT DISTINCT day FROM daily_sales ORDER BY day")]
    assert days == ["2026-11-01", "2026-11-02"]
