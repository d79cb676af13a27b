"""Dask and Ray against their raw backends: a no-op map of N tasks.

Kept for its command line; the same measurement, with the other workloads
and runners, is part of ``python -m benchmarks`` (this is
``python -m benchmarks --runners dask,ray --sections throughput`` limited
to the no-op map, without the JSON and chart).

    python -m benchmarks.runners --quick          # N = 2000
    python -m benchmarks.runners                  # N = 10000
    python -m benchmarks.runners --only dask -n 5000

One cluster per backend serves both sides: raw ``client.submit`` per element
then ``client.gather`` (Dask) or ``.remote()`` per element then ``ray.get``
(Ray), against a flow whose body is ``noop.map(range(N)).result()`` on
``DaskTaskRunner(address=...)`` / ``RayTaskRunner(address="auto")``. It prints
tasks per second for both and legato/raw (1.0 = as fast as the raw backend).
"""

from __future__ import annotations

import argparse
import dataclasses

from benchmarks import throughput
from benchmarks.machine import isolated_environment
from benchmarks.settings import QUICK, WORKERS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 2000 instead of 10000")
    parser.add_argument("-n", type=int, help="number of tasks (overrides --quick)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best counts")
    parser.add_argument("--only", choices=("dask", "ray"), help="one backend only")
    args = parser.parse_args(argv)
    n = args.n or (2000 if args.quick else 10000)
    plan = dataclasses.replace(QUICK, repeat=args.repeat)
    print(f"no-op map of {n} tasks, best of {args.repeat}, workers: {WORKERS['dask']} (dask), {WORKERS['ray']} (ray)")
    print(f"{'backend':<8} {'raw tasks/s':>12} {'legato tasks/s':>15} {'legato/raw':>11}")
    with isolated_environment():
        for name in [args.only] if args.only else ["dask", "ray"]:
            result = throughput.run(name, plan, workloads=["noop_map"], sizes=[n])
            legato = [m.value for m in result.measurements if m.side == "legato"]
            raw = [m.value for m in result.measurements if m.side == "raw"]  # the first is per-task submit
            if legato and raw:
                print(f"{name:<8} {raw[0]:>12.0f} {legato[0]:>15.0f} {legato[0] / raw[0]:>11.2f}", flush=True)
            else:
                print(f"{name:<8} {result.error or result.errors}", flush=True)


if __name__ == "__main__":
    main()
