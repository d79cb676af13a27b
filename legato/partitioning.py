"""Mapping over the partitions of a Dask collection, or over Ray objects, where they live.

``task.map(ddf.to_delayed())`` (or ``task.map(legato.partitions(ddf))``)
runs one task run per partition. The core offers every argument of a call to
the flow's runner before it makes the runs (:mod:`legato.core.adoption`);
this module is what the runners answer with:

* :func:`lazy_kind` tells a backend's lazy value (a Dask ``Delayed``, a Dask
  ``Future``, a Ray ``ObjectRef``) from anything else, by its type's module,
  so neither Dask nor Ray is imported unless the value came from them;
* :func:`adopt_value` finds such values in an argument (itself, or inside
  lists and tuples, at any depth; a NumPy object array such as
  ``arr.to_delayed()`` counts as a nested list) and hands all of one kind to
  one handler call, so a map over 1000 partitions is one ``client.compute``;
* :func:`compute_locally` is the handler of runners that have no cluster
  (sync, threads, processes, and Ray for Dask values, Dask for Ray values):
  the values are computed in the flow process, in one ``dask.compute``
  (``ray.get``), and passed as plain values. A partition that fails to
  compute raises :class:`~legato.core.errors.PartitionError` naming it, from
  the ``map``/``submit`` call.

The Dask runner's handler computes the partitions on the cluster instead
(``client.compute``) and the Ray runner's keeps the refs: each mapped run is
then submitted with its partition's future as an upstream, so the partition
goes from the worker that computed it to the task (usually the same worker)
and never through the flow process.

Results back as a collection: :func:`to_dask_dataframe` and
:func:`to_dask_bag` build a Dask collection from a map's futures without
fetching the values into the flow process (on the Dask runner they wrap the
runs' Dask futures).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from legato.core.errors import PartitionError

#: a handler: ``(values, names) -> replacements`` for all the lazy values of one kind in one argument
Handler = Callable[[list[Any], list[str]], list[Any]]

_SCALARS = frozenset({int, float, str, bytes, bool, type(None)})
_kinds: dict[type, str | None] = {}


def lazy_kind(value: Any) -> str | None:
    """``"dask"`` (a ``Delayed``), ``"dask-future"``, ``"ray"`` (an ``ObjectRef``) or None."""
    cls = type(value)
    try:
        return _kinds[cls]
    except KeyError:
        pass
    except TypeError:  # an unhashable type object: not one of ours
        return None
    kind = _kind_of_type(cls)
    _kinds[cls] = kind
    return kind


def _kind_of_type(cls: type) -> str | None:
    module = cls.__module__ or ""
    if module.startswith("dask"):
        delayed = sys.modules.get("dask.delayed")
        if delayed is not None and issubclass(cls, delayed.Delayed):
            return "dask"
    elif module.startswith("distributed"):
        client = sys.modules.get("distributed.client")
        if client is not None and issubclass(cls, client.Future):
            return "dask-future"
    elif module.startswith("ray"):
        ray = sys.modules.get("ray")
        if ray is not None and issubclass(cls, ray.ObjectRef):
            return "ray"
    return None


def backends_loaded() -> bool:
    """Whether any value could be lazy at all: Dask or Ray has been imported (cheap; checked first)."""
    modules = sys.modules
    return "dask" in modules or "ray" in modules or "distributed" in modules


def adopt_value(value: Any, handlers: dict[str, Handler]) -> Any:
    """``value`` with the lazy values in it replaced by their handler's answers (the same object if none)."""
    found: list[tuple[str, Any, str]] = []  # (kind, value, name)
    shape = _find(value, found, None, 0)
    if not found:
        return value
    by_kind: dict[str, list[int]] = {}
    for position, (kind, _, _) in enumerate(found):
        by_kind.setdefault(kind, []).append(position)
    replacements: list[Any] = [None] * len(found)
    for kind, positions in by_kind.items():
        handler = handlers.get(kind) or _LOCAL[kind]
        answers = handler([found[p][1] for p in positions], [found[p][2] for p in positions])
        for position, answer in zip(positions, answers):
            replacements[position] = answer
    return _rebuild(shape, iter(replacements))


_LEAF = object()


def _find(value: Any, found: list[tuple[str, Any, str]], index: int | None, depth: int) -> Any:
    """The shape of ``value`` for :func:`_rebuild`: ``_LEAF`` where a lazy value was, the object elsewhere."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    kind = lazy_kind(value)
    if kind is not None:
        found.append((kind, value, _name(value, index)))
        return _LEAF
    if depth > 3:
        return value
    if cls is list or cls is tuple:
        items = value
    elif cls.__module__ == "numpy" and getattr(getattr(value, "dtype", None), "kind", None) == "O":
        items = value.tolist()  # arr.to_delayed(): a NumPy array of Delayed
        if type(items) is not list:  # a 0-d array (a scalar's to_delayed()): its one object
            found_before = len(found)
            shape = _find(items, found, index, depth + 1)
            return shape if len(found) > found_before else value
        cls = list
    else:
        return value
    before = len(found)
    shapes = [_find(item, found, i if depth == 0 else index, depth + 1) for i, item in enumerate(items)]
    if len(found) == before:
        return value
    return (_Node, cls, shapes)


class _Node:
    pass


def _rebuild(shape: Any, replacements: Any) -> Any:
    if shape is _LEAF:
        return next(replacements)
    if type(shape) is tuple and len(shape) == 3 and shape[0] is _Node:
        _, cls, shapes = shape
        items = [_rebuild(s, replacements) for s in shapes]
        return items if cls is list else tuple(items)
    return shape


def _name(value: Any, index: int | None) -> str:
    key = getattr(value, "key", None)
    if key is None:
        hex_id = getattr(value, "hex", None)
        key = hex_id()[:16] if callable(hex_id) else type(value).__name__
    return f"partition {index} ({key!r})" if index is not None else f"partition {key!r}"


# ---------------------------------------------------------------------- computed in the flow process


def compute_locally(values: list[Any], names: list[str]) -> list[Any]:
    """The default handler: Dask values computed in one ``dask.compute``; ``PartitionError`` names a failure."""
    import dask

    try:
        return list(dask.compute(*values))
    except Exception as error:
        raise _first_failure(values, names, lambda v: dask.compute(v)[0], error) from error


def _gather_dask_futures(values: list[Any], names: list[str]) -> list[Any]:
    try:
        return [value.result() for value in values]
    except Exception as error:
        raise _first_failure(values, names, lambda v: v.result(), error) from error


def _get_ray(values: list[Any], names: list[str]) -> list[Any]:
    import ray

    try:
        return list(ray.get(values))
    except Exception as error:
        raise _first_failure(values, names, ray.get, error) from error


def _first_failure(values: list[Any], names: list[str], compute: Callable[[Any], Any],
                   error: BaseException) -> PartitionError:
    """Which partition failed: each is computed alone (only after the whole failed; errors are rare)."""
    for value, name in zip(values, names):
        try:
            compute(value)
        except Exception as own:
            return PartitionError(f"{name} could not be computed: {type(own).__name__}: {own}")
    return PartitionError(f"{len(values)} partition(s) could not be computed: {type(error).__name__}: {error}")


_LOCAL: dict[str, Handler] = {"dask": compute_locally, "dask-future": _gather_dask_futures, "ray": _get_ray}


def compute_locally_by_kind(kind: str, values: list[Any], names: list[str]) -> list[Any]:
    """The values of lazy values of one kind, fetched or computed in this process (the default handlers)."""
    return _LOCAL[kind](values, names)


# ---------------------------------------------------------------------- the public helpers


def partitions(collection: Any) -> list[Any]:
    """The partitions of a Dask collection (DataFrame, Series, Array, Bag), as ``Delayed`` objects to map over.

    ``task.map(legato.partitions(ddf))`` is ``task.map(ddf.to_delayed())``;
    an array's blocks come in C order (``arr.to_delayed().ravel()``). A list
    (of ``Delayed``, Ray refs...) is returned as a list.
    """
    if isinstance(collection, (list, tuple)):
        return list(collection)
    if lazy_kind(collection) is not None:
        return [collection]
    to_delayed = getattr(collection, "to_delayed", None)
    if to_delayed is None or "dask" not in sys.modules or not sys.modules["dask"].is_dask_collection(collection):
        raise TypeError(f"legato.partitions() takes a Dask collection (DataFrame, Array, Bag), "
                        f"got {type(collection).__name__}")
    parts = to_delayed()
    if hasattr(parts, "ravel"):
        parts = parts.ravel().tolist()
    return list(parts)


def to_dask_dataframe(futures: Iterable[Any], meta: Any = None, **options: Any) -> Any:
    """A Dask DataFrame whose partitions are the results of ``futures`` (one mapped run each), left where they are.

    On the Dask runner the partitions are the runs' Dask futures: nothing is
    fetched into the flow process (give ``meta``, or Dask computes the first
    partition to learn the columns). On other runners the values are local
    already and are wrapped as they are. ``options`` go to
    ``dask.dataframe.from_delayed`` (``divisions``, ``verify_meta``...).
    The collection uses the runner's cluster: compute it while the flow's
    runner is up (inside the flow, or on a runner given an ``address``).
    """
    try:
        import dask.dataframe as dd
    except ImportError as error:
        from legato.core.errors import MissingDependencyError

        raise MissingDependencyError('to_dask_dataframe needs dask.dataframe: pip install "legato[parquet]"') from error
    return dd.from_delayed(_parts(futures), meta=meta, **options)


def to_dask_bag(futures: Iterable[Any]) -> Any:
    """A Dask Bag whose partitions are the results of ``futures`` (each a sequence), as :func:`to_dask_dataframe`."""
    import dask.bag as db

    return db.from_delayed(_parts(futures))


def compute(*collections: Any, **options: Any) -> Any:
    """``dask.compute`` on the cluster of the current flow's Dask runner (where the mapped results are).

    A collection from :func:`to_dask_dataframe` on the Dask runner is made of
    Dask futures of the runner's client, which is not the process's default
    client (see :mod:`legato.runners.dask`), so a bare ``.compute()`` would
    look for them on the local scheduler. Inside a flow on the Dask runner
    this computes on the runner's client; elsewhere it is plain
    ``dask.compute`` (give ``scheduler=client`` yourself). One collection
    gives its value, several a tuple, as ``dask.compute`` does.
    """
    import dask

    if "scheduler" not in options:
        client = _flow_dask_client()
        if client is not None:
            options["scheduler"] = client
    values = dask.compute(*collections, **options)
    return values[0] if len(collections) == 1 else values


def _flow_dask_client() -> Any:
    from legato.core.context import flow_run_context

    engine = getattr(flow_run_context.get(), "engine", None)
    runner = getattr(engine, "runner", None)
    if runner is None or getattr(runner, "name", None) != "dask" or not runner.started:
        return None
    return runner.client


def _parts(futures: Iterable[Any]) -> list[Any]:
    """Each future's result as a Dask ``Future`` (where it lives on the cluster) or a ``Delayed`` of its value."""
    import dask

    parts: list[Any] = []
    for future in futures:
        run = getattr(future, "task_run", None)
        if run is None:  # a value, or a Delayed/Future already
            parts.append(future if lazy_kind(future) is not None else dask.delayed(future))
            continue
        future.wait()
        if not future.state.is_completed():
            future.result()  # raises the run's error
        remote = getattr(run.runner_future, "dask_future", None)
        if remote is None:
            parts.append(dask.delayed(future.result()))
        elif run.batch_index is None:
            parts.append(remote)
        else:  # an element of a batch: picked out of the batch's result on the worker that holds it
            parts.append(dask.delayed(_element, pure=True)(remote, run.batch_index))
    return parts


def _element(batch: Any, index: int) -> Any:
    return batch[1][index][1]


#: ``legato.partitions.to_dask_dataframe(...)`` reads as the way back from ``legato.partitions(ddf)``
partitions.to_dask_dataframe = to_dask_dataframe  # type: ignore[attr-defined]
partitions.to_dask_bag = to_dask_bag  # type: ignore[attr-defined]
partitions.compute = compute  # type: ignore[attr-defined]


__all__ = ["adopt_value", "backends_loaded", "compute", "compute_locally", "compute_locally_by_kind", "lazy_kind", "partitions", "to_dask_bag",
           "to_dask_dataframe"]
