"""The workloads on ``joblib.Parallel``: its thread backend and its loky processes.

``Parallel(n_jobs=4, prefer="threads")`` is compared with legato's thread
runner and ``Parallel(n_jobs=2)`` (loky, joblib's default process backend)
with its process runner, on the same worker counts. joblib maps a function
over inputs and has no dependencies between tasks, so the chain and the
fan-out/fan-in do not apply (:data:`NOT_APPLICABLE`). A one-task "flow" is
one ``Parallel`` call of one task: loky keeps its worker processes between
calls, so that is joblib's fixed cost per call, not a pool start.
"""

from __future__ import annotations

from typing import Any

from benchmarks.functions import nap, noop
from benchmarks.settings import SLEEP_SECONDS

NOT_APPLICABLE = {
    "chain": "does not apply: joblib runs independent calls (no task takes another's result)",
    "fan": "does not apply: joblib runs independent calls (no task takes another's result)",
}


class Joblib:
    not_applicable = NOT_APPLICABLE

    def __init__(self, n_jobs: int, prefer: str | None) -> None:
        import joblib

        self.joblib = joblib
        self.n_jobs = n_jobs
        self.prefer = prefer
        self.method = (f'joblib.Parallel(n_jobs={n_jobs}, prefer="threads")' if prefer == "threads"
                       else f"joblib.Parallel(n_jobs={n_jobs}) (loky)")

    def _parallel(self, calls: Any) -> list[Any]:
        return list(self.joblib.Parallel(n_jobs=self.n_jobs, prefer=self.prefer)(calls))

    def noop_map(self, n: int) -> list[int]:
        return self._parallel(self.joblib.delayed(noop)(i) for i in range(n))

    def sleep_map(self, n: int) -> list[int]:
        return self._parallel(self.joblib.delayed(nap)(i, SLEEP_SECONDS) for i in range(n))

    def one_task(self, n: int) -> list[int]:
        return [self._parallel([self.joblib.delayed(noop)(i)])[0] for i in range(n)]
