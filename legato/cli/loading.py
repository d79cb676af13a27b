"""Turn ``path/to/file.py:flow_name`` and ``--param key=value`` into a flow and its arguments.

Everything that can go wrong here is the user's input, so every failure is a
:class:`~legato.cli.errors.UsageError` with one line saying what to fix.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
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
    return callable(value) and hasattr(value, "fn") and hasattr(value, "with_options")


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


def decode_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Decode each raw value as JSON when it is valid JSON, else keep the string.

    ``n=3`` gives ``3``, ``xs=[1,2]`` a list, ``name=ada`` the string
    ``"ada"``; the flow's type hints then coerce what remains.
    """
    return {key: _decode(value) for key, value in raw.items()}


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


__all__ = ["Entrypoint", "check_arguments", "decode_params", "is_flow", "load_flow", "load_module", "parse_params"]
