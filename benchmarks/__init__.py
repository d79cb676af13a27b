"""legato's benchmark suite: legato against the raw backend it runs on.

    python -m benchmarks --quick                  # seconds, for CI
    python -m benchmarks                          # full sizes, for people
    python -m benchmarks --runners threads,dask --sections throughput

Sections (one module each):

* :mod:`benchmarks.throughput`: for every runner, the same workloads
  (:mod:`benchmarks.workloads`) as legato flows and on the raw backend
  (:mod:`benchmarks.raw`), back to back in one process, on the same workers
  (:mod:`benchmarks.backends`);
* :mod:`benchmarks.memory`: peak RSS and traced bytes per mapped task;
* :mod:`benchmarks.startup`: ``import legato``, flow call to first task
  start, a one-task flow right after import;
* :mod:`benchmarks.history`: the cost of recording run history.

With ``--peers``, :mod:`benchmarks.peers` runs the same workloads on
Prefect, ``dask.delayed`` and joblib, on each runner's backend and workers,
within a time budget per workload.

:mod:`benchmarks.report` prints the tables, writes the JSON and draws the
chart. Targets (:mod:`benchmarks.settings`) are printed next to the
measurements and never asserted: the numbers depend on the machine.

Importing this package imports neither legato nor any backend, so the
subprocesses it starts measure from a clean slate.
"""
