"""Making the elements of a map: what every element shares is worked out once per map.

A mixin of :class:`legato.core.engine.FlowEngine`, used by ``Task.map``.
Making an element used to repeat, per element, what is the same for the
whole map: the tags and runner options of the ``tags(...)`` and
``runner_options(...)`` blocks around it, whether the task names its runs,
whether the map waits for anything. Here those are read once, and an
element whose arguments are plain scalars (the common ``task.map(range(n))``)
is made without walking its arguments for futures, with:

* its id made from a random base shared by the map plus its index, and
  its default name (``{task}-{n}``) from a number shared by a run of
  consecutive elements, both built when someone asks (see ``TaskRun.id``
  and ``TaskRun.name``): with history off nobody does;
* one creation time per chunk of elements (its unseen Pending state's);
* no future: the map's :class:`~legato.core.futures.LegatoFutureList`
  holds the task runs and makes an element's future when it is taken.

Any other element (futures in its arguments, ``wait_for``, a
``task_run_name`` template) is made as a submitted run is, by
``FlowEngine._new_run``.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from legato.core.arguments import _SCALARS
from legato.core.context import current_runner_options, current_tags, run_scope
from legato.core.futures import LegatoFutureList
from legato.core.graph import ElementNames, Limiter, TaskRun

if TYPE_CHECKING:
    from legato.core.task import Task

#: elements are started a chunk at a time while the rest are still being made
LAUNCH_CHUNK = 1024

_getrandbits = random.getrandbits


class MapElements:
    """``map_elements``: the task runs of one ``task.map`` call, started a chunk at a time."""

    # what it uses of the engine (set in FlowEngine.__init__, methods of FlowEngine)
    _lock: Any
    _counters: dict[str, Iterator[int]]
    _on_created: tuple[Any, ...]
    _new_run: Any
    record_edges: Any
    launch: Any

    def map_elements(self, task: Task, calls: Iterable[tuple[tuple[Any, ...], dict[str, Any]]],
                     wait_for: list[Any] | None, limiter: Limiter | None, iterated: list[str]) -> LegatoFutureList:
        """Make and launch a run per ``(args, kwargs)`` of ``calls``; their future list.

        ``iterated`` holds the ids of futures the map iterated over (filled
        while ``calls`` resolves them): edges into every element, for the
        history, that no element waits for.
        """
        futures = LegatoFutureList()
        counter = self._counters.get(task.name)
        if counter is None:
            with self._lock:
                counter = self._counters.setdefault(task.name, itertools.count())
        # elements inside a run scope (a transaction) are made one by one, so the scope hears of each
        compact = task.task_run_name is None and not wait_for and run_scope.get() is None
        extra_tags = current_tags()
        tags = task.tags | extra_tags if extra_tags else None
        block_options = current_runner_options()
        options = {**task.runner_options, **block_options} if block_options else None
        on_created = self._on_created
        id_base = _getrandbits(63)  # random, and no element's id goes past 64 bits
        names = ElementNames(0)
        chunk: list[TaskRun] = []
        since = time.time()
        append, add = futures.append, chunk.append
        scalars = _SCALARS
        try:
            for index, (args, kwargs) in enumerate(calls):
                plain = compact and not args
                if plain:
                    for value in kwargs.values():
                        if type(value) not in scalars:
                            plain = False
                            break
                if plain:
                    number = next(counter)
                    if number != names.offset + index:  # another run of this task took a number meanwhile
                        names = ElementNames(number - index)
                    run = TaskRun(self, task, names, index, args, kwargs, id_base, since)
                    if tags is not None:
                        run.tags = tags
                    if options is not None:
                        run.options = options
                    for created in on_created:
                        created(run)
                else:
                    run = self._new_run(task, args, kwargs, wait_for, index)
                if iterated:
                    self.record_edges(run, iterated)
                run.limiter = limiter
                append(run)  # the list makes its future when someone takes it
                add(run)
                if len(chunk) == LAUNCH_CHUNK:  # start the first elements while the rest are still being made
                    self.launch(chunk)
                    chunk = []
                    add = chunk.append
                    since = time.time()
        finally:  # an element that cannot be made must not strand the ones made before it
            if chunk:
                self.launch(chunk)
        return futures


__all__ = ["LAUNCH_CHUNK", "MapElements"]
