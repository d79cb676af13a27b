"""Turn ``path/to/file.py:flow_name`` and ``--param key=value`` into a flow and its arguments.

Everything that can go wrong here is the user's input, so every failure is a
:class:`~legato.cli.errors.UsageError` with one line saying what to fix.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import hashlib
import importlib.util
import inspect
import json
import sys
import types
import typing
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from types import ModuleType
from typing import Any

from legato.cli.errors import UsageError


@dataclass(frozen=True)
class Entrypoint:
    """A flow named by the file that defines it and its attribute name there."""

    path: Path
    attribute: str

    @classmethod
    def parse(cls, text: str) -> Entrypoint:
        """Parse ``path/to/file.py:flow_name``; the file must exist."""
        raw_path, sep, attribute = text.rpartition(":")
        if not sep or not raw_path or not attribute.strip():
            raise UsageError(f"expected path/to/file.py:flow_name, got {text!r}")
        path = Path(raw_path).expanduser()
        if not path.is_file():
            raise UsageError(f"no such file: {raw_path}")
        return cls(path.resolve(), attribute.strip())

    def __str__(self) -> str:
        return f"{self.path}:{self.attribute}"


def load_flow(entrypoint: Entrypoint) -> Any:
    """Import the entrypoint's file and return its flow object."""
    module = load_module(entrypoint.path)
    found = getattr(module, entrypoint.attribute, None)
    if found is None:
        flows = sorted(name for name, value in vars(module).items() if is_flow(value))
        listing = f"flows found: {', '.join(flows)}" if flows else "no flows found"
        raise UsageError(f"{entrypoint.path.name} has no flow named {entrypoint.attribute!r} ({listing})")
    if is_task(found):
        raise UsageError(
            f"{entrypoint.attribute!r} in {entrypoint.path.name} is a task, not a flow: "
            f"call it from a @flow and run that flow (legato run {entrypoint.path.name}:FLOW)"
        )
    if not is_flow(found):
        raise UsageError(
            f"{entrypoint.attribute!r} in {entrypoint.path.name} is not a flow (decorate it with @flow)"
        )
    return found


def load_module(path: Path) -> ModuleType:
    """Import a Python file as a module, with its folder on ``sys.path``.

    The module is registered under its file name (so process workers can
    import it again by name) unless another module already uses that name.
    """
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = _module_name(path)
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) == str(path):
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UsageError(f"cannot load {path.name}: {type(exc).__name__}: {_first_line(exc)}") from exc
    return module


def is_flow(value: Any) -> bool:
    """Whether ``value`` looks like a legato flow (duck-typed: no engine import needed)."""
    return callable(value) and hasattr(value, "fn") and hasattr(value, "with_options") and not is_task(value)


def is_task(value: Any) -> bool:
    """Whether ``value`` looks like a legato task: a flow has no ``submit`` or ``map``."""
    return callable(value) and hasattr(value, "fn") and hasattr(value, "submit") and hasattr(value, "map")


def parse_params(pairs: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; values stay raw strings."""
    raw: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"expected --param key=value, got {pair!r}")
        raw[key] = value
    return raw


def decode_params(raw: Mapping[str, Any], flow: Any = None) -> dict[str, Any]:
    """Turn each raw ``--param`` text into the value the flow is called with.

    The flow's type hints decide: a parameter annotated ``str`` (or another
    type written as text: ``Path``, ``date``, ``datetime``, ``UUID``,
    ``Decimal``, a ``Literal`` or ``Enum`` of strings, ``Optional`` of one of
    these) gets the text as it is, so ``day=20261120`` stays ``"20261120"``.
    Any other hint, or none, gets the text decoded as JSON when it is valid
    JSON (``n=3`` gives ``3``, ``xs=[1,2]`` a list), else the text; the flow
    then coerces what it gets with its hints.
    """
    hints = parameter_hints(flow) if flow is not None else {}
    return {
        key: value if _is_text_hint(hints.get(key, _NO_HINT)) else _decode(value) for key, value in raw.items()
    }


_NO_HINT = object()
_TEXT_TYPES = (str, PurePath, datetime.date, datetime.time, datetime.timedelta, uuid.UUID, decimal.Decimal)


def parameter_hints(flow: Any) -> dict[str, Any]:
    """The type hints of a flow's parameters; ``{}`` when they cannot be resolved."""
    fn = getattr(flow, "fn", None)
    if fn is None:
        return {}
    try:
        return typing.get_type_hints(fn)
    except Exception:  # an unresolvable forward reference: fall back to what is written
        try:
            return {
                name: p.annotation
                for name, p in inspect.signature(fn).parameters.items()
                if p.annotation is not inspect.Parameter.empty and not isinstance(p.annotation, str)
            }
        except (TypeError, ValueError):
            return {}


def _is_text_hint(hint: Any) -> bool:
    """Whether a parameter with this hint takes its ``--param`` text as it is."""
    if hint is _NO_HINT or hint is Any:
        return False
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _is_text_hint(typing.get_args(hint)[0])
    if origin is typing.Literal:
        return all(isinstance(choice, str) for choice in typing.get_args(hint))
    if origin is typing.Union or origin is types.UnionType:
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return bool(members) and all(_is_text_hint(member) for member in members)
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return all(isinstance(member.value, str) for member in hint)
        return issubclass(hint, _TEXT_TYPES) and not issubclass(hint, bool)
    return False


def check_arguments(flow: Any, params: Mapping[str, Any]) -> None:
    """Fail early, as a usage error, on unknown or missing flow parameters."""
    try:
        signature = inspect.signature(flow.fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(**params)
    except TypeError as exc:
        accepted = ", ".join(signature.parameters) or "none"
        raise UsageError(f"bad parameters for flow {_flow_name(flow)!r}: {exc} (parameters: {accepted})") from exc


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _module_name(path: Path) -> str:
    name = path.stem
    existing = sys.modules.get(name)
    if name.isidentifier() and (existing is None or getattr(existing, "__file__", None) == str(path)):
        return name
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"legato_flow_{digest}"


def _flow_name(flow: Any) -> str:
    return str(getattr(flow, "name", None) or getattr(flow.fn, "__name__", "flow"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


__all__ = [
    "Entrypoint",
    "check_arguments",
    "decode_params",
    "is_flow",
    "is_task",
    "load_flow",
    "load_module",
    "parameter_hints",
    "parse_params",
]
