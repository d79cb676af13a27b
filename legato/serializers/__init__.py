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

__all__ = [
    "CloudpickleSerializer",
    "CompressedSerializer",
    "JSONSerializer",
    "MsgpackSerializer",
    "PickleSerializer",
    "Serializer",
    "get_serializer",
    "register_serializer",
]
