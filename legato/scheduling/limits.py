"""Limits across runs and processes: concurrency slots, rate limits, tag limits.

A limit is a row of ``$LEGATO_HOME/schedules.db`` (``legato limits set``):
``slots`` bounds how much may be occupied at once, ``per_second`` how fast
acquisitions may go. What holds a slot is a lease row naming its holder
(``host:pid:start``, see :mod:`.holders`) and an expiry, renewed by a daemon
thread while held. A lease whose holder process is gone (SIGKILL included)
or whose expiry passed is dropped by the next acquirer, so a dead holder
never keeps a slot.

* :func:`acquire` / :func:`release` take and give back ``occupy`` slots of
  each named limit (all or none); ``with legato.concurrency("warehouse"):``
  (:mod:`legato.concurrency.sync`, Prefect's path) holds them for a block.
* ``rate_limit("api")`` waits for the next free moment of a ``per_second``
  limit (a smooth rate, no burst) and returns.
* A limit named ``tag:NAME`` bounds task runs tagged ``NAME``: the task's
  attempt takes a slot before its function runs and frees it after (a retry
  delay holds no slot). The attempt waits *on its worker* (a first version:
  the engine does not yet hold such tasks back).

A name with no limit defined costs one cached lookup and limits nothing
(``strict=True`` raises :class:`~.errors.LimitNotFound` instead).
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from legato.scheduling.errors import ConcurrencySlotTimeout, LimitNotFound
from legato.scheduling.holders import current_holder, holder_alive
from legato.scheduling.store import Store, store_path

DEFAULT_LEASE_SECONDS = 60.0
TAG_PREFIX = "tag:"
#: How long the set of defined tag limits is trusted before it is read again.
TAG_LIMITS_TTL_SECONDS = 2.0

_stores: dict[tuple[int, Path], Store] = {}
_stores_lock = threading.Lock()


def _store() -> Store:
    """One store per process and home (a forked child opens its own)."""
    key = (os.getpid(), store_path())
    with _stores_lock:
        found = _stores.get(key)
        if found is None:
            found = _stores[key] = Store(key[1])
        return found


@dataclass
class LimitInfo:
    name: str
    slots: int | None
    per_second: float | None
    occupied: int
    holders: int


# -- defining limits -----------------------------------------------------------------


def set_limit(name: str, slots: int | None = None, per_second: float | None = None) -> None:
    """Create or change a limit (``slots`` at once and/or ``per_second``)."""
    name = name.strip()
    if not name:
        raise ValueError("a limit needs a name")
    if slots is None and per_second is None:
        raise ValueError("give slots, per_second, or both")
    if slots is not None and slots < 0:
        raise ValueError(f"slots must be >= 0, got {slots}")
    if per_second is not None and per_second <= 0:
        raise ValueError(f"per_second must be > 0, got {per_second}")
    _store().write(
        lambda c: c.execute(
            "INSERT INTO limits (name, slots, per_second, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET slots=excluded.slots, per_second=excluded.per_second",
            (name, slots, per_second, time.time()),
        )
    )
    _tag_limits.expire()


def remove_limit(name: str) -> None:
    def work(conn) -> None:  # type: ignore[no-untyped-def]
        if conn.execute("DELETE FROM limits WHERE name=?", (name,)).rowcount == 0:
            raise LimitNotFound(f"no limit named {name!r} (see 'legato limits ls')")
        conn.execute("DELETE FROM leases WHERE name=?", (name,))
        conn.execute("DELETE FROM rate_state WHERE name=?", (name,))

    _store().write(work)
    _tag_limits.expire()


def list_limits() -> list[LimitInfo]:
    store = _store()
    store.write(lambda c: _drop_dead_leases(c, time.time()))
    rows = store.read(
        "SELECT l.name, l.slots, l.per_second, COALESCE(SUM(s.occupy), 0), COUNT(DISTINCT s.holder) "
        "FROM limits l LEFT JOIN leases s ON s.name = l.name GROUP BY l.name ORDER BY l.name"
    )
    return [LimitInfo(*row) for row in rows]


# -- concurrency -----------------------------------------------------------------------


def acquire(
    names: list[str], occupy: int = 1, timeout_seconds: float | None = None, strict: bool = False,
    lease_seconds: float = DEFAULT_LEASE_SECONDS, max_tries: int | None = None,
) -> list[str]:  # fmt: skip
    """Take the slots (all or none), waiting for them; return the lease ids to :func:`release`.

    ``with legato.concurrency(...)`` (:mod:`legato.concurrency.sync`) is the
    block form. Gives up with :class:`ConcurrencySlotTimeout` after
    ``timeout_seconds`` or ``max_tries`` attempts, whichever comes first.
    """
    if occupy < 1:
        raise ValueError(f"occupy must be >= 1, got {occupy}")
    store = _store()
    holder = current_holder()
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    delay = 0.005
    tries = 0
    while True:
        result = store.write(lambda c: _try_acquire(c, names, occupy, strict, holder, lease_seconds))
        if result is not None:
            _renewer.hold(result, lease_seconds)
            return result
        tries += 1
        if max_tries is not None and tries >= max_tries:
            raise ConcurrencySlotTimeout(f"no {occupy} free slot(s) of {', '.join(names)} after {tries} tries")
        if deadline is not None and time.monotonic() >= deadline:
            raise ConcurrencySlotTimeout(
                f"no {occupy} free slot(s) of {', '.join(names)} within {timeout_seconds} s"
            )
        pause = delay * (1 + random.random())
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - time.monotonic()))
        time.sleep(pause)
        delay = min(delay * 1.5, 0.1)


def release(ids: list[str]) -> None:
    if not ids:
        return
    _renewer.drop(ids)
    marks = ", ".join("?" * len(ids))
    _store().write(lambda c: c.execute(f"DELETE FROM leases WHERE id IN ({marks})", ids))


def _try_acquire(conn, names, occupy, strict, holder, lease_seconds):  # type: ignore[no-untyped-def]
    now = time.time()
    _drop_dead_leases(conn, now)
    limited = []
    for name in names:
        row = conn.execute("SELECT slots FROM limits WHERE name=?", (name,)).fetchone()
        if row is None:
            if strict:
                raise LimitNotFound(f"no limit named {name!r} (create it with 'legato limits set {name} N')")
            continue
        slots = row[0]
        if slots is None:
            continue  # a rate-only limit
        if occupy > slots:
            raise ValueError(f"occupy={occupy} can never fit in limit {name!r} of {slots} slot(s)")
        used = conn.execute("SELECT COALESCE(SUM(occupy), 0) FROM leases WHERE name=?", (name,)).fetchone()[0]
        if used + occupy > slots:
            return None
        limited.append(name)
    ids = []
    for name in limited:
        lease_id = uuid.uuid4().hex
        conn.execute(
            "INSERT INTO leases (id, name, occupy, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (lease_id, name, occupy, holder, now, now + lease_seconds),
        )
        ids.append(lease_id)
    return ids


def _drop_dead_leases(conn, now: float) -> None:  # type: ignore[no-untyped-def]
    conn.execute("DELETE FROM leases WHERE expires_at < ?", (now,))
    holders = [h for (h,) in conn.execute("SELECT DISTINCT holder FROM leases")]
    dead = [h for h in holders if not holder_alive(h)]
    conn.executemany("DELETE FROM leases WHERE holder=?", [(h,) for h in dead])


class _Renewer:
    """A daemon thread that keeps this process's leases from expiring while they are held."""

    def __init__(self) -> None:
        self._held: dict[str, float] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def hold(self, ids: list[str], lease_seconds: float) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's leases are the parent's to renew
                self._held.clear()
                self._thread = None
            for lease_id in ids:
                self._held[lease_id] = lease_seconds
            if self._thread is None:
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="legato-lease-renewer", daemon=True)
                self._thread.start()

    def drop(self, ids: list[str]) -> None:
        with self._lock:
            for lease_id in ids:
                self._held.pop(lease_id, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                held = dict(self._held)
            shortest = min(held.values(), default=DEFAULT_LEASE_SECONDS)
            time.sleep(max(shortest / 3, 0.05))
            if not held:
                continue
            now = time.time()
            try:
                _store().write(
                    lambda c: c.executemany(
                        "UPDATE leases SET expires_at=? WHERE id=?", [(now + s, i) for i, s in held.items()]
                    )
                )
            except Exception:  # a failed renewal must not kill the thread; the next one may work
                pass


_renewer = _Renewer()


# -- rate limits -----------------------------------------------------------------------


def rate_limit(
    names: str | Iterable[str], occupy: int = 1, timeout_seconds: float | None = None, strict: bool = False
) -> None:
    """Wait until each named ``per_second`` limit lets ``occupy`` more through."""
    wait = _store().write(lambda c: _reserve(c, limit_names(names), occupy, timeout_seconds, strict))
    if wait > 0:
        time.sleep(wait)


def _reserve(conn, names, occupy, timeout_seconds, strict) -> float:  # type: ignore[no-untyped-def]
    now = time.time()
    plans = []
    for name in names:
        row = conn.execute("SELECT per_second FROM limits WHERE name=?", (name,)).fetchone()
        if row is None or row[0] is None:
            if strict:
                raise LimitNotFound(f"no rate limit named {name!r} (set one with 'legato limits set {name} --per-second R')")
            continue
        state = conn.execute("SELECT next_free FROM rate_state WHERE name=?", (name,)).fetchone()
        start = max(now, state[0] if state else now)
        plans.append((name, start, start + occupy / row[0]))
    wait = max((start - now for _, start, _ in plans), default=0.0)
    if timeout_seconds is not None and wait > timeout_seconds:
        raise ConcurrencySlotTimeout(f"rate limit {', '.join(names)} is not free within {timeout_seconds} s")
    conn.executemany(
        "INSERT INTO rate_state (name, next_free) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET next_free=excluded.next_free",
        [(name, end) for name, _, end in plans],
    )
    return wait


# -- tag limits, for the task attempt hook in legato.core.work --------------------------


class _TagLimits:
    """The names of the defined ``tag:`` limits, read at most every few seconds."""

    def __init__(self) -> None:
        self._names: frozenset[str] = frozenset()
        self._read_at = -1e9
        self._lock = threading.Lock()

    def expire(self) -> None:
        self._read_at = -1e9

    def names(self) -> frozenset[str]:
        if time.monotonic() - self._read_at < TAG_LIMITS_TTL_SECONDS:
            return self._names
        with self._lock:
            if store_path().exists():
                rows = _store().read("SELECT name FROM limits WHERE name LIKE 'tag:%' AND slots IS NOT NULL")
                self._names = frozenset(name[len(TAG_PREFIX):] for (name,) in rows)
            else:
                self._names = frozenset()  # no file: no limits, and no file created for them
            self._read_at = time.monotonic()
            return self._names


_tag_limits = _TagLimits()


def acquire_tag_slots(tags: Iterable[str]) -> list[str] | None:
    """Take one slot of each ``tag:`` limit among ``tags``; None if none applies."""
    limited = _tag_limits.names()
    if not limited:
        return None
    names = sorted(TAG_PREFIX + tag for tag in tags if tag in limited)
    if not names:
        return None
    return acquire(names)


def limit_names(names: str | Iterable[str]) -> list[str]:
    found = [names] if isinstance(names, str) else list(names)
    if not found:
        raise ValueError("give at least one limit name")
    return found


__all__ = [
    "LimitInfo", "acquire", "acquire_tag_slots", "limit_names", "list_limits", "rate_limit", "release",
    "remove_limit", "set_limit",
]
