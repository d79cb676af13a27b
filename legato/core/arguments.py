"""Finding futures inside task arguments, and putting values back in their place.

When a task is submitted, its arguments are walked once: every future (or
state) found inside lists, tuples, sets, frozensets and dicts, at any depth,
becomes an upstream edge and is replaced by a :class:`Slot`. The resulting
*template* is what travels to the worker, with the upstream values travelling
beside it; the worker fills the slots back in (:func:`fill_slots`). Nothing
else is walked: objects of other types are passed as they are, and
``quote(x)`` stops the walk.

Arguments with no future in them come back as the very same objects, so the
common case copies nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from legato.core.annotations import BaseAnnotation, allow_failure, quote

_CONTAINERS = (list, tuple, set, frozenset, dict)


class Slot:
    """Stands in a template for the ``index``-th upstream value."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __reduce__(self) -> tuple[Any, ...]:
        return (Slot, (self.index,))

    def __repr__(self) -> str:
        return f"Slot({self.index})"


class Upstream:
    """One upstream found in the arguments: what it is and how it is wanted."""

    __slots__ = ("source", "allow_failure")

    def __init__(self, source: Any, allow_failure: bool) -> None:
        self.source = source
        self.allow_failure = allow_failure


def extract_upstreams(
    args: tuple[Any, ...], kwargs: dict[str, Any], is_upstream: Callable[[Any], bool]
) -> tuple[tuple[Any, ...], dict[str, Any], Sequence[Upstream]]:
    """Return ``(args, kwargs)`` with upstreams replaced by slots, and the upstreams (a list, or ``()`` for none)."""
    if (not args or _all_scalars(args)) and _all_scalars(kwargs.values()):
        return args, kwargs, ()  # the common case for mapped elements: nothing to walk, no list to make
    found: list[Upstream] = []
    index: dict[int, int] = {}
    walker = _Walker(is_upstream, found, index)
    new_args = tuple(walker.walk(a, False) for a in args)
    new_kwargs = {k: walker.walk(v, False) for k, v in kwargs.items()} if kwargs else kwargs
    if not found and not walker.unwrapped:
        return args, kwargs, found
    return new_args, new_kwargs, found


_SCALARS = frozenset({int, float, str, bytes, bool, type(None)})


def _all_scalars(values: Any) -> bool:
    """True when every value is a plain scalar, which certainly holds no future."""
    for value in values:
        if type(value) not in _SCALARS:
            return False
    return True


class _Walker:
    __slots__ = ("is_upstream", "found", "index", "unwrapped")

    def __init__(self, is_upstream: Callable[[Any], bool], found: list[Upstream], index: dict[int, int]) -> None:
        self.is_upstream = is_upstream
        self.found = found
        self.index = index
        self.unwrapped = False

    def walk(self, obj: Any, tolerate: bool) -> Any:
        if isinstance(obj, BaseAnnotation):
            self.unwrapped = True
            if isinstance(obj, quote):
                return obj.value
            return self.walk(obj.value, tolerate or isinstance(obj, allow_failure))
        if self.is_upstream(obj):
            return self._slot(obj, tolerate)
        cls = type(obj)
        if cls is list or cls is tuple:
            return cls(self.walk(x, tolerate) for x in obj)
        if isinstance(obj, list):  # list subclasses (a map's future list) become plain lists
            return [self.walk(x, tolerate) for x in obj]
        if cls is dict:
            return {self.walk(k, tolerate): self.walk(v, tolerate) for k, v in obj.items()}
        if cls is set or cls is frozenset:
            return cls(self.walk(x, tolerate) for x in obj)
        return obj

    def _slot(self, source: Any, tolerate: bool) -> Slot:
        key = id(source)
        position = self.index.get(key)
        if position is None:
            position = self.index[key] = len(self.found)
            self.found.append(Upstream(source, tolerate))
        elif tolerate:
            self.found[position].allow_failure = True
        return Slot(position)


def fill_slots(obj: Any, values: list[Any] | tuple[Any, ...]) -> Any:
    """The inverse of :func:`extract_upstreams`: put upstream values into their slots."""
    cls = type(obj)
    if cls is Slot:
        return values[obj.index]
    if cls is list or cls is tuple:
        return cls(fill_slots(x, values) for x in obj)
    if cls is dict:
        return {fill_slots(k, values): fill_slots(v, values) for k, v in obj.items()}
    if cls is set or cls is frozenset:
        return cls(fill_slots(x, values) for x in obj)
    return obj


def replace_futures(obj: Any, resolve: Callable[[Any], Any], is_upstream: Callable[[Any], bool]) -> Any:
    """Replace every future inside ``obj`` by ``resolve(future)`` (used for flow return values)."""
    if isinstance(obj, BaseAnnotation):
        return obj.value if isinstance(obj, quote) else replace_futures(obj.value, resolve, is_upstream)
    if is_upstream(obj):
        return resolve(obj)
    cls = type(obj)
    if cls is list or cls is tuple:
        if _all_scalars(obj):  # a flow returning ``xs.result()``: plain values, nothing to replace, one C-level copy
            return cls(obj)
        return cls(replace_futures(x, resolve, is_upstream) for x in obj)
    if isinstance(obj, list):
        return [replace_futures(x, resolve, is_upstream) for x in obj]
    if cls is dict:
        return {k: replace_futures(v, resolve, is_upstream) for k, v in obj.items()}
    if cls is set or cls is frozenset:
        return cls(replace_futures(x, resolve, is_upstream) for x in obj)
    return obj


__all__ = ["Slot", "Upstream", "extract_upstreams", "fill_slots", "replace_futures"]
