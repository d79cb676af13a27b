"""Keep a task's source file name when its function travels by value.

A function defined in ``__main__``, a notebook or a closure cannot be imported
by name on a worker, so the pickler carries its code object. Some picklers
(cloudpickle from 3.1.3 on) replace the code's file name with a placeholder
such as ``<dynamic-code>`` to make their output deterministic, and a remote
traceback then points at a file that does not exist instead of the user's
script and line.

A :class:`~legato.core.task.Task` records its function's file name when it is
pickled and, when it is rebuilt on the worker, gives it back to the code
objects that arrived with a placeholder: the function itself, the functions
and lambdas nested in it, and the functions of the same module it refers to
(which travelled by value for the same reason). Line numbers are never
touched by the picklers, so with the file name restored ``traceback`` and
``linecache`` show the user's source line wherever the file is readable.

Only names in angle brackets are replaced: a real path is never rewritten.
"""

from __future__ import annotations

import types
from typing import Any


def source_file(fn: Any) -> str | None:
    """The file the function's code was compiled from, or None if it has none."""
    code = getattr(_function(fn), "__code__", None)
    return code.co_filename if code is not None else None


def restore_source_file(fn: Any, filename: str | None) -> None:
    """Give ``filename`` back to ``fn``'s code (and its module's by-value helpers) if a pickler dropped it."""
    function = _function(fn)
    if not filename or _is_placeholder(filename) or not isinstance(function, types.FunctionType):
        return
    if not _is_placeholder(function.__code__.co_filename):
        return  # carried by reference, or by a pickler that keeps file names
    _restore(function, filename)
    for value in list(function.__globals__.values()):
        if (isinstance(value, types.FunctionType) and value.__module__ == function.__module__
                and _is_placeholder(value.__code__.co_filename)):
            _restore(value, filename)


def _restore(function: types.FunctionType, filename: str) -> None:
    function.__code__ = _with_file(function.__code__, filename)


def _with_file(code: types.CodeType, filename: str) -> types.CodeType:
    consts = tuple(
        _with_file(const, filename) if isinstance(const, types.CodeType) and _is_placeholder(const.co_filename)
        else const
        for const in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def _is_placeholder(filename: str) -> bool:
    return filename.startswith("<") and filename.endswith(">")


def _function(fn: Any) -> Any:
    return getattr(fn, "__func__", fn)  # a bound method's function
