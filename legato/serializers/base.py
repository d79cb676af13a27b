"""The serializer interface, the registry of serializers by name, and the errors they raise.

A serializer turns a task's arguments and results into bytes and back, so that
they can cross a process boundary or be stored. Runners are handed one and never
choose a pickler themselves; users name one (``"cloudpickle"``,
``"compressed/msgpack"``) or pass an instance, and :func:`get_serializer` turns
either into a :class:`Serializer`.

Every failure surfaces as :class:`~legato.core.errors.SerializationError`, whose
message names the serializer and the type it could not handle and whose
``__cause__`` is the original exception; :func:`cannot_serialize` and
:func:`cannot_deserialize` build those errors in one place so that every
serializer words them the same way.

This module imports nothing heavy: ``import legato.serializers`` must stay cheap
enough to do in every worker process.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod

from legato.core.errors import MissingDependencyError, SerializationError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more to import than this whole package
    from types import ModuleType
    from typing import TypeVar

    S = TypeVar("S", bound="Serializer | type[Serializer]")


class Serializer(ABC):
    """Turns objects into bytes and back.

    Subclasses set ``name``, the key they are registered and looked up under,
    and implement :meth:`dumps` and :meth:`loads`. Both must raise
    :class:`SerializationError`, never another exception, for anything they
    cannot handle. Serializers hold no per-call state, so one instance is shared
    by every caller and thread.
    """

    name: str

    @abstractmethod
    def dumps(self, obj: object) -> bytes:
        """Return ``obj`` as bytes that :meth:`loads` turns back into an equal object."""

    @abstractmethod
    def loads(self, data: bytes) -> object:
        """Return the object that :meth:`dumps` turned into ``data``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # Two serializers configured alike are interchangeable: compare by configuration.
    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), self.name))


_registry: dict[str, Serializer] = {}

# Lookup of "compressed/<name>" builds the wrapper around any registered serializer.
_COMPRESSED_PREFIX = "compressed/"


def register_serializer(serializer: S, *, name: str | None = None) -> S:
    """Make ``serializer`` available to :func:`get_serializer` under ``name``.

    ``serializer`` is an instance or a class that takes no arguments (then it is
    instantiated once, here). ``name`` defaults to the serializer's own ``name``.
    A later registration under the same name replaces the earlier one, so users
    can swap a built-in format for their own. Returns ``serializer`` unchanged,
    so it also works as a class decorator.
    """
    if isinstance(serializer, type):
        if not issubclass(serializer, Serializer):
            raise TypeError(f"expected a Serializer subclass, got {serializer.__qualname__}")
        instance = serializer()
    elif isinstance(serializer, Serializer):
        instance = serializer
    else:
        raise TypeError(f"expected a Serializer or a Serializer subclass, got {type_name(serializer)!r}")
    key = getattr(instance, "name", None) if name is None else name
    if not isinstance(key, str) or not key:
        raise ValueError(f"{type(instance).__qualname__} needs a non-empty string name to be registered")
    _registry[key] = instance
    return serializer


def get_serializer(name_or_instance: str | Serializer) -> Serializer:
    """Return the serializer registered under a name; an instance is returned as is.

    ``"compressed/<name>"`` wraps the serializer registered as ``<name>`` in a
    :class:`~legato.serializers.compressed.CompressedSerializer`. An unknown name
    raises :class:`ValueError` listing the known ones.
    """
    if isinstance(name_or_instance, Serializer):
        return name_or_instance
    if not isinstance(name_or_instance, str):
        raise TypeError(f"expected a serializer name or a Serializer, got {type_name(name_or_instance)!r}")
    found = _registry.get(name_or_instance)
    if found is not None:
        return found
    if name_or_instance.startswith(_COMPRESSED_PREFIX):
        return _compressed(name_or_instance)
    raise _unknown_name(name_or_instance)


def _compressed(name: str) -> Serializer:
    # Imported here: compressed.py imports this module.
    from legato.serializers.compressed import CompressedSerializer

    try:
        inner = get_serializer(name[len(_COMPRESSED_PREFIX) :])
    except ValueError:
        raise _unknown_name(name) from None
    return CompressedSerializer(inner)


def _unknown_name(name: str) -> ValueError:
    known = ", ".join(repr(known) for known in [*sorted(_registry), f"{_COMPRESSED_PREFIX}<name>"])
    return ValueError(f"unknown serializer {name!r}; known serializers: {known}")


class UnsupportedTypeError(TypeError):
    """Raised inside an encoder for an object it has no encoding for.

    It carries that object's type, which may sit deep inside the object being
    serialized, so that the :class:`SerializationError` names the real culprit.
    """

    def __init__(self, obj: object, reason: str) -> None:
        super().__init__(reason)
        self.unsupported_type: type = type(obj)


def type_name(obj: object) -> str:
    """The name error messages use for the type of ``obj``."""
    return type(obj).__qualname__


def cannot_serialize(
    serializer: str, obj: object, culprit: type, cause: BaseException, *, named: str | None = None
) -> SerializationError:
    """The error for ``serializer`` failing on ``obj`` because of a part of type ``culprit``.

    ``named`` is the culprit's own name when it is a function or a class, since
    "type 'function'" alone does not say which.
    """
    what = f"{culprit.__qualname__!r}" if named is None else f"{culprit.__qualname__!r} ({named})"
    where = "" if culprit is type(obj) else f" (found inside a {type_name(obj)!r})"
    return SerializationError(
        f"{serializer} serializer cannot serialize object of type {what}{where}: {_reason(cause)}"
    )


def cannot_deserialize(serializer: str, data: object, cause: BaseException) -> SerializationError:
    """The error for ``serializer`` failing to turn ``data`` back into an object."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        what = f"{len(data)} bytes"
    else:
        what = f"object of type {type_name(data)!r}"
    return SerializationError(f"{serializer} serializer cannot deserialize {what}: {_reason(cause)}")


def _reason(cause: BaseException) -> str:
    if isinstance(cause, (UnsupportedTypeError, SerializationError)):
        return str(cause)
    return f"{type(cause).__name__}: {cause}"


def require(module: str, serializer: str) -> ModuleType:
    """Import the optional package ``module`` that ``serializer`` needs, on first use."""
    imported = sys.modules.get(module)
    # The common case, on every call: keep it cheap. A module another thread is
    # still importing is in sys.modules half-built: go through the import
    # system then, which waits on the module's import lock.
    if imported is not None and not getattr(getattr(imported, "__spec__", None), "_initializing", False):
        return imported
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the {serializer} serializer needs the {module!r} package: pip install {module}"
        ) from exc
