"""Task runs stored in chunks: many rows of one flow run in one msgpack blob.

A mapped fan-out records thousands of task runs per second. One SQLite row
per task run cost the writer about 8.6 µs of CPU each (building the row,
encoding it, inserting it), most of it holding the GIL that the flow's own
threads need; a 10,000-task map got 30% slower. A chunk is the task runs one
flush of the writer found for one flow run, packed with msgpack in one blob:
about 2 µs a run, and one SQLite row per chunk.

A chunk is stored by column: one list per field every task run has
(:data:`ROW_FIELDS`), so building it allocates a handful of lists, not an
object per run that the garbage collector would have to scan. What only some
runs have (an error, tags) is kept aside by row index, and the chunk carries
its runs' dependency edges. The reader
(:mod:`legato.history.query`) unpacks the chunks of one flow run; the columns
``task_count`` and ``failed_count`` let SQL count without unpacking.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from legato.history.summary import safe_repr

#: the fields of a row, in order
ROW_FIELDS = (
    "id", "name", "task_name", "map_index", "state_type", "state_name", "attempts", "started_at", "ended_at",
)  # fmt: skip
_STATE_TYPE = ROW_FIELDS.index("state_type")
_FAILED = frozenset({"FAILED", "CRASHED"})
#: columns that often hold one value for a whole chunk (a map's task name, Completed, one attempt,
#: no map index): such a column is packed once, not once per run
_OFTEN_CONSTANT = tuple(ROW_FIELDS.index(name) for name in (
    "task_name", "map_index", "state_type", "state_name", "attempts",
))  # fmt: skip
#: the format of a packed chunk, stored in it so that later versions can read older ones;
#: format 2 added constant columns (``{"all": value}`` in place of the list)
FORMAT = 2


@dataclass
class Chunk:
    """Task runs of one flow run on their way into one database row."""

    columns: list[list[Any]] = field(default_factory=lambda: [[] for _ in ROW_FIELDS])
    errors: dict[int, str] = field(default_factory=dict)
    tags: dict[int, list[str]] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.columns[0])

    def add(self, row: Sequence[Any], error: str | None, tags: Iterable[str], upstream_ids: Iterable[str]) -> None:
        """One task run: ``row`` in :data:`ROW_FIELDS` order."""
        index = len(self)
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)
        if error is not None:
            self.errors[index] = error
        tags = [str(tag) for tag in tags]
        if tags:
            self.tags[index] = tags
        self.edges.extend((str(upstream), str(row[0])) for upstream in upstream_ids)

    def extend(self, columns: Sequence[Iterable[Any]], errors: dict[int, str], tags: dict[int, list[str]]) -> None:
        """Many task runs at once, given by column; ``errors`` and ``tags`` are keyed by index into them."""
        offset = len(self)
        for mine, theirs in zip(self.columns, columns, strict=True):
            mine.extend(theirs)
        self.errors.update((offset + i, error) for i, error in errors.items())
        self.tags.update((offset + i, value) for i, value in tags.items())

    @property
    def failed_count(self) -> int:
        column = self.columns[_STATE_TYPE]
        return sum(map(column.count, _FAILED))  # a state type is a str enum: it equals its text

    def pack(self) -> bytes:
        """The chunk as bytes; values msgpack cannot hold are stored as text or plain numbers."""
        try:
            return self._pack(self.columns)
        except (TypeError, ValueError, OverflowError):  # say an int beyond 64 bits: store its text
            return self._pack([[_plain(value) for value in column] for column in self.columns])

    def _pack(self, columns: list[list[Any]]) -> bytes:
        columns = list(columns)
        for index in _OFTEN_CONSTANT:
            column = columns[index]
            if column and column.count(column[0]) == len(column):  # in C: ~20 ns a value
                columns[index] = {"all": column[0]}
        return msgpack.packb(
            {"v": FORMAT, "n": len(self), "columns": columns, "errors": self.errors, "tags": self.tags,
             "edges": self.edges},
            default=_storable,
        )


def unpack(blob: bytes) -> tuple[Iterator[dict[str, Any]], list[tuple[str, str]]]:
    """The task runs of a packed chunk (as field dicts, with ``error`` and ``tags``) and its edges."""
    data = msgpack.unpackb(blob, strict_map_key=False)
    errors, tags = data.get("errors", {}), data.get("tags", {})
    count = data.get("n", 0)
    columns = [_unpacked_column(column, count) for column in data["columns"]]

    def runs() -> Iterator[dict[str, Any]]:
        for index, row in enumerate(zip(*columns)):
            run = dict(zip(ROW_FIELDS, row))
            run["error"] = errors.get(index)
            run["tags"] = list(tags.get(index, ()))
            yield run

    return runs(), [(upstream, downstream) for upstream, downstream in data.get("edges", ())]


def unpack_columns(
    blob: bytes,
) -> tuple[dict[str, list[Any]], dict[int, str], dict[int, list[str]], list[tuple[str, str]]]:
    """A packed chunk as its columns (one list per :data:`ROW_FIELDS` name), errors, tags and edges.

    For readers of big runs (the web view): no object per task run is made,
    so 200,000 runs unpack in tens of milliseconds.
    """
    data = msgpack.unpackb(blob, strict_map_key=False)
    count = data.get("n", 0)
    columns = {
        name: column if isinstance(column, list) else [column["all"]] * count
        for name, column in zip(ROW_FIELDS, data["columns"])
    }
    edges = [(upstream, downstream) for upstream, downstream in data.get("edges", ())]
    return columns, dict(data.get("errors", {})), dict(data.get("tags", {})), edges


def _unpacked_column(column: Any, count: int) -> Iterable[Any]:
    if not isinstance(column, dict):
        return column
    return itertools.repeat(column["all"], count)


def _plain(value: Any) -> Any:
    """``value`` if msgpack stores it as it is, else its text."""
    if value is None or isinstance(value, (str, float, bool)):  # a str enum (a state type) packs as its text
        return value
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return int(value)
    return safe_repr(value, limit=10_000)


def _storable(value: Any) -> Any:
    """What msgpack stores for a value it cannot: a plain number, or bounded text."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (frozenset, set)):
        return sorted(value, key=str)
    return safe_repr(value, limit=10_000)


__all__ = ["FORMAT", "ROW_FIELDS", "Chunk", "unpack", "unpack_columns"]
