"""Serializers: how task arguments and results become bytes and back.

A runner that moves work between processes, or a store that keeps results, is
handed a :class:`Serializer` (or a name, turned into one by
:func:`get_serializer`) and never picks a pickler itself::

    get_serializer("cloudpickle")        # lambdas, closures, code from __main__
    get_serializer("pickle")             # faster, for importable code
    get_serializer("msgpack")            # compact, safe to load, no code
    get_serializer("json")               # readable, safe to load, no code
    get_serializer("compressed/msgpack") # any of them, zlib-compressed

Users add their own with :func:`register_serializer`. Every failure is a
:class:`~legato.core.errors.SerializationError` naming the serializer and the
type it could not handle. Importing this package imports none of cloudpickle,
msgpack or numpy; each is imported when first needed.
"""

from __future__ import annotations

from legato.serializers.base import Serializer, get_serializer, register_serializer
from legato.serializers.compressed import CompressedSerializer
from legato.serializers.json_format import JSONSerializer
from legato.serializers.msgpack_format import MsgpackSerializer
from legato.serializers.pickling import CloudpickleSerializer, PickleSerializer

#: what carries tasks (functions, closures, code from ``__main__``), their arguments and results
#: between processes: runners and the result store take it unless told otherwise
TASK_SERIALIZER = "cloudpickle"


def task_serializer() -> Serializer:
    """The serializer for tasks and their values across a process boundary (:data:`TASK_SERIALIZER`)."""
    return get_serializer(TASK_SERIALIZER)


__all__ = [
    "CloudpickleSerializer",
    "CompressedSerializer",
    "JSONSerializer",
    "MsgpackSerializer",
    "PickleSerializer",
    "Serializer",
    "TASK_SERIALIZER",
    "get_serializer",
    "register_serializer",
    "task_serializer",
]
