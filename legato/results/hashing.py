"""Content hashes of task inputs and task code, the raw material of cache keys.

:func:`hash_objects` gives the same hex digest for equal values in any process,
on any run, whatever ``PYTHONHASHSEED`` is: values are fed to BLAKE2b as a
tagged, canonical byte stream, never through ``hash()``, ``repr()`` of
containers or pickle bytes of dicts and sets (whose order is not canonical).

* ``None``, bools, ints, floats, complex, str, bytes: type tag + exact bytes,
  so ``1``, ``1.0``, ``True`` and ``"1"`` all differ;
* lists and tuples item by item; dicts, sets and frozensets as the *sorted*
  digests of their items, so insertion and iteration order do not matter;
* NumPy arrays by dtype, shape and raw bytes, pandas objects by their values,
  index, column names and dtypes (both only if numpy/pandas are already
  imported: nothing here imports them);
* datetimes, decimals, UUIDs, paths and enums by type and value; dataclasses,
  pydantic models and plain instances by type and fields; functions by
  :func:`function_fingerprint`; classes and modules by name;
* anything else by its pickle (plain pickle first, so classes go by name,
  then cloudpickle). Different pickles of equal objects can only cause a
  cache miss, never a wrong hit.

What cannot be encoded at all (a lock, a socket, a generator) raises
:class:`UnhashableError`; callers turn that into "do not cache", never into a
key that ignores the value.

Map of this module (top to bottom): the public entry points
(:class:`UnhashableError`, :func:`hash_objects`, :func:`function_fingerprint`);
``_Encoder``, which writes the canonical byte stream and dispatches on type;
the encoders of plain values (``_none`` ... ``_bytes``); of NumPy and pandas
values; of enums, dataclasses and pydantic models; of tasks, ordered dicts,
partials and plain instances; the pickle fallback (``_pickle``); and the
fingerprint of functions (``_source_digest``, ``_code_bytes``,
``_plain_globals``).
"""

from __future__ import annotations

import hashlib
import struct
import sys
import threading
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DIGEST_SIZE = 32

_import_lock = threading.Lock()


class UnhashableError(TypeError):
    """A value has no stable content hash; carries the type that has none."""

    def __init__(self, obj: object, reason: str) -> None:
        super().__init__(f"cannot hash object of type {type(obj).__qualname__!r}: {reason}")
        self.unhashable_type: type = type(obj)


def hash_objects(*objects: object) -> str:
    """The hex digest of ``objects``: equal for equal values, in any process."""
    hasher = _new_hasher()
    try:
        _Encoder(hasher.update).encode(objects)
    except UnhashableError:
        raise
    except RecursionError as error:
        raise UnhashableError(objects, "nested too deeply") from error
    return hasher.hexdigest()


def function_fingerprint(fn: Callable[..., Any]) -> str:
    """A digest of what a function computes: its source and what it closes over.

    Covers the name, source text (when there is one) and bytecode, default
    arguments, the values of closure cells, and the referenced module globals
    that are plain data (numbers, strings, containers of them, arrays). Other
    globals (modules, functions, classes, clients) are left out, as in Prefect.
    Bound methods also cover ``self``, partials their arguments. Raises
    :class:`UnhashableError` when a closure value cannot be hashed.
    """
    hasher = _new_hasher()
    encoder = _Encoder(hasher.update)
    try:
        encoder.callable(fn)
    except RecursionError as error:
        raise UnhashableError(fn, "nested too deeply") from error
    return hasher.hexdigest()


def _new_hasher() -> Any:
    return hashlib.blake2b(digest_size=DIGEST_SIZE)


_LEN = struct.Struct("<Q")
_FLOAT = struct.Struct("<d")
_COMPLEX = struct.Struct("<dd")

# Exact value types whose repr() is canonical and names the whole value.
_BY_REPR = frozenset({
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"), ("datetime", "timedelta"),
    ("datetime", "timezone"), ("decimal", "Decimal"), ("uuid", "UUID"), ("fractions", "Fraction"),
    ("zoneinfo", "ZoneInfo"), ("builtins", "range"), ("builtins", "slice"),
})

# Bounds for the "is this global plain data?" check, so a huge global is not walked twice.
_PLAIN_MAX_ITEMS = 10_000
_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes)


class _Encoder:
    """Writes one canonical, tagged byte stream for a value into ``write``."""

    def __init__(self, write: Callable[[bytes], Any], stack: list[int] | None = None) -> None:
        self.write = write
        self.stack = [] if stack is None else stack  # ids of the containers being encoded

    # -- entry point

    def encode(self, obj: object) -> None:
        handler = _EXACT.get(type(obj))
        if handler is not None:
            handler(self, obj)
        else:
            self.other(obj)

    # -- helpers

    def tag(self, tag: bytes, data: bytes = b"") -> None:
        self.write(tag + _LEN.pack(len(data)))
        self.write(data)

    def text(self, tag: bytes, value: str) -> None:
        self.tag(tag, value.encode("utf-8", "surrogatepass"))

    def nested(self, obj: object, tag: bytes, body: Callable[[], None]) -> None:
        """Encode a container: a back-reference if it is already being encoded (a cycle)."""
        key = id(obj)
        if key in self.stack:
            self.tag(b"@", _LEN.pack(self.stack.index(key)))
            return
        self.stack.append(key)
        try:
            self.write(tag)
            body()
        finally:
            self.stack.pop()

    def digest_of(self, *objects: object) -> bytes:
        hasher = _new_hasher()
        sub = _Encoder(hasher.update, self.stack)
        for obj in objects:
            sub.encode(obj)
        return hasher.digest()  # type: ignore[no-any-return]

    def unordered(self, tag: bytes, obj: Any, pairs: bool) -> None:
        def body() -> None:
            items = obj.items() if pairs else obj
            digests = sorted(self.digest_of(*item) if pairs else self.digest_of(item) for item in items)
            self.write(_LEN.pack(len(digests)))
            for digest in digests:
                self.write(digest)

        self.nested(obj, tag, body)

    def sequence(self, tag: bytes, obj: Any) -> None:
        def body() -> None:
            self.write(_LEN.pack(len(obj)))
            for item in obj:
                self.encode(item)

        self.nested(obj, tag, body)

    def type_name(self, cls: type) -> None:
        self.text(b"t", f"{cls.__module__}.{cls.__qualname__}")

    # -- values without an exact-type handler

    def other(self, obj: object) -> None:
        cls = type(obj)
        if isinstance(obj, (type, types.ModuleType)):  # metaclass instances, module subclasses
            self.by_name(obj)
            return
        for check, handler in _DUCK_HANDLERS:
            if check(obj):
                handler(self, obj)
                return
        for base in cls.__mro__[1:]:  # a subclass of a builtin: its type, its value, its attributes
            handler = _EXACT.get(base)
            if handler is not None and base is not object:
                self.write(b"S")
                self._subclass(obj, handler)
                return
        if _is_plain_instance(obj):
            self.nested(obj, b"o", lambda: (self.type_name(cls), self.encode(vars(obj))))
            return
        self.pickled(obj)

    def _subclass(self, obj: Any, handler: Callable[[_Encoder, Any], None]) -> None:
        self.type_name(type(obj))
        handler(self, obj)
        self.encode(getattr(obj, "__dict__", None) or None)

    def pickled(self, obj: object) -> None:
        self.type_name(type(obj))
        self.tag(b"P", _pickle(obj))

    # -- callables

    def callable(self, fn: Any) -> None:
        if isinstance(fn, types.FunctionType):
            self.nested(fn, b"F", lambda: self._function(fn))
        elif isinstance(fn, types.MethodType):
            self.nested(fn, b"m", lambda: (self.callable(fn.__func__), self.encode(fn.__self__)))
        elif _is_partial(fn):
            self.nested(fn, b"p", lambda: (self.callable(fn.func), self.encode(fn.args), self.encode(fn.keywords)))
        elif _is_task_like(fn):
            self.nested(fn, b"k", lambda: (self.text(b"s", str(fn.name)), self.callable(fn.fn)))
        elif isinstance(fn, _BUILTIN_CALLABLES):
            self.by_name(fn)
            bound_to = getattr(fn, "__self__", None)
            if bound_to is not None and not isinstance(bound_to, (types.ModuleType, type)):
                self.encode(bound_to)  # [].append: which list it appends to matters
        else:  # a callable object: the code of its __call__ and the state it holds
            self.write(b"c")
            call = getattr(type(fn), "__call__", None)
            if isinstance(call, types.FunctionType):
                self.callable(call)
            else:
                self.by_name(type(fn))
            self.other(fn)

    def _function(self, fn: types.FunctionType) -> None:
        self.text(b"n", fn.__qualname__)  # not the module: "__main__" when run as a script
        self.write(_source_digest(fn.__code__))
        wrapped = getattr(fn, "__wrapped__", None)  # functools.wraps: the wrapped function counts too
        self.write(b"w" if wrapped is not None else b"-")
        if wrapped is not None:
            self.callable(wrapped)
        self.encode(fn.__defaults__)
        self.encode(fn.__kwdefaults__)
        cells = fn.__closure__ or ()
        self.write(_LEN.pack(len(cells)))
        for name, cell in zip(fn.__code__.co_freevars, cells):
            self.text(b"v", name)
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell: a name assigned after the function was made
                self.write(b"e")
                continue
            self._closure_value(value)
        for name, value in _plain_globals(fn):
            self.text(b"g", name)
            self.encode(value)

    def _closure_value(self, value: object) -> None:
        if callable(value) and not isinstance(value, type):
            self.callable(value)
        else:
            self.encode(value)

    def by_name(self, obj: Any) -> None:
        module = getattr(obj, "__module__", None) or ""
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or ""
        if isinstance(obj, types.ModuleType):
            module, name = "", obj.__name__
        self.text(b"r", f"{module}.{name}")


# -- exact-type handlers -------------------------------------------------------


def _none(enc: _Encoder, obj: None) -> None:
    enc.write(b"N")


def _bool(enc: _Encoder, obj: bool) -> None:
    enc.write(b"T" if obj else b"F")


def _int(enc: _Encoder, obj: int) -> None:
    enc.text(b"i", str(int(obj)) if obj.bit_length() < 4000 else hex(obj))


def _float(enc: _Encoder, obj: float) -> None:
    enc.write(b"f" + _FLOAT.pack(obj))


def _complex(enc: _Encoder, obj: complex) -> None:
    enc.write(b"j" + _COMPLEX.pack(obj.real, obj.imag))


def _str(enc: _Encoder, obj: str) -> None:
    enc.text(b"s", obj)


def _bytes(enc: _Encoder, obj: bytes | bytearray | memoryview) -> None:
    enc.tag(b"b", bytes(obj))


_EXACT: dict[type, Callable[[_Encoder, Any], None]] = {
    type(None): _none,
    bool: _bool,
    int: _int,
    float: _float,
    complex: _complex,
    str: _str,
    bytes: _bytes,
    bytearray: lambda enc, obj: (enc.write(b"B"), _bytes(enc, obj)),
    memoryview: _bytes,
    list: lambda enc, obj: enc.sequence(b"[", obj),
    tuple: lambda enc, obj: enc.sequence(b"(", obj),
    dict: lambda enc, obj: enc.unordered(b"{", obj, pairs=True),
    set: lambda enc, obj: enc.unordered(b"<", obj, pairs=False),
    frozenset: lambda enc, obj: enc.unordered(b">", obj, pairs=False),
    types.FunctionType: _Encoder.callable,
    types.MethodType: _Encoder.callable,
    types.BuiltinFunctionType: _Encoder.by_name,
    types.ModuleType: _Encoder.by_name,
    type: _Encoder.by_name,
}


# -- handlers found by checks (types from modules that may not be imported) ---


def _is_type_in(obj: object, module: str, names: tuple[str, ...]) -> bool:
    mod = sys.modules.get(module)
    if mod is None:
        return False
    return any(isinstance(obj, getattr(mod, name)) for name in names if hasattr(mod, name))


def _is_ndarray(obj: object) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and type(obj) is numpy.ndarray


def _ndarray(enc: _Encoder, array: Any) -> None:
    enc.write(b"A")
    dtype = array.dtype
    enc.text(b"d", str(dtype.descr) if dtype.fields is not None else dtype.str)
    enc.encode(tuple(int(n) for n in array.shape))
    if dtype.hasobject:
        enc.encode(array.ravel(order="C").tolist())
        return
    import numpy

    # As bytes, without a copy when the array is contiguous (datetime64 has no buffer of its own).
    data = numpy.ascontiguousarray(array).reshape(-1).view(numpy.uint8)
    enc.write(_LEN.pack(data.nbytes))
    enc.write(data)


def _is_numpy_scalar(obj: object) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(obj, numpy.generic)


def _numpy_scalar(enc: _Encoder, scalar: Any) -> None:
    if scalar.dtype.hasobject:
        enc.encode(scalar.item())
        return
    enc.write(b"g")
    enc.text(b"d", scalar.dtype.str)
    enc.tag(b"v", scalar.tobytes())


def _is_pandas(obj: object) -> bool:
    return _is_type_in(obj, "pandas", ("DataFrame", "Series", "Index"))


def _pandas(enc: _Encoder, obj: Any) -> None:
    import pandas

    enc.type_name(type(obj))
    if isinstance(obj, pandas.DataFrame):
        enc.write(b"PD")
        _pandas_index(enc, obj.columns)
        _pandas_index(enc, obj.index)
        for position in range(obj.shape[1]):
            _pandas_values(enc, obj.iloc[:, position])
    elif isinstance(obj, pandas.Series):
        enc.write(b"PS")
        enc.encode(obj.name)
        _pandas_index(enc, obj.index)
        _pandas_values(enc, obj)
    else:
        enc.write(b"PI")
        _pandas_index(enc, obj)


def _pandas_index(enc: _Encoder, index: Any) -> None:
    enc.type_name(type(index))
    enc.encode(list(index.names))
    _pandas_values(enc, index)


def _pandas_values(enc: _Encoder, values: Any) -> None:
    """A column's dtype and values: raw bytes when they are plain numbers, else row hashes."""
    enc.text(b"d", str(values.dtype))
    array = values.to_numpy()
    if not array.dtype.hasobject:
        _ndarray(enc, array)
        return
    import pandas

    # pandas' row hashes are exact only for all-string columns (it hashes other
    # objects by str(), so 1 and "1" would collide): anything else goes cell by cell.
    if pandas.api.types.infer_dtype(array, skipna=False) == "string":
        enc.write(b"H")
        _ndarray(enc, pandas.util.hash_array(array, categorize=False))
    else:
        enc.encode(array.tolist())


def _is_by_repr(obj: object) -> bool:
    cls = type(obj)
    return (cls.__module__, cls.__qualname__) in _BY_REPR or _is_type_in(obj, "pathlib", ("PurePath",))


def _by_repr(enc: _Encoder, obj: object) -> None:
    enc.type_name(type(obj))
    enc.text(b"R", repr(obj))


def _is_enum(obj: object) -> bool:
    enum = sys.modules.get("enum")
    return enum is not None and isinstance(obj, enum.Enum)


def _enum(enc: _Encoder, member: Any) -> None:
    enc.type_name(type(member))
    enc.text(b"E", member.name)


def _is_dataclass_instance(obj: object) -> bool:
    return hasattr(type(obj), "__dataclass_fields__") and not isinstance(obj, type)


def _dataclass(enc: _Encoder, obj: Any) -> None:
    import dataclasses

    def body() -> None:
        enc.type_name(type(obj))
        for field in dataclasses.fields(obj):
            enc.text(b"a", field.name)
            enc.encode(getattr(obj, field.name))

    enc.nested(obj, b"D", body)


def _is_pydantic_model(obj: object) -> bool:
    return _is_type_in(obj, "pydantic", ("BaseModel",))


def _pydantic(enc: _Encoder, model: Any) -> None:
    def body() -> None:
        enc.type_name(type(model))
        enc.encode(dict(model.__dict__))
        enc.encode(getattr(model, "__pydantic_extra__", None))

    enc.nested(model, b"M", body)


def _is_callable_by_code(obj: object) -> bool:
    return _is_partial(obj) or _is_task_like(obj)


def _is_task_like(obj: object) -> bool:
    """A legato Task or Flow (or a look-alike): hashed by name and function."""
    return type(obj).__name__ in ("Task", "Flow") and callable(getattr(obj, "fn", None))


def _is_ordered_dict(obj: object) -> bool:
    return _is_type_in(obj, "collections", ("OrderedDict",))


def _ordered_dict(enc: _Encoder, obj: Any) -> None:
    enc.type_name(type(obj))  # OrderedDicts compare by order: keep it
    enc.sequence(b"(", list(obj.items()))


_DUCK_HANDLERS: tuple[tuple[Callable[[object], bool], Callable[[_Encoder, Any], None]], ...] = (
    (_is_ndarray, _ndarray),
    (_is_numpy_scalar, _numpy_scalar),
    (_is_pandas, _pandas),
    (_is_by_repr, _by_repr),
    (_is_enum, _enum),
    (_is_dataclass_instance, _dataclass),
    (_is_pydantic_model, _pydantic),
    (_is_callable_by_code, _Encoder.callable),
    (_is_ordered_dict, _ordered_dict),
)

_BUILTIN_CALLABLES = (
    types.BuiltinFunctionType, types.MethodDescriptorType, types.WrapperDescriptorType,
    types.MethodWrapperType, types.ClassMethodDescriptorType, type, types.ModuleType,
)


def _is_partial(obj: object) -> bool:
    functools = sys.modules.get("functools")
    return functools is not None and isinstance(obj, functools.partial)


def _is_plain_instance(obj: object) -> bool:
    """An instance whose state is exactly its ``__dict__``: no custom pickling, no slots."""
    cls = type(obj)
    if not hasattr(obj, "__dict__") or isinstance(obj, type):
        return False
    if cls.__reduce_ex__ is not object.__reduce_ex__ or cls.__reduce__ is not object.__reduce__:
        return False
    if getattr(cls, "__getstate__", None) is not getattr(object, "__getstate__", None):
        return False
    return all("__slots__" not in vars(base) for base in cls.__mro__[:-1])


def _pickle(obj: object) -> bytes:
    import pickle

    try:
        return pickle.dumps(obj, protocol=5)
    except Exception:
        pass
    try:
        with _import_lock:  # a first import in several threads at once can see a half-made module
            from legato.serializers import task_serializer

            by_value = task_serializer()  # what carries closures and __main__ code across processes
        return by_value.dumps(obj)
    except Exception as error:
        raise UnhashableError(obj, f"it has no stable encoding and cannot be pickled ({error})") from None


# -- code ----------------------------------------------------------------------

_source_digests: dict[types.CodeType, bytes] = {}


def _source_digest(code: types.CodeType) -> bytes:
    """The digest of a function's source text (if it has one) and bytecode."""
    found = _source_digests.get(code)
    if found is None:
        import inspect

        try:
            source = inspect.getsource(code).encode("utf-8", "surrogatepass")
        except (OSError, TypeError):
            source = b""
        # Both: the source, as Prefect's TASK_SOURCE; the bytecode, because two
        # lambdas on one line share their source text.
        data = _LEN.pack(len(source)) + source + _code_bytes(code)
        found = hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()
        if len(_source_digests) > 4096:
            _source_digests.clear()
        _source_digests[code] = found
    return found


def _code_bytes(code: types.CodeType) -> bytes:
    parts = [code.co_code, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    parts.extend(_const_bytes(const) for const in code.co_consts)
    return b"\0".join(parts)


def _const_bytes(const: object) -> bytes:
    # Constant frozensets (`x in {"a", "b"}`) print in hash-seed order: sort them.
    if isinstance(const, types.CodeType):
        return b"C(" + _code_bytes(const) + b")"
    if isinstance(const, frozenset):
        return b"S(" + b",".join(sorted(_const_bytes(item) for item in const)) + b")"
    if isinstance(const, tuple):
        return b"T(" + b",".join(_const_bytes(item) for item in const) + b")"
    return repr(const).encode("utf-8", "surrogatepass")


def _referenced_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _referenced_names(const)
    return names


def _plain_globals(fn: types.FunctionType) -> list[tuple[str, object]]:
    """The module globals ``fn`` (or code nested in it) names that hold plain data, sorted by name."""
    found = []
    module_globals = fn.__globals__
    for name in sorted(_referenced_names(fn.__code__)):
        if name in module_globals:
            value = module_globals[name]
            if _is_plain_data(value, [0]):
                found.append((name, value))
    return found


def _is_plain_data(value: object, seen: list[int]) -> bool:
    seen[0] += 1
    if seen[0] > _PLAIN_MAX_ITEMS:
        return True  # big: hashed in full anyway; only its plainness is assumed
    if isinstance(value, _PLAIN_SCALARS) and type(value) in _EXACT:
        return True
    if type(value) in (list, tuple, set, frozenset):
        return all(_is_plain_data(item, seen) for item in value)  # type: ignore[attr-defined]
    if type(value) is dict:
        items = value.items()  # type: ignore[attr-defined]
        return all(_is_plain_data(k, seen) and _is_plain_data(v, seen) for k, v in items)
    return _is_ndarray(value) or _is_numpy_scalar(value) or _is_by_repr(value) or _is_enum(value)


__all__ = ["DIGEST_SIZE", "UnhashableError", "function_fingerprint", "hash_objects"]
