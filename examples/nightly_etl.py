"""A nightly ETL on a schedule: every midnight (Paris time), load the day that just ended.

The run scheduled at midnight on the 2nd gets ``run_date=2026-12-02`` (its
window's start) and loads the 1st.

Serve it (blocks; Ctrl-C stops it after the running window finishes):

    python examples/nightly_etl.py
    legato serve examples/nightly_etl.py:nightly_etl --cron "0 0 * * *" --timezone Europe/Paris \
        --param "run_date={start:%Y-%m-%d}" --name nightly

Backfill November (the runs of Nov 2 to Dec 1; each once, and a second backfill does nothing):

    legato backfill examples/nightly_etl.py:nightly_etl --start 2026-11-02 --end 2026-12-02 \
        --cron "0 0 * * *" --timezone Europe/Paris --param "run_date={start:%Y-%m-%d}" --name nightly

The "warehouse" is a SQLite file in $LEGATO_HOME, so the example runs anywhere.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path

from legato import flow, get_run_logger, task
from legato.config import legato_home


@task(retries=3, retry_delay_seconds=[1, 10, 60])
def extract(day: str) -> list[tuple[str, str, float]]:
    """The day's sales from the 'source system' (made up, reproducibly, from the day)."""
    rng = random.Random(day)
    return [(day, f"store-{rng.randrange(5)}", round(rng.uniform(5, 500), 2)) for _ in range(200)]


@task
def transform(rows: list[tuple[str, str, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for _, store, amount in rows:
        totals[store] = round(totals.get(store, 0.0) + amount, 2)
    return totals


@task
def load(day: str, totals: dict[str, float]) -> int:
    """Replace the day's rows in the warehouse: loading a day twice leaves it loaded once."""
    with sqlite3.connect(Path(legato_home()) / "warehouse.db") as db:
        db.execute("CREATE TABLE IF NOT EXISTS daily_sales (day TEXT, store TEXT, total REAL)")
        db.execute("DELETE FROM daily_sales WHERE day = ?", (day,))
        db.executemany("INSERT INTO daily_sales VALUES (?, ?, ?)", [(day, s, t) for s, t in totals.items()])
    return len(totals)


@flow
def nightly_etl(run_date: date) -> int:
    day = (run_date - timedelta(days=1)).isoformat()
    stores = load(day, transform(extract(day)))
    get_run_logger().info("loaded %d stores for %s", stores, day)
    return stores


if __name__ == "__main__":
    nightly_etl.serve(
        "nightly",
        cron="0 0 * * *",
        timezone="Europe/Paris",
        parameters={"run_date": "{start:%Y-%m-%d}"},
        catchup="latest",
    )
