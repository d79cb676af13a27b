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

Format 3 stores the elements of one map leaner still (the writer's cost per
run was about 2.4 µs, a fifth of a 10,000-task no-op map on threads): their
ids and default names, which follow from the map's id base, its name
offset and each run's map index (:class:`legato.core.graph.SharedIdentity`),
as those few numbers, not as a string each; and columns of plain floats or
integers (start and end times, map indexes) as packed 8-byte arrays.

A chunk is read back from disk, so :func:`load` checks its shape before
anything uses it and raises :class:`UnreadableChunk` saying what is wrong.
"""

from __future__ import annotations

import itertools
import numbers
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from legato.core.graph import element_id, element_name
from legato.history.errors import HistoryDatabaseError
from legato.history.summary import safe_repr

#: the fields of a row, in order
ROW_FIELDS = (
    "id", "name", "task_name", "map_index", "state_type", "state_name", "attempts", "started_at", "ended_at",
)  # fmt: skip
_ID, _NAME, _MAP_INDEX, _STATE_TYPE = (ROW_FIELDS.index(name) for name in ("id", "name", "map_index", "state_type"))
_FAILED = frozenset({"FAILED", "CRASHED"})
#: columns that often hold one value for a whole chunk (a map's task name, Completed, one attempt,
#: no map index): such a column is packed once, not once per run
_OFTEN_CONSTANT = tuple(ROW_FIELDS.index(name) for name in (
    "task_name", "map_index", "state_type", "state_name", "attempts",
))  # fmt: skip
#: columns packed as 8-byte arrays when every value fits: ``"f8"`` doubles, ``"i8"`` signed integers
_PACKED_ARRAYS = {ROW_FIELDS.index("started_at"): "f8", ROW_FIELDS.index("ended_at"): "f8", _MAP_INDEX: "i8"}
_TYPECODES = {"f8": "d", "i8": "q"}
#: the format of a packed chunk, stored in it so that later versions can read older ones;
#: format 2 added constant columns (``{"all": value}`` in place of the list), format 3 ids and
#: names that follow from map indexes (``{"id_base": b}``, ``{"name_prefix": p, "name_offset": o}``)
#: and 8-byte arrays (``{"f8": bytes}``, ``{"i8": bytes}``)
FORMAT = 3
_READABLE_FORMATS = (1, 2, 3)
_BIG_ENDIAN = sys.byteorder == "big"


class UnreadableChunk(HistoryDatabaseError):
    """A stored chunk of task runs is not one this version of legato can read (damaged, or from a newer one)."""


@dataclass(frozen=True)
class FromMapIndex:
    """A column whose values follow from each run's map index: ids (``id_base``) or names (``name_prefix``)."""

    id_base: int | None = None
    name_prefix: str | None = None
    name_offset: int = 0

    def values(self, map_indexes: Iterable[int]) -> list[str]:
        if self.id_base is not None:
            base = self.id_base
            return [element_id(base, index) for index in map_indexes]
        prefix, offset = self.name_prefix, self.name_offset
        return [element_name(prefix, offset, index) for index in map_indexes]  # type: ignore[arg-type]

    def packed(self) -> dict[str, Any]:
        if self.id_base is not None:
            return {"id_base": self.id_base}
        return {"name_prefix": self.name_prefix, "name_offset": self.name_offset}


#: what a column may be while a chunk is built
Column = list[Any] | FromMapIndex


@dataclass
class Chunk:
    """Task runs of one flow run on their way into one database row."""

    columns: list[Column] = field(default_factory=lambda: [[] for _ in ROW_FIELDS])
    errors: dict[int, str] = field(default_factory=dict)
    tags: dict[int, list[str]] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.columns[_MAP_INDEX])  # never derived: the derived columns follow from it

    def add(self, row: Sequence[Any], error: str | None, tags: Iterable[str], upstream_ids: Iterable[str]) -> None:
        """One task run: ``row`` in :data:`ROW_FIELDS` order."""
        index = len(self)
        self._materialize()
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)  # type: ignore[union-attr]
        if error is not None:
            self.errors[index] = error
        tags = [str(tag) for tag in tags]
        if tags:
            self.tags[index] = tags
        self.edges.extend((str(upstream), str(row[0])) for upstream in upstream_ids)

    def extend(self, columns: Sequence[Column], errors: dict[int, str], tags: dict[int, list[str]]) -> None:
        """Many task runs at once, given by column; ``errors`` and ``tags`` are keyed by index into them.

        The id and name columns may be :class:`FromMapIndex`; they stay so
        while every run added follows the same rule. The chunk takes the
        lists of its first batch as they are (copying 10,000 rows cost a
        tenth of the writer's time): the caller must not use them again.
        """
        offset = len(self)
        # one pass in field order: the id and name columns come before the map indexes they follow from
        for position, (mine, theirs) in enumerate(zip(self.columns, columns, strict=True)):
            derived = isinstance(theirs, FromMapIndex)
            if offset == 0 and (derived or type(theirs) is list):  # the usual chunk: one batch, taken as it is
                self.columns[position] = theirs
            elif derived and mine == theirs:  # the same map's rule: nothing to add
                continue
            else:
                if isinstance(mine, FromMapIndex):  # runs that follow another rule (or none) join
                    mine = self.columns[position] = mine.values(self.columns[_MAP_INDEX])  # type: ignore[arg-type]
                mine.extend(theirs.values(columns[_MAP_INDEX]) if derived else theirs)  # type: ignore[union-attr, arg-type]
        self.errors.update((offset + i, error) for i, error in errors.items())
        self.tags.update((offset + i, value) for i, value in tags.items())

    @property
    def failed_count(self) -> int:
        column: list[Any] = self.columns[_STATE_TYPE]  # type: ignore[assignment]
        if column and column.count(column[0]) == len(column):  # one state for all (by identity: fast in C)
            return len(column) if str(column[0]) in _FAILED else 0
        return sum(map(column.count, _FAILED))  # a state type is a str enum: it equals its text

    def pack(self) -> bytes:
        """The chunk as bytes; values msgpack cannot hold are stored as text or plain numbers."""
        try:
            return self._pack(self.columns)
        except (TypeError, ValueError, OverflowError):  # say an int beyond 64 bits: store its text
            self._materialize()
            return self._pack([[_plain(value) for value in column] for column in self.columns])  # type: ignore[union-attr]

    def _materialize(self) -> None:
        """Turn derived columns into lists (a run that follows no rule is joining)."""
        for position in (_ID, _NAME):
            column = self.columns[position]
            if isinstance(column, FromMapIndex):
                self.columns[position] = column.values(self.columns[_MAP_INDEX])  # type: ignore[arg-type]

    def _pack(self, columns: list[Column]) -> bytes:
        packed: list[Any] = [column.packed() if isinstance(column, FromMapIndex) else column for column in columns]
        for index in _OFTEN_CONSTANT:
            column = packed[index]
            if column and column.count(column[0]) == len(column):  # in C: ~20 ns a value
                packed[index] = {"all": column[0]}
        for index, kind in _PACKED_ARRAYS.items():
            column = packed[index]
            if isinstance(column, list) and column:
                packed[index] = _as_array(column, kind)
        return msgpack.packb(
            {"v": FORMAT, "n": len(self), "columns": packed, "errors": self.errors, "tags": self.tags,
             "edges": self.edges},
            default=_storable,
        )


def _as_array(column: list[Any], kind: str) -> Any:
    """``{kind: bytes}`` of the column's values, little-endian; the list itself if one does not fit (a None)."""
    try:
        values = array(_TYPECODES[kind], column)
    except (TypeError, OverflowError):
        return column
    if _BIG_ENDIAN:
        values.byteswap()
    return {kind: values.tobytes()}


def load(blob: bytes) -> dict[str, Any]:
    """A stored chunk, checked, with every column a list of ``n`` values or ``{"all": value}``.

    Raises :class:`UnreadableChunk` if the blob is not a chunk of a known
    format (damaged, or written by a newer legato): the history on disk is
    not trusted to be what this version wrote.
    """
    try:
        data = msgpack.unpackb(blob, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise UnreadableChunk(f"a stored chunk of task runs is damaged (not valid msgpack: {type(exc).__name__}"
                              f"{': ' + str(exc) if str(exc) else ''})") from exc
    if not isinstance(data, dict) or data.get("v", 1) not in _READABLE_FORMATS:
        version = data.get("v") if isinstance(data, dict) else None
        raise UnreadableChunk(f"a stored chunk of task runs has unknown format {version!r} "
                              f"(this legato reads formats {', '.join(map(str, _READABLE_FORMATS))})")
    columns = data.get("columns")
    if not isinstance(columns, list) or len(columns) != len(ROW_FIELDS):
        raise UnreadableChunk(f"a stored chunk of task runs has {_length(columns)} columns, not {len(ROW_FIELDS)}")
    count = data.get("n")
    if count is None:  # format 1: no row count, every column a list
        count = len(columns[0]) if isinstance(columns[0], list) else -1
    if not isinstance(count, int) or count < 0:
        raise UnreadableChunk(f"a stored chunk of task runs has an invalid row count {count!r}")
    decoded: list[Any] = [_decoded(column, count, ROW_FIELDS[i]) for i, column in enumerate(columns)]
    for position in (_ID, _NAME):
        rule = decoded[position]
        if isinstance(rule, FromMapIndex):
            indexes = decoded[_MAP_INDEX]
            if isinstance(indexes, dict):
                indexes = [indexes["all"]] * count
            if not all(map(int.__instancecheck__, indexes)):
                raise UnreadableChunk(f"a stored chunk of task runs derives its {ROW_FIELDS[position]}s "
                                      "from map indexes it does not hold")
            decoded[position] = rule.values(indexes)
    for key, kind in (("errors", dict), ("tags", dict), ("edges", list)):
        if not isinstance(data.get(key, kind()), kind):
            raise UnreadableChunk(f"a stored chunk of task runs has {key} of type {type(data[key]).__name__}")
    data["columns"], data["n"] = decoded, count
    return data


def _decoded(column: Any, count: int, name: str) -> Any:
    if isinstance(column, list):
        if len(column) != count:
            raise UnreadableChunk(f"a stored chunk of task runs has {len(column)} {name} values for {count} runs")
        return column
    if not isinstance(column, dict) or len(column) == 0:
        raise UnreadableChunk(f"a stored chunk of task runs has a {name} column of type {type(column).__name__}")
    if "all" in column:
        return column
    for kind, typecode in _TYPECODES.items():
        if kind in column:
            raw = column[kind]
            if not isinstance(raw, bytes) or len(raw) != 8 * count:
                raise UnreadableChunk(f"a stored chunk of task runs has {_length(raw)} bytes of {name} "
                                      f"for {count} runs (8 each)")
            values = array(typecode)
            values.frombytes(raw)
            if _BIG_ENDIAN:
                values.byteswap()
            return values.tolist()
    if isinstance(column.get("id_base"), int) and 0 <= column["id_base"] < 2**64:
        return FromMapIndex(id_base=column["id_base"])
    prefix, offset = column.get("name_prefix"), column.get("name_offset")
    if isinstance(prefix, str) and isinstance(offset, int):
        return FromMapIndex(name_prefix=prefix, name_offset=offset)
    raise UnreadableChunk(f"a stored chunk of task runs has a {name} column this legato cannot read: "
                          f"keys {sorted(map(str, column))}")


def _length(value: Any) -> Any:
    return len(value) if isinstance(value, (list, bytes)) else type(value).__name__


def unpack(blob: bytes) -> tuple[Iterator[dict[str, Any]], list[tuple[str, str]]]:
    """The task runs of a packed chunk (as field dicts, with ``error`` and ``tags``) and its edges."""
    data = load(blob)
    errors, tags = data.get("errors", {}), data.get("tags", {})
    count = data["n"]
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
    data = load(blob)
    count = data["n"]
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


__all__ = ["FORMAT", "ROW_FIELDS", "Chunk", "FromMapIndex", "UnreadableChunk", "load", "unpack", "unpack_columns"]
