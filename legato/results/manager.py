"""The results manager: the one object the engine asks about cached and persisted results.

The engine makes one per flow run (:meth:`ResultsManager.for_flow_run`) and,
per task run::

    wants(task) ──False──▶ run the task, nothing else         (cached per Task: a dict lookup)
        │True
        ▼
    lookup(task, run_info, parameters) ──(True, value)──▶ Completed "Cached", task not run
        │(False, None)
        ▼
    run the task ──ok──▶ store(task, run_info, parameters, value)

Nothing here ever fails a task: every error is logged on the
``legato.results`` logger and becomes a miss, or a skipped write.

Which task runs persist (first rule that applies):

1. the task's ``persist_result`` if set (``False`` also turns caching off);
2. ``True`` if the task sets ``cache_policy`` (other than ``NO_CACHE``),
   ``cache_key_fn``, ``result_storage_key``, ``result_storage`` or
   ``result_serializer``;
3. ``True`` if the flow run has a run key;
4. the flow's ``persist_result`` (``True`` if the flow sets ``result_storage``
   or ``result_serializer``);
5. the ``LEGATO_PERSIST_RESULTS`` switch (off by default), as Prefect's
   ``PREFECT_RESULTS_PERSIST_BY_DEFAULT``.

Where a persisting task run's result is written, and looked up first:

* with a run key: ``runs/<flow>/<run key>/<task>/<hash of inputs>`` (the task
  run name instead of the hash when the inputs cannot be hashed), so a rerun
  with the same key loads what already completed;
* ``result_storage_key`` if set (looked up too, unless ``cache_policy=NO_CACHE``);
* else the key of ``cache_key_fn`` (used as given, as in Prefect), or of the
  cache policy, hashed together with the task function's module and name so
  that two tasks never share a record by accident. With no policy set, the
  policy is ``DEFAULT``, except under a run key, whose record already serves
  reruns within the flow run. A policy that returns None, or inputs that
  cannot be hashed (warning), mean no cache record.

``refresh_cache=True`` (or ``LEGATO_REFRESH_CACHE``) skips the lookups and
overwrites the records. ``cache_expiration`` is written into each record.
Storage and serializer: the task's option, else the flow's, else
``$LEGATO_HOME/results`` and ``"cloudpickle"``. A record is loaded only with
the task's own serializer: one that names another is a miss with a warning
(the serializer named inside a record is the writer's claim, not a fact).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from legato import config
from legato.results.hashing import UnhashableError, hash_objects
from legato.results.keys import render_run_key, render_storage_key, run_record_key, slug
from legato.results.records import RecordError, UnsignedRecord, decode_record, encode_record
from legato.results.signing import signing_key
from legato.results.storage import ResultStorage, check_key, default_root, resolve_storage
from legato.serializers import TASK_SERIALIZER, Serializer, get_serializer

logger = logging.getLogger("legato.results")

PERSIST_ENV = "LEGATO_PERSIST_RESULTS"
REFRESH_ENV = "LEGATO_REFRESH_CACHE"
DEFAULT_SERIALIZER = TASK_SERIALIZER

_MISS: tuple[bool, Any] = (False, None)
#: ids of task runs inside a transaction: their records are written when it commits, never by a worker
deferred_runs: set[str] = set()
_build_lock = threading.Lock()


@dataclass(frozen=True)
class CacheContext:
    """What ``cache_key_fn(context, parameters)`` and cache policies see of a task run."""

    task: Any
    task_run: Any  # legato.core.context.RunInfo: name, id, flow_run_id, map_index, ...
    flow_run_id: str | None
    flow_parameters: dict[str, Any]
    parameters: dict[str, Any]
    flow_run: Any = None
    run_key: str | None = None


@dataclass(frozen=True)
class _Plan:
    """What to do for every run of one Task object, decided once."""

    persist: bool
    refresh: bool = False
    use_run_key: bool = False
    policy: Any = None  # CachePolicy or None
    namespaced: bool = True  # hash the policy key with the task's identity
    storage_key: str | None = None
    read_storage_key: bool = True
    storage: Any = None  # the result_storage option
    serializer: Serializer | None = None
    expiration: float | None = None
    identity: str = ""


_OFF = _Plan(persist=False)


@dataclass
class _Location:
    key: str
    readable: bool = True


class ResultsManager:
    """Looks up and stores the results of the task runs of one flow run."""

    def __init__(self, flow: Any, flow_run: Any, run_key: str | None = None) -> None:
        self.flow = flow
        self.flow_run = flow_run
        self.run_key = run_key
        self.clock = time.time  # tests replace it to move time
        self._plans: dict[int, tuple[Any, _Plan]] = {}
        self._pending: dict[str, list[_Location]] = {}
        self._warned: set[tuple[Any, ...]] = set()
        self._lock = threading.Lock()
        self._default_storage: ResultStorage | None = None

    @classmethod
    def for_flow_run(cls, flow: Any, flow_run: Any) -> ResultsManager | None:
        """The manager of a flow run.

        Always a manager: any task may opt in with its own options, and
        :meth:`wants` is a dict lookup for those that do not. The run key is
        ``flow_run.run_key``, else the flow's ``run_key`` option rendered with
        the run's parameters, else, for a subflow of a run that has one,
        ``<parent key>/<subflow name>/<hash of its parameters>``; a derived key
        is written back to ``flow_run.run_key``.
        """
        run_key = getattr(flow_run, "run_key", None)
        if run_key is None:
            run_key = _derived_run_key(flow, flow_run)
            if run_key is not None:
                try:
                    flow_run.run_key = run_key
                except AttributeError:
                    pass
        return cls(flow, flow_run, run_key)

    # ------------------------------------------------------------------ engine API

    def wants(self, task: Any) -> bool:
        """Whether runs of ``task`` are looked up and stored at all (cheap; cached per Task)."""
        return self._plan(task).persist

    def lookup(self, task: Any, run_info: Any, parameters: dict[str, Any]) -> tuple[bool, Any]:
        """``(True, value)`` from a valid record for this task run, else ``(False, None)``."""
        try:
            plan = self._plan(task)
            if not plan.persist:
                return _MISS
            locations = self._locations(plan, task, run_info, parameters)
            if not plan.refresh and locations:
                storage = self._storage(plan)
                for location in locations:
                    if location.readable:
                        found = self._read(storage, plan, location.key)
                        if found[0]:
                            return found
            with self._lock:  # a miss: store() writes where we looked
                self._pending[run_info.id] = locations
            return _MISS
        except Exception:
            logger.warning("looking up a stored result of task run %r failed; running it", _name(run_info),
                           exc_info=True)
            return _MISS

    def store(self, task: Any, run_info: Any, parameters: dict[str, Any], value: Any) -> None:
        """Persist ``value`` where :meth:`lookup` looks for it, if this task run persists."""
        try:
            plan = self._plan(task)
            if not plan.persist:
                return
            with self._lock:
                locations = self._pending.pop(run_info.id, None)
            if locations is None:
                locations = self._locations(plan, task, run_info, parameters)
            if locations:
                self._write(plan, locations, value, run_info)
        except Exception:
            logger.warning("could not store the result of task run %r", _name(run_info), exc_info=True)

    def worker_records(self, task: Any, run_id: str) -> Any:
        """The records of a task run that missed, for its worker to read and write itself, or None.

        Only after :meth:`lookup` missed for ``run_id`` (its locations are
        pending), only for storages the workers share, and not under
        ``refresh_cache``. See :mod:`legato.results.remote`.
        """
        try:
            plan = self._plan(task)
            if not plan.persist or plan.refresh or plan.serializer is None or run_id in deferred_runs:
                return None
            with self._lock:
                locations = self._pending.get(run_id)
            if not locations:
                return None
            from legato.results.remote import WorkerRecords, shared_storage

            storage = self._storage(plan)
            if not shared_storage(storage):
                return None
            return WorkerRecords(storage, tuple(loc.key for loc in locations if loc.readable),
                                 tuple(loc.key for loc in locations), plan.serializer, plan.expiration)
        except Exception:
            logger.debug("no worker-side records for task run %s", run_id, exc_info=True)
            return None

    # ------------------------------------------------------------------ plans

    def _plan(self, task: Any) -> _Plan:
        entry = self._plans.get(id(task))
        if entry is not None and entry[0] is task:
            return entry[1]
        # One plan at a time, process-wide: building one imports modules (cache
        # policies, the serializer's package), and two threads importing the same
        # module at once can see it half-initialized.
        with _build_lock:
            entry = self._plans.get(id(task))
            if entry is not None and entry[0] is task:
                return entry[1]
            try:
                plan = self._build_plan(task)
            except Exception as error:
                self._warn_once(("plan", id(task)), "task %r: invalid result options, its results are not cached "
                                "or persisted: %s", _task_name(task), error)
                plan = _OFF
            self._plans[id(task)] = (task, plan)  # keeps task alive, so its id is not reused
        return plan

    def _build_plan(self, task: Any) -> _Plan:
        from legato.cache_policies import CacheKeyFnPolicy, CachePolicy, NoCache

        policy = getattr(task, "cache_policy", None)
        key_fn = getattr(task, "cache_key_fn", None)
        storage_key = getattr(task, "result_storage_key", None)
        no_cache = isinstance(policy, NoCache)
        persist = self._persists(task, opted_in=bool(
            (policy is not None and not no_cache) or key_fn is not None or storage_key is not None
            or getattr(task, "result_storage", None) is not None
            or getattr(task, "result_serializer", None) is not None))
        if not persist:
            if (policy is not None and not no_cache) or key_fn is not None:
                self._warn_once(("no-persist", id(task)), "task %r: persist_result=False turns its cache_policy "
                                "and cache_key_fn off", _task_name(task))
            return _OFF
        namespaced = True
        if storage_key is not None:
            policy = None
        elif key_fn is not None:
            policy, namespaced = CacheKeyFnPolicy(key_fn), False
        elif policy is None and self.run_key is not None:
            pass  # no DEFAULT record: the run key's record already serves reruns in this flow run
        elif policy is None:
            from legato.cache_policies import DEFAULT

            policy = DEFAULT
        elif no_cache:
            policy = None
        elif not isinstance(policy, CachePolicy):
            raise TypeError(f"cache_policy must be a CachePolicy, got {policy!r}")
        refresh = getattr(task, "refresh_cache", None)
        serializer = get_serializer(getattr(task, "result_serializer", None)
                                    or getattr(self.flow, "result_serializer", None) or DEFAULT_SERIALIZER)
        _import_serializer(serializer)
        task_storage = getattr(task, "result_storage", None)
        return _Plan(
            persist=True,
            refresh=config.refresh_cache() if refresh is None else bool(refresh),
            use_run_key=self.run_key is not None,
            policy=policy,
            namespaced=namespaced,
            storage_key=storage_key,
            read_storage_key=not no_cache,
            storage=task_storage if task_storage is not None else getattr(self.flow, "result_storage", None),
            serializer=serializer,
            expiration=_seconds(getattr(task, "cache_expiration", None)),
            identity=_identity(task),
        )

    def _persists(self, task: Any, opted_in: bool) -> bool:
        explicit = getattr(task, "persist_result", None)
        if explicit is not None:
            return bool(explicit)
        if opted_in or self.run_key is not None:
            return True
        from_flow = _flow_persists(self.flow)
        if from_flow is not None:
            return from_flow
        return config.persist_results()

    # ------------------------------------------------------------------ keys

    def _locations(self, plan: _Plan, task: Any, run_info: Any, parameters: dict[str, Any]) -> list[_Location]:
        locations = []
        if plan.use_run_key:
            locations.append(_Location(self._run_record_key(plan, task, run_info, parameters)))
        if plan.storage_key is not None:
            key = self._storage_key(plan, task, run_info, parameters)
            if key is not None:
                locations.append(_Location(key, readable=plan.read_storage_key))
        elif plan.policy is not None:
            key = self._cache_key(plan, task, run_info, parameters)
            if key is not None:
                locations.append(_Location(key))
        return locations

    def _run_record_key(self, plan: _Plan, task: Any, run_info: Any, parameters: dict[str, Any]) -> str:
        try:
            inputs_hash: str | None = hash_objects(plan.identity, parameters)
        except UnhashableError as error:
            self._warn_once(("run-unhashable", id(task)), "task %r: %s; its results are kept for this run key "
                            "by task run name, so a rerun must submit it in the same order", _task_name(task), error)
            inputs_hash = None
        assert self.run_key is not None
        return run_record_key(_flow_name(self.flow, self.flow_run), self.run_key, _task_name(task),
                              inputs_hash, _name(run_info))

    def _storage_key(self, plan: _Plan, task: Any, run_info: Any, parameters: dict[str, Any]) -> str | None:
        assert plan.storage_key is not None
        try:
            return render_storage_key(plan.storage_key, parameters, run_info, self.flow_run)
        except Exception as error:
            self._warn_once(("storage-key", id(task)), "task %r: cannot build result_storage_key from %r: %r; "
                            "not persisted", _task_name(task), plan.storage_key, error)
            return None

    def _cache_key(self, plan: _Plan, task: Any, run_info: Any, parameters: dict[str, Any]) -> str | None:
        context = CacheContext(
            task=task, task_run=run_info, flow_run_id=getattr(self.flow_run, "id", None),
            flow_parameters=dict(getattr(self.flow_run, "parameters", None) or {}), parameters=parameters,
            flow_run=self.flow_run, run_key=self.run_key,
        )
        try:
            key = plan.policy.compute_key(context, parameters, context.flow_parameters)
        except UnhashableError as error:
            self._warn_once(("unhashable", id(task)), "task %r is not cached: %s", _task_name(task), error)
            return None
        except Exception as error:
            self._warn_once(("key", id(task)), "task %r is not cached: computing its cache key raised %r",
                            _task_name(task), error)
            return None
        if key is None:
            return None
        if plan.namespaced:
            return hash_objects(plan.identity, str(key))
        try:
            return check_key(str(key))
        except ValueError:
            return slug(str(key))

    # ------------------------------------------------------------------ records

    def _storage(self, plan: _Plan) -> ResultStorage:
        if plan.storage is not None:
            return resolve_storage(plan.storage)
        if self._default_storage is None:  # LEGATO_HOME is read once per flow run
            self._default_storage = resolve_storage(default_root())
        return self._default_storage

    def _read(self, storage: ResultStorage, plan: _Plan, key: str) -> tuple[bool, Any]:
        data = storage.read(key)
        if data is None:
            return _MISS
        try:
            record = decode_record(data, expected_key=key, signing_key=signing_key)
        except UnsignedRecord as error:
            # Every record of an older legato's JSON/msgpack results reads so: one warning
            # per flow run, not one per element of a map.
            self._warn_once(("unsigned",), "ignoring stored result %s: %s (further unsigned records of this "
                            "flow run are ignored without a warning)", storage.location(key), error)
            return _MISS
        except RecordError as error:
            logger.warning("ignoring stored result %s: %s", storage.location(key), error)
            return _MISS
        if record.is_expired(self.clock()):
            logger.debug("stored result %s has expired", storage.location(key))
            return _MISS
        serializer = plan.serializer
        assert serializer is not None
        if serializer.name != record.serializer:
            # Never load with the serializer the record names: the task's own is the one it was written with.
            logger.warning("ignoring stored result %s: it was written by serializer %r, this task's is %r",
                           storage.location(key), record.serializer, serializer.name)
            return _MISS
        try:
            return True, serializer.loads(record.payload)
        except Exception as error:
            logger.warning("ignoring stored result %s: cannot load it with serializer %r: %s",
                           storage.location(key), record.serializer, error)
            return _MISS

    def _write(self, plan: _Plan, locations: list[_Location], value: Any, run_info: Any) -> None:
        assert plan.serializer is not None
        try:
            payload = plan.serializer.dumps(value)
        except Exception as error:
            logger.warning("result of task run %r not stored: %s", _name(run_info), error)
            return
        storage = self._storage(plan)
        created = self.clock()
        expires = None if plan.expiration is None else created + plan.expiration
        for location in locations:
            record = encode_record(location.key, plan.serializer, payload, created=created, expires=expires,
                                   signing_key=signing_key)
            storage.write(location.key, record)

    # ------------------------------------------------------------------ helpers

    def _warn_once(self, token: tuple[Any, ...], message: str, *args: Any) -> None:
        with self._lock:
            if token in self._warned:
                return
            self._warned.add(token)
        logger.warning(message, *args)


def _import_serializer(serializer: Serializer) -> None:
    """Import what the serializer needs now, under the build lock, not first in many threads at once."""
    try:
        serializer.dumps(None)
    except Exception:
        pass


def _derived_run_key(flow: Any, flow_run: Any) -> str | None:
    option = getattr(flow, "run_key", None)
    if option is not None:
        try:
            return render_run_key(option, getattr(flow_run, "parameters", None) or {})
        except (TypeError, ValueError) as error:
            logger.warning("flow run %r has no run key: %s", getattr(flow_run, "name", "?"), error)
            return None
    return _inherited_run_key(flow, flow_run)


def _inherited_run_key(flow: Any, flow_run: Any) -> str | None:
    """A subflow of a run with a run key gets one of its own, derived from the parent's."""
    from legato.core.context import flow_run_context

    parent = flow_run_context.get()
    if parent is None or parent.flow_run is flow_run:
        return None
    parent_key = getattr(parent.flow_run, "run_key", None)
    if parent_key is None:
        return None
    try:
        parameters_hash = hash_objects(getattr(flow_run, "parameters", None) or {})
    except UnhashableError as error:
        logger.warning("subflow run %r does not inherit run key %r: %s", getattr(flow_run, "name", "?"),
                       parent_key, error)
        return None
    return f"{parent_key}/{_flow_name(flow, flow_run)}/{parameters_hash[:16]}"


def _flow_persists(flow: Any) -> bool | None:
    if flow is None:
        return None
    value = getattr(flow, "persist_result", None)
    if value is not None:
        return bool(value)
    if getattr(flow, "result_storage", None) is not None or getattr(flow, "result_serializer", None) is not None:
        return True
    return None


def _seconds(expiration: Any) -> float | None:
    if expiration is None:
        return None
    if isinstance(expiration, dt.timedelta):
        return expiration.total_seconds()
    if isinstance(expiration, (int, float)) and not isinstance(expiration, bool):
        return float(expiration)
    raise TypeError(f"cache_expiration must be a timedelta or a number of seconds, got {expiration!r}")


def _identity(task: Any) -> str:
    """The task function's module and name; a script's ``__main__`` is named after its file.

    So ``python flows.py`` and ``legato run flows.py:...`` (which imports the
    file as ``flows``) find the same records.
    """
    fn = getattr(task, "fn", None)
    fn = getattr(fn, "__func__", fn)
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if module is None or qualname is None:
        return f"task:{_task_name(task)}"
    if module == "__main__":
        filename = getattr(getattr(fn, "__code__", None), "co_filename", "")
        module = os.path.splitext(os.path.basename(filename))[0] or module
    return f"{module}.{qualname}"


def _flow_name(flow: Any, flow_run: Any) -> str:
    return str(getattr(flow, "name", None) or getattr(flow_run, "flow_name", None) or "flow")


def _task_name(task: Any) -> str:
    return str(getattr(task, "name", None) or "task")


def _name(run_info: Any) -> str:
    return str(getattr(run_info, "name", None) or getattr(run_info, "id", "?"))


__all__ = ["DEFAULT_SERIALIZER", "PERSIST_ENV", "REFRESH_ENV", "CacheContext", "ResultsManager"]
