"""Lining up ``task.map`` arguments into one call per element.

Rules, as in Prefect: arguments that are iterable are zipped, and must all
have the same length (each keyword given to a ``**kwargs`` parameter counts
as an argument of its own); ``unmapped(x)``, ``quote(x)`` and non-iterable
arguments (strings and bytes count as non-iterable) go whole to every call;
parameter defaults are not mapped over; a future or state given as a mapped
argument is waited for and its result is iterated. Generators and other
unsized iterators are consumed lazily, so a map over a long generator starts
running tasks before the generator is exhausted.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable, Iterator, Sized
from typing import Any

from legato.core.annotations import quote, unmapped
from legato.core.errors import MappingLengthMismatch, MappingMissingIterable

_NOT_MAPPED = (str, bytes, bytearray, memoryview, io.IOBase)


def is_mappable(value: Any) -> bool:
    if isinstance(value, _NOT_MAPPED):
        return False
    try:
        iter(value)
    except TypeError:
        return False
    return True


def expand_map(
    task_name: str,
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    resolve: Callable[[Any], Any],
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Yield ``(args, kwargs)`` for each element of the map.

    ``resolve`` turns a future or state into its value (waiting for it) and
    returns anything else unchanged.
    """
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"task {task_name!r}: {error}") from None
    variadic = _explode_variadic_keywords(signature, bound)
    mapped, static = _split_arguments(task_name, signature, bound, resolve, variadic)
    lengths = {name: len(values) for name, values in mapped.items() if isinstance(values, Sized)}
    if len(set(lengths.values())) > 1:
        _mismatch(task_name, lengths)
    simple = all(
        p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        for p in signature.parameters.values()
    )
    names = list(mapped)
    if simple and len(names) == 1:  # the common ``task.map(xs)``: one column, nothing to zip or check
        name = names[0]
        for value in mapped[name]:
            arguments = dict(static)
            arguments[name] = value
            yield (), arguments
        return
    for row in _zip_checked(task_name, names, [mapped[n] for n in names]):
        arguments = dict(static)
        arguments.update(zip(names, row))
        if simple:
            yield (), arguments
        else:
            if variadic is not None:  # the keywords of ``**kwargs`` back into it
                name, keys = variadic
                arguments[name] = {key: arguments.pop(key) for key in keys}
            call = inspect.BoundArguments(signature, {n: arguments[n] for n in bound.arguments})  # type: ignore[arg-type]
            yield call.args, call.kwargs


def _explode_variadic_keywords(signature: inspect.Signature,
                               bound: inspect.BoundArguments) -> tuple[str, list[str]] | None:
    """``(name, keys)`` of the ``**kwargs`` parameter and the keywords it got, or None without one.

    As in Prefect, each keyword given to ``**kwargs`` is an argument of its
    own for mapping (``t.map(a=[1, 2], b=unmapped(5))`` maps ``a`` and
    broadcasts ``b``); ``*args`` goes whole to every call.
    """
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return name, list(bound.arguments.get(name, {}))
    return None


def _split_arguments(task_name: str, signature: inspect.Signature, bound: inspect.BoundArguments,
                     resolve: Callable[[Any], Any],
                     variadic: tuple[str, list[str]] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arguments to map over (name -> iterable) and those every call gets whole."""
    mapped: dict[str, list[Any]] = {}
    static: dict[str, Any] = {}
    arguments = dict(bound.arguments)
    if variadic is not None:
        arguments.update(arguments.pop(variadic[0], {}))
    for name, value in arguments.items():
        parameter = signature.parameters.get(name)
        if parameter is not None and parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            static[name] = value
            continue
        if isinstance(value, unmapped):
            static[name] = value.value
            continue
        if isinstance(value, quote):
            static[name] = value
            continue
        value = resolve(value)
        if is_mappable(value):
            mapped[name] = value if isinstance(value, Sized) else iter(value)
        else:
            static[name] = value
    if not mapped:
        parameters = "{" + ", ".join(f"{k!r}: {_short_repr(v)}" for k, v in arguments.items()) + "}"
        raise MappingMissingIterable(  # Prefect's words, then what to do about it
            f"task {task_name!r}: No iterable parameters were received. Parameters for map must include at "
            f"least one iterable. Parameters: {parameters}. "
            "Wrap an argument in unmapped() to broadcast it, or call submit() for a single run."
        )
    return mapped, static


def _zip_checked(task_name: str, names: list[str], columns: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Zip the mapped columns lazily (a generator is consumed as the map is built), failing on unequal lengths."""
    iterators = [iter(column) for column in columns]
    done = object()
    count = 0
    while True:
        row = tuple(next(it, done) for it in iterators)
        finished = [value is done for value in row]
        if all(finished):
            return
        if any(finished):
            lengths = {
                name: len(column) if isinstance(column, Sized) else (count if ended else f"more than {count}")
                for name, column, ended in zip(names, columns, finished)
            }
            _mismatch(task_name, lengths)
        count += 1
        yield row


def _mismatch(task_name: str, lengths: dict[str, Any]) -> None:
    """Prefect's message (``Got lengths: {'x': 2, 'y': 3}``); an unsized iterator's length reads ``'more than N'``."""
    raise MappingLengthMismatch(
        f"task {task_name!r}: Received iterable parameters with different lengths. Parameters for map must all "
        f"be the same length. Got lengths: {lengths!r}"
    )


def _short_repr(value: Any) -> str:
    """A value's repr for an error message, cut short: a map's arguments can be big."""
    import reprlib

    shortener = reprlib.Repr()  # (keyword arguments to Repr() need Python 3.12)
    shortener.maxstring = shortener.maxother = 60
    return shortener.repr(value)


__all__ = ["expand_map", "is_mappable"]
