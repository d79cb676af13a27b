"""Prefect names that legato deliberately leaves out, and the error that says what to use instead.

legato is Prefect 3's execution side with no server. A Prefect program that
reaches for a part that needs Prefect's API server (blocks, deployments run
through the API, events, variables, work pools, pausing a run for input)
should fail at the import or the call, with a message that names what legato
offers in its place, not with a bare ``ModuleNotFoundError`` or
``AttributeError`` that reads like a bug.

:data:`MODULES` and :data:`NAMES` are the single list: the import hook below,
``legato.__getattr__`` and the README's differences table
(checked by ``tests/porting/test_unavailable_features.py``) all read it.
``Flow.deploy`` and ``Flow.from_source`` raise the same error from the core.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from legato.core.errors import UnavailableFeature

#: ``prefect.<module>`` → what legato does instead (``import legato.<module>`` raises with this)
MODULES: dict[str, str] = {
    "blocks": "blocks are configuration stored on Prefect's server; legato has none. Keep settings in "
              "environment variables (LEGATO_* for legato's own) and credentials in your secret store",
    "deployments": "deployments through Prefect's API (run_deployment, work pools) need its server; call the "
                   "flow, or schedule it with flow.serve(...) / legato.serve(flow.to_deployment(...))",
    "events": "legato emits no events; react to runs with hooks (on_failure=, on_completion=) and "
              "notifications (legato.notify, LEGATO_NOTIFY)",
    "automations": "automations run on Prefect's server; use hooks (on_failure=, on_completion=) and "
                   "notifications (legato.notify, LEGATO_NOTIFY)",
    "variables": "variables are stored on Prefect's server; use environment variables or a file of your own",
    "client": "legato has no API to call; read runs with legato.history or the `legato runs` command",
    "server": "legato has no server: the run history is SQLite under $LEGATO_HOME; "
              "`legato ui` shows it in a browser",
    "workers": "legato has no workers or work pools: the flow runs in your process, its tasks on the "
               "task runner you choose (processes, Dask, Ray)",
    "infrastructure": "legato has no infrastructure blocks: tasks run on the task runner you choose",
    "filesystems": "give result_storage= a path or an fsspec URL (legato.results.FsspecStorage) instead of "
                   "a filesystem block",
    "settings": "legato's settings are environment variables (LEGATO_*, see README 'Settings'); "
                "legato.config.SETTINGS lists them",
    "input": "waiting for run input goes through Prefect's API; legato has none: split the flow in two, "
             "or wait on a signal of your own",
}

#: ``prefect.<name>`` → what legato does instead (``legato.<name>`` raises with this)
NAMES: dict[str, str] = {
    "deploy": "there are no work pools to deploy to; schedule a flow with flow.serve(...) or "
              "legato.serve(flow.to_deployment(...))",
    "aserve": "use legato.serve(...), which blocks; run it in a process of its own",
    "get_client": MODULES["client"],
    "pause_flow_run": MODULES["input"],
    "resume_flow_run": MODULES["input"],
    "suspend_flow_run": MODULES["input"],
    "apause_flow_run": MODULES["input"],
    "aresume_flow_run": MODULES["input"],
    "asuspend_flow_run": MODULES["input"],
}

def refuse(prefect_name: str, instead: str) -> NoReturn:
    """Raise the error for a Prefect name legato leaves out."""
    raise UnavailableFeature(f"{prefect_name} is not available in legato: {instead}")


class _Refuser:
    """Last on ``sys.meta_path``: answers imports of the left-out ``legato.*`` modules with the error.

    A meta path finder needs only ``find_spec``; not subclassing
    ``importlib.abc.MetaPathFinder`` keeps ``importlib.abc`` (and what it
    imports) out of ``import legato``.
    """

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if not fullname.startswith("legato."):
            return None
        top = fullname.split(".")[1]
        if top in MODULES:
            refuse(f"prefect.{fullname.partition('.')[2]}", MODULES[top])
        return None


def install() -> None:
    """Put the import hook in place once (``import legato`` calls this)."""
    if not any(isinstance(finder, _Refuser) for finder in sys.meta_path):
        sys.meta_path.append(_Refuser())


__all__ = ["MODULES", "NAMES", "UnavailableFeature", "install", "refuse"]
