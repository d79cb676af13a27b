"""Short, safe text for values that end up in the history database.

Flow parameters can be anything: a data frame, an open socket, an object
whose ``__repr__`` raises. History only needs something a person can read in
``legato runs show``, so every value is stored as a bounded ``repr`` and this
module never raises, whatever it is given.
"""

from __future__ import annotations

import json
import os
import reprlib
from collections.abc import Iterable, Mapping
from typing import Any

MAX_VALUE_CHARS = 200

_repr = reprlib.Repr()
_repr.maxstring = MAX_VALUE_CHARS
_repr.maxother = MAX_VALUE_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 20
_repr.maxlevel = 3


def safe_repr(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters; never raises."""
    try:
        text = _repr.repr(value)
    except Exception as exc:  # a user's __repr__ can raise anything
        text = f"<{_type_name(value)} (repr failed: {type(exc).__name__})>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def parameters_json(parameters: Mapping[str, Any]) -> str:
    """The parameters as a JSON object of ``name -> bounded repr``."""
    try:
        items = list(parameters.items())
    except Exception:
        return "{}"
    return json.dumps({str(name): safe_repr(value) for name, value in items})


def tags_json(tags: Iterable[str] | None) -> str:
    """Tags as a JSON list of strings (``[]`` when there are none)."""
    return json.dumps([str(tag) for tag in tags or ()])


def this_host() -> str:
    """The machine's name, as ``socket.gethostname()`` gives it, without importing ``socket``.

    A flow's first run pays for every import its history needs; on POSIX the
    host name is the ``uname`` node name, which ``os`` has already loaded.
    """
    uname = getattr(os, "uname", None)
    if uname is not None:
        return uname().nodename
    import socket

    return socket.gethostname()


def _type_name(value: Any) -> str:
    try:
        return type(value).__qualname__
    except Exception:
        return "object"


__all__ = ["MAX_VALUE_CHARS", "parameters_json", "safe_repr", "tags_json", "this_host"]
