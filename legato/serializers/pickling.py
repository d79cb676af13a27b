"""The pickle and cloudpickle serializers.

``pickle`` is the fastest and handles any object whose class and functions can
be imported by name in the process that loads it. ``cloudpickle`` also carries
what cannot be imported there (lambdas, closures, functions and classes defined
in ``__main__`` or a notebook) by value, which is what a process runner needs
for tasks defined in a script. Both use protocol 5. Loading runs code named in
the data: only load bytes you produced.

When pickling fails, the error names the innermost part that does not pickle on
its own (the lock inside the dict, not the dict), found by a second, slower
pass that only runs on failure.
"""

from __future__ import annotations

from legato.serializers.base import Serializer, cannot_deserialize, cannot_serialize, register_serializer, require

TYPE_CHECKING = False
if TYPE_CHECKING:
    import types
    from collections.abc import Callable, Iterator

PROTOCOL = 5

# Bounds on the failure-path search, so a huge or cyclic object cannot make it slow.
_MAX_DEPTH = 32
_MAX_PARTS = 256


@register_serializer
class PickleSerializer(Serializer):
    """The standard library's pickle, protocol 5."""

    name = "pickle"

    def dumps(self, obj: object) -> bytes:
        import pickle

        try:
            return pickle.dumps(obj, protocol=PROTOCOL)
        except Exception as exc:
            raise _pickling_error(self.name, obj, exc, _dumps_with(pickle.dumps), by_value=False) from exc

    def loads(self, data: bytes) -> object:
        return _loads(self.name, data)


@register_serializer
class CloudpickleSerializer(Serializer):
    """cloudpickle, protocol 5: also lambdas, closures and code defined in ``__main__``."""

    name = "cloudpickle"

    def dumps(self, obj: object) -> bytes:
        cloudpickle = require("cloudpickle", self.name)
        try:
            return cloudpickle.dumps(obj, protocol=PROTOCOL)  # type: ignore[no-any-return]
        except Exception as exc:
            raise _pickling_error(self.name, obj, exc, _dumps_with(cloudpickle.dumps), by_value=True) from exc

    def loads(self, data: bytes) -> object:
        # cloudpickle writes plain pickles: loading needs only pickle, which
        # imports cloudpickle itself if the data refers to it.
        return _loads(self.name, data)


def _loads(name: str, data: bytes) -> object:
    import pickle

    try:
        return pickle.loads(data)
    except Exception as exc:
        raise cannot_deserialize(name, data, exc) from exc


def _dumps_with(dumps: Callable[..., bytes]) -> Callable[[object], bytes]:
    return lambda obj: dumps(obj, protocol=PROTOCOL)


def _pickling_error(
    name: str, obj: object, exc: Exception, dumps: Callable[[object], bytes], by_value: bool
) -> Exception:
    try:
        culprit = _find_unpicklable(obj, dumps, by_value, depth=0)
    except Exception:  # the search is a courtesy: never let it hide the real error
        culprit = obj
    return cannot_serialize(name, obj, type(culprit), exc, named=_own_name(culprit))


def _own_name(culprit: object) -> str | None:
    """``module.qualname`` of a class or function, which pickle stores by that name."""
    import types

    if not isinstance(culprit, (type, types.FunctionType, types.BuiltinFunctionType)):
        return None
    return f"{culprit.__module__}.{culprit.__qualname__}"


def _find_unpicklable(obj: object, dumps: Callable[[object], bytes], by_value: bool, depth: int) -> object:
    """The innermost part of ``obj`` (or ``obj`` itself) that ``dumps`` rejects on its own."""
    if depth >= _MAX_DEPTH:
        return obj
    for index, part in enumerate(_parts(obj, by_value)):
        if index >= _MAX_PARTS:
            break
        try:
            dumps(part)
        except Exception:
            return _find_unpicklable(part, dumps, by_value, depth + 1)
    return obj


def _parts(obj: object, by_value: bool) -> Iterator[object]:
    """What pickling ``obj`` pickles in turn: items, attributes, reduce arguments."""
    import types

    if isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield value
    elif isinstance(obj, (list, tuple, set, frozenset)):
        yield from obj
    elif isinstance(obj, types.FunctionType):
        if by_value:  # pickle stores a function by name; cloudpickle stores what it uses
            yield from _function_parts(obj)
    elif not isinstance(obj, (type, types.ModuleType)):  # classes and modules go by name
        yield from _reduce_parts(obj)


def _function_parts(function: types.FunctionType) -> Iterator[object]:
    yield from function.__defaults__ or ()
    yield from (function.__kwdefaults__ or {}).values()
    for cell in function.__closure__ or ():
        yield cell.cell_contents
    for name in function.__code__.co_names:
        if name in function.__globals__:
            yield function.__globals__[name]


def _reduce_parts(obj: object) -> Iterator[object]:
    try:
        reduced = obj.__reduce_ex__(PROTOCOL)
    except Exception:
        return  # obj itself is what does not pickle
    if not isinstance(reduced, tuple):
        return  # pickled by name
    yield from reduced[1]
    if len(reduced) > 2 and reduced[2] is not None:
        yield reduced[2]
    for items in reduced[3:5]:
        if items is not None:
            yield from items
