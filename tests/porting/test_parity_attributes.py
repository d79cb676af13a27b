"""Task and flow attributes as Prefect 3 has them (issue #13, group 4).

Prefect's ``Task.__init__`` (prefect/tasks.py, 3.9) works out ``cache_policy`` and
``persist_result`` from the options given; ``with_options()`` starts again from
the options given, so every option survives a copy and each can be changed.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging

import pytest

from legato import flow, task
from legato.cache_policies import DEFAULT, INPUTS, NO_CACHE, TASK_SOURCE, CacheKeyFnPolicy
from legato.core.flow import Flow
from legato.core.task import Task
from log_capture import WarningMessages


def _fn(x: int = 1) -> int:
    return x


def _key(context, parameters):
    return "k"


def test_cache_policy_reads_the_policy_in_effect():
    """Prefect: no policy given reads DEFAULT; persist_result=False reads NO_CACHE; cache_key_fn reads its
    CacheKeyFnPolicy; a result_storage_key (with or without a policy) reads None; a given policy reads as given."""
    assert task(_fn).cache_policy is DEFAULT
    assert task(persist_result=True)(_fn).cache_policy is DEFAULT
    assert task(persist_result=False)(_fn).cache_policy is NO_CACHE
    assert isinstance(task(cache_key_fn=_key)(_fn).cache_policy, CacheKeyFnPolicy)
    assert task(result_storage_key="k")(_fn).cache_policy is None
    assert task(cache_policy=INPUTS, result_storage_key="k")(_fn).cache_policy is None
    assert task(cache_policy=INPUTS)(_fn).cache_policy is INPUTS
    assert task(cache_policy=NO_CACHE)(_fn).cache_policy is NO_CACHE


def test_caching_options_turn_persist_result_on():
    """Prefect: persist_result left unset reads True when cache_policy (not NO_CACHE), cache_key_fn,
    result_storage_key, result_storage or result_serializer is given, and stays None otherwise."""
    assert task(_fn).persist_result is None
    assert task(cache_policy=NO_CACHE)(_fn).persist_result is None
    for options in ({"cache_policy": INPUTS}, {"cache_key_fn": _key}, {"result_storage_key": "k"},
                    {"result_storage": "results"}, {"result_serializer": "json"}):
        assert task(**options)(_fn).persist_result is True, options
    assert task(cache_policy=INPUTS, persist_result=False)(_fn).persist_result is False
    assert flow(result_storage="results")(_fn).persist_result is True
    assert flow(_fn).persist_result is None


@pytest.fixture
def task_warnings():
    """Warnings of the ``legato.tasks`` logger (legato's loggers do not propagate to caplog once a flow ran)."""
    handler = WarningMessages()
    logger = logging.getLogger("legato.tasks")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_persist_result_false_with_a_cache_policy_warns_with_prefects_words(task_warnings):
    """Prefect logs "Ignoring `cache_policy` because `persist_result` is False" when the task is made."""
    made = task(cache_policy=INPUTS, persist_result=False)(_fn)
    assert task_warnings == ["Ignoring `cache_policy` because `persist_result` is False"]
    assert made.cache_policy is NO_CACHE
    task(persist_result=False)(_fn)
    task(cache_policy=NO_CACHE, persist_result=False)(_fn)
    assert len(task_warnings) == 1


def test_both_cache_policy_and_cache_key_fn_warn_that_the_key_fn_wins(task_warnings):
    """Prefect: "Both `cache_policy` and `cache_key_fn` are set on task ... `cache_key_fn` will be used."."""
    made = task(cache_policy=INPUTS, cache_key_fn=_key)(_fn)
    assert any(message.endswith("`cache_key_fn` will be used.") for message in task_warnings)
    assert isinstance(made.cache_policy, CacheKeyFnPolicy)


def test_a_prefect_block_slug_as_result_storage_says_what_to_use_instead():
    """Prefect reads a string result_storage as a block slug ("s3-bucket/my-block"); legato has no blocks
    and would read it as a folder, so it refuses one naming a storage block type, saying what to give."""
    with pytest.raises(ValueError, match=r"legato has no blocks.*s3://"):
        task(result_storage="s3-bucket/my-block")(_fn)
    with pytest.raises(ValueError, match="legato has no blocks"):
        flow(result_storage="local-file-system/results")(_fn)


def test_a_relative_result_storage_folder_is_resolved_against_the_current_directory(tmp_path, monkeypatch):
    """Prefect's LocalFileSystem resolves a relative base path when results are written, against the
    current directory; a run that looks again from there finds its record."""
    monkeypatch.chdir(tmp_path)
    runs = []

    @task(result_storage="relative/results", cache_policy=INPUTS)
    def double(x: int) -> int:
        runs.append(x)
        return 2 * x

    @flow
    def pipeline():
        return double(21)

    assert pipeline() == 42 and pipeline() == 42
    assert runs == [21]
    assert any((tmp_path / "relative" / "results").rglob("*"))


# ---------------------------------------------------------------------------- with_options

def _hook(*_args):
    return None


#: a value other than the default for every option of Task.__init__ / Flow.__init__, and a second one
TASK_SAMPLES = {
    "name": ("renamed", "again"), "description": ("described", "other"), "tags": ({"a"}, {"b"}),
    "retries": (2, 3), "retry_delay_seconds": ([1, 2], 5), "retry_jitter_factor": (0.5, 0.25),
    "retry_condition_fn": (lambda t, r, s: True, lambda t, r, s: False), "timeout_seconds": (10.0, 20.0),
    "task_run_name": ("run-{x}", "other-{x}"), "log_prints": (True, False),
    "on_completion": ([_hook], [_hook, _hook]), "on_failure": ([_hook], [_hook, _hook]),
    "on_commit": ([_hook], [_hook, _hook]), "on_rollback": ([_hook], [_hook, _hook]),
    "on_running": ([_hook], [_hook, _hook]), "cache_policy": (INPUTS, TASK_SOURCE), "cache_key_fn": (_key, None),
    "cache_expiration": (dt.timedelta(hours=1), dt.timedelta(days=1)), "refresh_cache": (True, False),
    "persist_result": (True, False), "result_storage": ("results", "elsewhere"),
    "result_serializer": ("json", "pickle"), "result_storage_key": ("k-{parameters[x]}", "other"),
    "runner_options": ({"resources": {"GPU": 1}}, {"num_cpus": 2}),
}
FLOW_SAMPLES = {
    "name": ("renamed", "again"), "description": ("described", "other"), "version": ("1", "2"),
    "task_runner": ("threads", "sync"), "retries": (2, 3), "retry_delay_seconds": (5, 6),
    "flow_run_name": ("run-{x}", "other-{x}"), "tags": ({"a"}, {"b"}), "log_prints": (True, False),
    "validate_parameters": (False, True), "on_completion": ([_hook], [_hook, _hook]),
    "on_failure": ([_hook], [_hook, _hook]), "on_crashed": ([_hook], [_hook, _hook]),
    "on_cancellation": ([_hook], [_hook, _hook]), "on_running": ([_hook], [_hook, _hook]),
    "timeout_seconds": (10.0, 20.0), "persist_result": (True, False), "result_storage": ("results", "elsewhere"),
    "result_serializer": ("json", "pickle"), "cache_result_in_memory": (False, True), "run_key": ("k-{x}", "other"),
}


def _options(cls: type) -> list[str]:
    return [name for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY]


def _read(made, name):
    """The option as given: hooks compare as lists, tags as sets; the others as they read."""
    value = getattr(made, "_user_" + name, getattr(made, name)) if name in ("cache_policy", "persist_result") \
        else getattr(made, name)
    return set(value) if name == "tags" else list(value) if name.startswith("on_") else value


@pytest.mark.parametrize("cls, decorator, samples", [(Task, task, TASK_SAMPLES), (Flow, flow, FLOW_SAMPLES)])
def test_with_options_keeps_every_option_and_can_change_each(cls, decorator, samples):
    """Prefect: ``with_options()`` with no arguments is a copy with every option of ``__init__`` as it was,
    and ``with_options(option=value)`` changes that option alone."""
    options = _options(cls)
    assert set(options) == set(samples), "a new option needs sample values here"
    first = {name: values[0] for name, values in samples.items()}
    original = decorator(**first)(_fn)
    copy = original.with_options()
    for name in options:
        assert _read(copy, name) == _read(original, name), name
    for name in options:
        changed = original.with_options(**{name: samples[name][1]})
        assert _read(changed, name) == _read(decorator(**{**first, name: samples[name][1]})(_fn), name), name
        for other in options:
            if other != name and not (name == "cache_key_fn" and other == "cache_policy"):
                assert _read(changed, other) == _read(original, other), (name, other)


def test_with_options_passes_on_the_options_as_given_not_as_they_read():
    """Prefect's with_options uses the cache policy and persist_result the user gave, so a copy of a task
    with no policy still gets DEFAULT, and one with persist_result left unset can persist by a new option."""
    plain = task(_fn)
    assert plain.with_options(result_storage_key="k").cache_policy is None
    assert plain.with_options(persist_result=False).cache_policy is NO_CACHE
    assert task(cache_policy=INPUTS)(_fn).with_options(cache_policy=NO_CACHE).persist_result is None
