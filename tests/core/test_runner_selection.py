"""Choosing a runner: instances, classes, names, LEGATO_TASK_RUNNER, missing backends."""

from __future__ import annotations

import sys
import threading

import pytest

from legato import flow, get_run_context, task
from legato.core.errors import MissingDependencyError
from legato.runners import SyncTaskRunner, ThreadPoolTaskRunner, resolve_runner, runner_class


@task
def where():
    return threading.current_thread().name


def test_names_and_classes_resolve_to_fresh_runners():
    assert isinstance(resolve_runner("sync"), SyncTaskRunner)
    assert isinstance(resolve_runner("threads"), ThreadPoolTaskRunner)
    assert isinstance(resolve_runner(SyncTaskRunner), SyncTaskRunner)
    assert isinstance(resolve_runner(None), ThreadPoolTaskRunner)
    template = ThreadPoolTaskRunner(max_workers=3)
    copy = resolve_runner(template)
    assert copy is not template and copy.max_workers == 3 and not copy.started


def test_environment_variable_overrides_the_flow(monkeypatch):
    @flow(task_runner=ThreadPoolTaskRunner(2))
    def pipeline():
        return where.submit().result()

    assert pipeline().startswith("legato-thread")
    monkeypatch.setenv("LEGATO_TASK_RUNNER", "sync")
    assert pipeline() == threading.current_thread().name


def test_flow_runner_name_is_used():
    @flow(task_runner="sync")
    def pipeline():
        return type(get_run_context().engine.runner).__name__, where.submit().result()

    assert pipeline() == ("SyncTaskRunner", threading.current_thread().name)


def test_unknown_names_and_types_are_rejected():
    with pytest.raises(ValueError, match="known runners: sync, threads, processes, dask, ray"):
        resolve_runner("gpu-cluster")
    with pytest.raises(TypeError, match="task_runner must be"):
        flow(task_runner=42)(lambda: None)


@pytest.mark.parametrize("name, package, extra", [("dask", "distributed", "dask"), ("ray", "ray", "ray")])
def test_missing_backend_gives_the_pip_install_line(monkeypatch, name, package, extra):
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(MissingDependencyError, match=rf'pip install "legato\[{extra}\]"'):
        runner_class(name)
