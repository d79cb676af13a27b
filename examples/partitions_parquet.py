"""Map a legato task over the partitions of a Parquet dataset, on the cluster that reads them.

Writes a few Parquet files to a temporary folder, reads them lazily with
``dask.dataframe.read_parquet``, and maps ``summarize`` over the partitions
on a Dask ``LocalCluster``: each file is read by a Dask worker and summarized
there, and only the small summaries come back. ``clean`` shows the other
direction: its results stay on the cluster and become a Dask DataFrame again
(``legato.partitions.to_dask_dataframe``), aggregated there.

Run it: ``python examples/partitions_parquet.py`` (needs ``legato[parquet,dask]``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import legato
from legato import flow, task
from legato.runners.dask import DaskTaskRunner


@task
def summarize(frame):
    """One partition's row count and total (a few bytes back to the flow, not the rows)."""
    return {"rows": len(frame), "amount": float(frame["amount"].sum())}


@task
def clean(frame):
    """Drop the refunds; the cleaned partition stays on its worker."""
    return frame[frame["amount"] > 0]


@flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1}))
def parquet_report(folder: str) -> dict:
    import dask.dataframe as dd

    sales = dd.read_parquet(folder)
    summaries = summarize.map(legato.partitions(sales)).result()
    cleaned = clean.map(legato.partitions(sales))
    kept = legato.partitions.to_dask_dataframe(cleaned, meta=sales._meta)
    return {
        "partitions": len(summaries),
        "rows": sum(s["rows"] for s in summaries),
        "amount": round(sum(s["amount"] for s in summaries), 2),
        "kept_amount": round(float(legato.partitions.compute(kept["amount"].sum())), 2),
    }


def write_sales(folder: Path, files: int = 4, rows: int = 1000) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    for number in range(files):
        amounts = rng.normal(20.0, 15.0, rows).round(2)
        pd.DataFrame({"store": number, "amount": amounts}).to_parquet(folder / f"sales-{number}.parquet")


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_sales(folder)
        report = parquet_report(str(folder))
    assert report["partitions"] == 4 and report["rows"] == 4000, report
    assert report["kept_amount"] > report["amount"], report
    return report


if __name__ == "__main__":
    print(main())
