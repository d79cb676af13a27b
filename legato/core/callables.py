"""User callables that tasks and flows take: their functions, and templates called with some parameters.

Hooks are in :mod:`legato.core.hooks`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

def check_callable_and_timeout(fn: Any, timeout_seconds: float | None, decorator: str) -> None:
    """Fail at decoration on what can never run: a non-callable, a negative timeout.

    Messages start with Prefect's words, so Prefect programs (and their
    tests) that match on them keep matching; legato's detail follows.
    """
    if not callable(fn):
        raise TypeError(f"'fn' must be callable ({decorator} needs a function, got {fn!r})")
    if timeout_seconds is not None and timeout_seconds < 0:
        raise ValueError(f"timeout_seconds must be >= 0, got {timeout_seconds}")


#: parameter names a task or flow function cannot have: the call takes them itself (``flow(x, run_key=...)``)
RESERVED_ARGUMENTS = {"@task": ("return_state", "wait_for"), "@flow": ("return_state", "wait_for", "run_key")}


#: Prefect's block type slugs of result storages: ``result_storage="s3-bucket/my-block"`` names a block there
_BLOCK_TYPES = ("local-file-system/", "remote-file-system/", "s3-bucket/", "gcs-bucket/", "azure-blob-storage/",
                "smb/", "github/", "gitlab-repository/")


def check_result_storage(result_storage: Any) -> None:
    """Refuse a Prefect block slug as ``result_storage``: legato would read it as a relative folder.

    legato has no blocks; a string is a folder (relative ones are resolved
    against the current directory when results are written, as Prefect's
    ``LocalFileSystem`` does) or an fsspec URL.
    """
    if isinstance(result_storage, str) and result_storage.startswith(_BLOCK_TYPES):
        kind, _, name = result_storage.partition("/")
        raise ValueError(
            f"result_storage={result_storage!r} names a Prefect {kind} block, and legato has no blocks: "
            f"give a folder (result_storage='results/{name}') or an fsspec URL (result_storage='s3://bucket/prefix')"
        )


def check_names(fn: Any, decorator: str, name: Any, run_name_option: str, run_name: Any) -> None:
    """Prefect's checks of names at decoration: ``name``, the run name template, reserved parameters."""
    if decorator == "@flow" and name is not None and not isinstance(name, str):
        hint = "Perhaps you meant to call it? e.g. '@flow(name=get_flow_run_name())'" if callable(name) else ""
        raise TypeError(f"Expected string for flow parameter 'name'; got {type(name).__name__} instead. {hint}")
    if run_name is not None and not isinstance(run_name, str) and not callable(run_name):
        raise TypeError(f"Expected string or callable for '{run_name_option}'; got {type(run_name).__name__} instead.")
    code = getattr(fn, "__code__", None)
    if code is not None and not hasattr(fn, "__wrapped__"):  # a plain function: no signature to build
        parameters: Any = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
    else:
        try:
            parameters = inspect.signature(fn).parameters
        except (TypeError, ValueError):  # a builtin without a signature: nothing it could shadow
            return
    for argument in RESERVED_ARGUMENTS[decorator]:
        if argument in parameters:
            from legato.core.errors import ReservedArgumentError

            raise ReservedArgumentError(f"{argument!r} is a reserved argument name and cannot be used.")


def accepted_parameters(fn: Callable[..., Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``parameters`` that ``fn`` takes (all of them if it takes ``**kwargs``)."""
    signature = inspect.signature(fn)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return parameters
    return {k: v for k, v in parameters.items() if k in signature.parameters}


__all__ = ["RESERVED_ARGUMENTS", "accepted_parameters", "check_callable_and_timeout", "check_names",
           "check_result_storage"]
