"""Prefect 3's transactions, without a server: ``from legato.transactions import transaction``.

::

    with transaction(key="load-2026-11-20") as txn:    transaction.py  (states, commit, rollback, nesting)
        extract(); load()                              runs.py         (how the block's task runs take part)
                                                       store.py        (the record at the key; locks)
                                                       legato.locking  (memory and file lock managers)

Inside the block, each task run stages its result record and its task's
``on_commit``/``on_rollback`` hooks; when the block ends they are committed
(records written, commit hooks run in order), and if a task run fails the
transaction rolls back at once (rollback hooks of the runs that completed
run, last first). See README "Transactions".
"""

from __future__ import annotations

from legato.transactions.store import ResultRecord, TransactionStore
from legato.transactions.transaction import (
    CommitMode,
    IsolationLevel,
    Transaction,
    TransactionState,
    atransaction,
    get_transaction,
    transaction,
)

__all__ = [
    "CommitMode",
    "IsolationLevel",
    "ResultRecord",
    "Transaction",
    "TransactionState",
    "TransactionStore",
    "atransaction",
    "get_transaction",
    "transaction",
]
