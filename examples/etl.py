"""A file-batch ETL: extract CSV files in parallel, transform, load into SQLite.

Run it:  python examples/etl.py [--runner threads|processes|dask|ray] [--files 20]

It makes its own input files under a temporary folder, so it runs anywhere.
"""

from __future__ import annotations

import argparse
import csv
import random
import sqlite3
import tempfile
from pathlib import Path

from legato import flow, get_run_logger, task, unmapped


@task
def make_inputs(folder: str, files: int, rows: int) -> list[str]:
    """Write ``files`` CSV files of ``rows`` sales each (the 'source system')."""
    rng = random.Random(42)
    Path(folder).mkdir(parents=True, exist_ok=True)  # `legato run ... --param folder=/tmp/etl-in` on a fresh machine
    paths = []
    for i in range(files):
        path = Path(folder) / f"sales-{i:03d}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["store", "amount"])
            for _ in range(rows):
                writer.writerow([f"store-{rng.randrange(5)}", f"{rng.uniform(1, 100):.2f}"])
        paths.append(str(path))
    return paths


@task(retries=2, retry_delay_seconds=0.1)
def extract(path: str) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@task
def transform(rows: list[dict], currency_rate: float) -> dict[str, float]:
    totals: dict[str, float] = {}
    for row in rows:
        totals[row["store"]] = totals.get(row["store"], 0.0) + float(row["amount"]) * currency_rate
    return totals


@task
def load(partials: list[dict[str, float]], database: str) -> int:
    totals: dict[str, float] = {}
    for partial in partials:
        for store, amount in partial.items():
            totals[store] = totals.get(store, 0.0) + amount
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS sales (store TEXT PRIMARY KEY, total REAL)")
        connection.executemany("INSERT OR REPLACE INTO sales VALUES (?, ?)", sorted(totals.items()))
    return len(totals)


@flow(log_prints=True)
def sales_etl(folder: str, files: int = 20, rows: int = 500, currency_rate: float = 1.1) -> dict[str, float]:
    paths = make_inputs(folder, files, rows)
    extracted = extract.map(paths)
    partials = transform.map(extracted, unmapped(currency_rate))
    stores = load.submit(partials, str(Path(folder) / "warehouse.db"))
    get_run_logger().info("loaded %d stores from %d files", stores.result(), len(paths))
    with sqlite3.connect(Path(folder) / "warehouse.db") as connection:
        return dict(connection.execute("SELECT store, round(total, 2) FROM sales ORDER BY store"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runner", default="threads")
    parser.add_argument("--files", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = sales_etl.with_options(task_runner=options.runner)(folder, files=options.files)
    for store, total in result.items():
        print(f"{store}: {total:,.2f}")
