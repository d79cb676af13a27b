"""Whether a value can cross a process boundary, asked without making its bytes.

A remote runner checks every result before handing it to its backend, so
that an unserializable value fails its own task run rather than the worker.
The check pickles into a sink that keeps nothing, with out-of-band buffers
left out: no copy of the value's data is made, and a small value costs a
fraction of a microsecond.
"""

from __future__ import annotations

import pickle
from typing import Any

_ATOMIC = frozenset({int, float, bool, type(None), str, bytes})
_PROTOCOL = 5  # the first with out-of-band buffers


def pickles(value: Any) -> bool:
    """Whether pickle or the task serializer can serialize ``value``; the bytes go nowhere (no copy, no memory)."""
    if type(value) in _ATOMIC:
        return True
    try:
        pickle.Pickler(_Sink(), _PROTOCOL, buffer_callback=_out_of_band).dump(value)
        return True
    except Exception:  # a lambda, a class from __main__... or really not serializable
        pass
    import cloudpickle

    try:
        cloudpickle.Pickler(_Sink(), _PROTOCOL, buffer_callback=_out_of_band).dump(value)
        return True
    except Exception:
        return False


class _Sink:
    """A file that keeps nothing: pickle hands large bytes to ``write`` as they are, uncopied."""

    __slots__ = ()
    write = staticmethod(len)


def _out_of_band(buffer: pickle.PickleBuffer) -> None:
    """Leaves a buffer (a NumPy array's data, a bytearray) out of the stream: returning None says so."""


__all__ = ["pickles"]
