"""A transaction: a block whose task runs commit together or are rolled back together.

The states and what moves between them (as in Prefect 3)::

    PENDING ──enter──▶ ACTIVE ──stage──▶ STAGED ──commit──▶ COMMITTED
                         │                 │
                         └─────rollback────┴──────────────▶ ROLLED_BACK

Entering a transaction whose ``key`` already has a record makes it
COMMITTED at once (its work was done before); commit and rollback then do
nothing. Leaving the block:

* with an exception: roll back, and the parent (if any) rolls back too;
* otherwise, by ``commit_mode``: ``EAGER`` commits now; a nested transaction
  then hands itself to its parent, which commits or rolls it back with its
  own children; the outermost ``LAZY`` one commits, an ``OFF`` one rolls back
  unless committed already.

Committing commits the children first (in the order they joined), then runs
this transaction's ``on_commit`` hooks, then writes its record; rolling back
runs its ``on_rollback`` hooks in reverse order, then rolls back its
children in reverse order. A hook that raises is logged and ends that one
commit (which becomes a rollback) or rollback; the siblings go on.

How task runs take part (:mod:`legato.transactions.runs`): every task run
created inside the block gets a child transaction; it joins the block's
transaction when it completes (its ``on_commit``/``on_rollback`` hooks and
its record write staged there), and a task run that fails rolls the block's
transaction back at once.

The current transaction is the core's ``run_scope`` context variable (the
engine reads it once per task run it creates; nothing else is read on the
hot path).
"""

from __future__ import annotations

import copy
import enum
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, AsyncIterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from legato.core.context import run_scope
from legato.core.errors import ConfigurationError
from legato.core.hooks import call_hook
from legato.transactions import runs
from legato.transactions.store import ResultRecord, TransactionStore, resolve_store

_logger = logging.getLogger("legato.transactions")
_NOTSET: Any = object()


class IsolationLevel(str, enum.Enum):
    #: others see this transaction's records only once it commits (records are written at commit)
    READ_COMMITTED = "READ_COMMITTED"
    #: also, one transaction at a time per key: the key is locked from entry to commit or rollback
    SERIALIZABLE = "SERIALIZABLE"


class CommitMode(str, enum.Enum):
    EAGER = "EAGER"  # commit when the block ends, even inside a parent
    LAZY = "LAZY"  # let the outermost transaction commit (the default)
    OFF = "OFF"  # never commit: roll back at the end unless something committed it


class TransactionState(str, enum.Enum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    STAGED = "STAGED"
    COMMITTED = "COMMITTED"
    ROLLED_BACK = "ROLLED_BACK"


_DONE = (TransactionState.COMMITTED, TransactionState.ROLLED_BACK)


class Transaction:
    """One transaction; use :func:`transaction` to open one."""

    def __init__(self, key: str | None = None, store: TransactionStore | None = None,
                 commit_mode: CommitMode | str | None = None,
                 isolation_level: IsolationLevel | str | None = IsolationLevel.READ_COMMITTED,
                 overwrite: bool = False, write_on_commit: bool = True, logger: Any = None) -> None:
        self.key = key
        self.store = store
        self.commit_mode = None if commit_mode is None else CommitMode(getattr(commit_mode, "value", commit_mode))
        self.isolation_level = (None if isolation_level is None
                                else IsolationLevel(getattr(isolation_level, "value", isolation_level)))
        self.overwrite = overwrite
        self.write_on_commit = write_on_commit
        self.logger = logger or _logger
        self.state = TransactionState.PENDING
        self.children: list[Transaction] = []
        self.on_commit_hooks: list[Callable[..., Any]] = []
        self.on_rollback_hooks: list[Callable[..., Any]] = []
        self._stored: dict[str, Any] = {}
        self._staged_value: Any = None
        self._holder = str(uuid.uuid4())
        self._parent: Transaction | None = None
        self._token: Any = None
        self._locked = False
        #: one re-entrant lock per tree of transactions: task runs settle on other threads
        self._lock = threading.RLock()
        #: record writes of a task run's transaction, done when it commits
        self._writes: list[Callable[[], None]] = []
        #: task runs created in this block that have not settled yet (waited for at the end)
        self._runs: set[Any] = set()
        self._runs_condition = threading.Condition()
        #: for a task run's own transaction, the run's name
        self.task_run_name: str | None = None

    # ------------------------------------------------------------------ values

    def set(self, name: str, value: Any) -> None:
        """Keep ``value`` under ``name`` for the rest of the transaction (its hooks, its children)."""
        self._stored[name] = value

    def get(self, name: str, default: Any = _NOTSET) -> Any:
        """A copy of the value set under ``name`` here, else in a parent; ``ValueError`` if none and no default."""
        if name in self._stored:
            return copy.deepcopy(self._stored[name])
        if self._parent is not None:
            return self._parent.get(name, default)
        if default is not _NOTSET:
            return default
        raise ValueError(f"Could not retrieve value for unknown key: {name}")

    def is_committed(self) -> bool:
        return self.state is TransactionState.COMMITTED

    def is_rolled_back(self) -> bool:
        return self.state is TransactionState.ROLLED_BACK

    def is_staged(self) -> bool:
        return self.state is TransactionState.STAGED

    def is_pending(self) -> bool:
        return self.state is TransactionState.PENDING

    def is_active(self) -> bool:
        return self.state is TransactionState.ACTIVE

    def get_parent(self) -> Transaction | None:
        return self._parent

    def add_child(self, child: Transaction) -> None:
        with self._lock:
            self.children.append(child)

    def read(self) -> ResultRecord | None:
        """The record at this transaction's key, if it has a store, a key and a valid record."""
        if self.store is None or self.key is None:
            return None
        return self.store.read(self.key)

    def stage(self, value: Any, on_rollback_hooks: list[Callable[..., Any]] | None = None,
              on_commit_hooks: list[Callable[..., Any]] | None = None) -> None:
        """Stage ``value`` (written at the key on commit) and hooks; nothing if already committed."""
        with self._lock:
            if self.state is TransactionState.COMMITTED:
                return
            self._staged_value = value
            self.on_rollback_hooks.extend(on_rollback_hooks or ())
            self.on_commit_hooks.extend(on_commit_hooks or ())
            self.state = TransactionState.STAGED

    # ------------------------------------------------------------------ the block

    def __enter__(self) -> Transaction:
        if self._token is not None:
            raise RuntimeError("Context already entered. Context enter calls cannot be nested.")
        self._join(get_transaction())
        self.begin()
        self._token = run_scope.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._token is None:
            raise RuntimeError("Asymmetric use of context. Context exit called without an enter.")
        if exc_type is not None:
            self.rollback()
            self.reset()
            return  # the exception goes on
        runs.await_runs(self)
        if self.commit_mode is CommitMode.EAGER:
            self.commit()
        if self._parent is not None:
            self.reset()  # the parent decides
            return
        if self.commit_mode is CommitMode.OFF:
            self.rollback()
        elif self.commit_mode is CommitMode.LAZY:
            self.commit()
        self.reset()

    def _join(self, parent: Transaction | None) -> None:
        """Inherit from the enclosing transaction, check the isolation level, become ACTIVE."""
        self._parent = parent
        if parent is not None:
            self._lock = parent._lock
        if self.commit_mode is None:
            self.commit_mode = parent.commit_mode if parent is not None else CommitMode.LAZY
        if self.isolation_level is None:
            self.isolation_level = parent.isolation_level if parent is not None else IsolationLevel.READ_COMMITTED
        if self.store is not None and self.key is not None and not self.store.supports_isolation_level(
                self.isolation_level):
            raise ConfigurationError(
                f"Isolation level {self.isolation_level.name} is not supported by provided configuration: give "
                "the result storage a lock manager, storage.with_options(lock_manager=...), to use SERIALIZABLE")
        self.state = TransactionState.ACTIVE

    def begin(self) -> None:
        """Lock the key (SERIALIZABLE), then start COMMITTED if the key already has a record."""
        if self._serializable():
            assert self.store is not None and self.key is not None
            self.logger.debug("Acquiring lock for transaction %r", self.key)
            self.store.acquire_lock(self.key, self._holder)
            self._locked = True
        try:
            if not self.overwrite and self.store is not None and self.key is not None and self.store.exists(self.key):
                self.state = TransactionState.COMMITTED
        except BaseException:
            self._release()  # a store that cannot be read must not keep the key locked
            raise

    def reset(self) -> None:
        """Leave the block: hand this transaction to its parent; a rolled-back child rolls the parent back."""
        parent = self._parent
        if parent is not None:
            parent.add_child(self)
        if self._token is not None:
            run_scope.reset(self._token)
            self._token = None
        if parent is not None and self.state is TransactionState.ROLLED_BACK:
            parent.rollback()

    # ------------------------------------------------------------------ commit and rollback

    def commit(self) -> bool:
        """Commit children, run on_commit hooks, write the record; True if this call committed."""
        with self._lock:
            if self.state in _DONE:
                self._release()
                return False
            try:
                for child in list(self.children):
                    child.commit()
                for hook in list(self.on_commit_hooks):
                    self.run_hook(hook, "commit")
                for write in self._writes:
                    write()
                if self.store is not None and self.key is not None and self.write_on_commit:
                    self.store.write(self.key, self._staged_value)
                self.state = TransactionState.COMMITTED
                self._release()
                return True
            except Exception:
                self.logger.exception("An error was encountered while committing transaction %r", self.key)
                self.rollback()
                return False

    def rollback(self) -> bool:
        """Run on_rollback hooks (last first), then roll children back (last first); True if this call did."""
        with self._lock:
            if self.state in _DONE:
                return False
            try:
                for hook in reversed(list(self.on_rollback_hooks)):
                    self.run_hook(hook, "rollback")
                self.state = TransactionState.ROLLED_BACK
                for child in reversed(list(self.children)):
                    child.rollback()
                return True
            except Exception:
                self.logger.exception("An error was encountered while rolling back transaction %r", self.key)
                return False
            finally:
                self._release()

    def run_hook(self, hook: Callable[..., Any], kind: str) -> None:
        """Call ``hook(self)`` (awaited if async), logged; its error is logged and raised."""
        name = getattr(hook, "__name__", repr(hook))
        quiet = getattr(hook, "log_on_run", True) is False
        if not quiet:
            self.logger.info("Running %s hook %r", kind, name)
        try:
            call_hook(hook, self)
        except Exception:
            if not quiet:
                self.logger.error("An error was encountered while running %s hook %r", kind, name)
            raise
        if not quiet:
            self.logger.info("%s hook %r finished running successfully", kind.capitalize(), name)

    def _serializable(self) -> bool:
        return self.store is not None and self.key is not None \
            and self.isolation_level is IsolationLevel.SERIALIZABLE

    def _release(self) -> None:
        """Give the key's lock back, once (Prefect releases on every commit/rollback call)."""
        if self._locked:
            self._locked = False
            assert self.store is not None and self.key is not None
            self.logger.debug("Releasing lock for transaction %r", self.key)
            self.store.release_lock(self.key, self._holder)

    # ------------------------------------------------------------------ what the engine tells it (RunScope)

    def run_created(self, run: Any) -> None:
        runs.run_created(self, run)

    def defer_store(self, run: Any, write: Callable[[], None]) -> bool:
        return runs.defer_store(run, write)

    def run_settled(self, run: Any, state: Any) -> None:
        runs.run_settled(self, run, state)

    def __repr__(self) -> str:
        return f"Transaction(key={self.key!r}, state={self.state.name})"


def get_transaction() -> Transaction | None:
    """The innermost transaction here: a task run's own inside its body, else the enclosing block's."""
    current = run_scope.get()
    own = runs.current_run_transaction()
    if own is None:
        return current if isinstance(current, Transaction) else None
    walker = current
    while isinstance(walker, Transaction):  # a block opened inside the task body is inner to the run's own
        if walker is own:
            return current  # type: ignore[return-value]
        walker = walker._parent
    return own


def _open(key: str | None, store: Any, commit_mode: Any, isolation_level: Any, overwrite: bool,
          write_on_commit: bool, logger: Any) -> Transaction:
    resolved = resolve_store(store) if key is not None or store is not None else None
    return Transaction(key=key, store=resolved, commit_mode=commit_mode, isolation_level=isolation_level,
                       overwrite=overwrite, write_on_commit=write_on_commit, logger=logger)


@contextmanager
def transaction(key: str | None = None, store: Any = None, commit_mode: CommitMode | str | None = None,
                isolation_level: IsolationLevel | str | None = None, overwrite: bool = False,
                write_on_commit: bool = True, logger: Any = None) -> Iterator[Transaction]:
    """Open a transaction for the block: ``with transaction(key="load-2026-11-20") as txn:``.

    ``store`` is a result storage (``storage.with_options(lock_manager=...)``
    for SERIALIZABLE), a path or an fsspec URL; with a ``key`` and no store,
    the current flow's result storage (default ``$LEGATO_HOME/results``).
    ``overwrite=True`` ignores an existing record at the key;
    ``write_on_commit=False`` commits without writing one.
    """
    with _open(key, store, commit_mode, isolation_level, overwrite, write_on_commit, logger) as txn:
        yield txn


@asynccontextmanager
async def atransaction(key: str | None = None, store: Any = None, commit_mode: CommitMode | str | None = None,
                       isolation_level: IsolationLevel | str | None = None, overwrite: bool = False,
                       write_on_commit: bool = True, logger: Any = None) -> AsyncIterator[Transaction]:
    """``async with atransaction(...)``: the same transaction; hooks and the record write run in this thread."""
    with _open(key, store, commit_mode, isolation_level, overwrite, write_on_commit, logger) as txn:
        yield txn


__all__ = ["CommitMode", "IsolationLevel", "Transaction", "TransactionState", "atransaction", "get_transaction",
           "transaction"]
