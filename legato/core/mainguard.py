"""No flow may start while a worker process is re-importing the main script.

The ``forkserver`` and ``spawn`` start methods do not copy the flow process
into a worker: they start a fresh one, and import the flow process's main
module in it again (as ``__mp_main__``) so that what it defines can be
unpickled there. A script that calls its flow at top level, without
``if __name__ == "__main__":``, therefore starts the flow again in every
worker, while multiprocessing is still setting that worker up. That flow
cannot start processes of its own there (multiprocessing refuses), the
worker dies, the flow process takes it for a crash and runs the task again
on a fresh worker, which does the same: noise, retries, and a misleading
:class:`~legato.core.errors.WorkerCrashedError` in the end.

So a flow call, and the start of a process pool, first asks
:func:`refuse_in_worker_startup`: is this process one of legato's workers,
still importing the main module? multiprocessing marks that phase with
``current_process()._inheriting``, the flag its own check of the same
mistake reads, and names the process (``legato-process-worker-N``) before it
imports the main module. If so the worker ends at once with exit code
:data:`UNGUARDED_MAIN_EXIT`: nothing of the flow runs (no log line, no
history row), and a worker has no connection to report on at that point
anyway (multiprocessing unpickles it after the main module). The flow
process's pool reads that code from a worker that died before it said it was
ready, and fails every job with a
:class:`~legato.core.errors.WorkerStartupError` telling to add the guard,
rather than retrying.

This module imports nothing: the check runs on every flow call, and costs a
dictionary lookup where multiprocessing is not even imported.
"""

from __future__ import annotations

import os
import sys

#: the name of every process pool worker; multiprocessing sets it before importing the main module
WORKER_NAME_PREFIX = "legato-process-worker-"
#: the exit code of a worker that found a flow starting while it imported the main module
UNGUARDED_MAIN_EXIT = 87


def refuse_in_worker_startup() -> None:
    """End this process if it is a legato worker still importing the main module (see the module docstring)."""
    process_module = sys.modules.get("multiprocessing.process")
    if process_module is None:  # a worker imports multiprocessing before the main module
        return
    process = process_module.current_process()
    if getattr(process, "_inheriting", False) and process.name.startswith(WORKER_NAME_PREFIX):
        os._exit(UNGUARDED_MAIN_EXIT)


def main_module_name() -> str:
    """The main module as the workers import it: the script's path, or the module run with ``-m``."""
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if spec_name is not None:
        return f"module {spec_name!r}"
    path = getattr(main, "__file__", None)
    return f"script {os.path.abspath(path)!r}" if path else "main module"


__all__ = ["UNGUARDED_MAIN_EXIT", "WORKER_NAME_PREFIX", "main_module_name", "refuse_in_worker_startup"]
