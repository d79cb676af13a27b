"""A flow for the chaos cases that kill or interrupt the flow process itself.

Usage: python chaos_flow.py RUNNER N FOLDER OUT RUN_KEY SECONDS [ADDRESS]

Maps ``square`` over N elements on RUNNER (threads, processes, dask), each
leaving a "start" and a "done" marker in FOLDER and sleeping SECONDS between
them, under RUN_KEY ("-" for none). When all are done the flow writes the
values to OUT as JSON (temporary file, then rename: OUT is whole or missing).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # chaos_tasks

from chaos_tasks import mark  # noqa: E402

from legato import flow, task, unmapped  # noqa: E402


@task
def square(i: int, folder: str, seconds: float) -> int:
    mark(folder, "start", i)
    time.sleep(seconds)
    mark(folder, "done", i)
    return i * i


def runner(name: str, address: str | None):  # noqa: ANN201
    if name == "threads":
        from legato.runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=4)
    if name == "processes":
        from legato.runners.processes import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=2)
    if name == "dask":
        import cloudpickle

        import chaos_tasks
        from legato.runners.dask import DaskTaskRunner

        cloudpickle.register_pickle_by_value(chaos_tasks)
        return DaskTaskRunner(address=address) if address else DaskTaskRunner(
            cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "dashboard_address": None})
    raise SystemExit(f"unknown runner {name!r}")


def main() -> None:
    name, n, folder, out, run_key, seconds = sys.argv[1:7]
    address = sys.argv[7] if len(sys.argv) > 7 else None

    @flow(task_runner=runner(name, address))
    def chaos_map(n: int) -> list[int]:
        values = square.map(range(n), unmapped(folder), unmapped(float(seconds))).result()
        temporary = f"{out}.tmp"
        with open(temporary, "w") as file:
            json.dump(values, file)
        os.replace(temporary, out)
        return values

    chaos_map(int(n), run_key=None if run_key == "-" else run_key)


if __name__ == "__main__":
    main()
