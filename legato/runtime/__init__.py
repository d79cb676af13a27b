"""Prefect-compatible run metadata: ``from legato.runtime import flow_run, task_run``.

Each attribute is read when it is accessed, from the run the calling code
belongs to, so ``flow_run.name`` inside a task names that task's flow run.
Outside any run the ids and names are None and ``parameters`` is empty, as in
Prefect. See :mod:`legato.runtime.flow_run` and :mod:`legato.runtime.task_run`
for the attributes.
"""

from legato.runtime import deployment, flow_run, task_run

__all__ = ["deployment", "flow_run", "task_run"]
