"""The public surface: names a Prefect user imports, and nothing heavy on import."""

from __future__ import annotations

import subprocess
import sys

import legato


def test_all_matches_public_names():
    public = {name for name in dir(legato) if not name.startswith("_")} - {
        "annotations", "core", "runners", "serializers", "futures", "states", "exceptions", "cache_policies",
        "config", "history", "results", "cli", "progress", "notifications", "artifacts", "tracing", "scheduling", "wiring", "testing",
        "ui", "task_runners", "tasks", "logging", "context", "runtime", "utilities", "transactions", "locking", "unavailable", "partitioning",  # submodules, once imported
    }
    assert set(legato.__all__) - {"__version__"} == public


def test_prefect_style_imports():
    from legato import allow_failure, as_completed, exponential_backoff, flow, get_run_logger, quote, task, unmapped, wait  # noqa: F401
    from legato.futures import as_completed, wait  # noqa: F401,F811
    from legato.runners import SyncTaskRunner, ThreadPoolTaskRunner  # noqa: F401
    from legato.states import Completed, Failed, State  # noqa: F401
    import legato.cache_policies  # noqa: F401


def test_import_legato_is_light():
    code = (
        "import sys, legato; heavy = [m for m in ('dask', 'distributed', 'ray', 'pydantic', 'tenacity', "
        "'numpy', 'pandas', 'legato.history', 'legato.cli', 'sqlite3') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_errors_form_one_hierarchy():
    for name in legato.core.errors.__all__:
        error = getattr(legato.core.errors, name)
        assert issubclass(error, legato.LegatoError)
    assert issubclass(legato.MappingLengthMismatch, ValueError)


def test_unknown_runner_name_is_rejected_at_decoration():
    import pytest

    with pytest.raises(ValueError, match="unknown task runner 'gpu'"):
        legato.flow(task_runner="gpu")(lambda: None)
