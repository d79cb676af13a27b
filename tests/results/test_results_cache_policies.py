"""Cache policies as pure functions of a hand-built context, as tenacity tests its strategies."""

from __future__ import annotations

import sys
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from legato import task
from legato.cache_policies import (
    DEFAULT,
    FLOW_PARAMETERS,
    INPUTS,
    NO_CACHE,
    RUN_ID,
    TASK_SOURCE,
    CacheKeyFnPolicy,
    CachePolicy,
    CompoundCachePolicy,
    Inputs,
)
from legato.results.hashing import UnhashableError


def context(fn: Any = None, flow_run_id: str = "run-1") -> SimpleNamespace:
    the_task = SimpleNamespace(fn=fn or (lambda x: x), name="t")
    return SimpleNamespace(task=the_task, task_run=SimpleNamespace(id="tr-1", name="t-0", flow_run_id=flow_run_id),
                           flow_run_id=flow_run_id, flow_parameters={})


def key(policy: CachePolicy, inputs: dict[str, Any], ctx: Any = None, flow_parameters: Any = None) -> str | None:
    return policy.compute_key(ctx or context(), inputs, flow_parameters or {})


def test_inputs_keys_follow_the_arguments() -> None:
    assert key(INPUTS, {"x": 1, "y": 2}) == key(INPUTS, {"y": 2, "x": 1})
    assert key(INPUTS, {"x": 1}) != key(INPUTS, {"x": 2})


def test_subtracting_a_parameter_leaves_it_out() -> None:
    without_y = INPUTS - "y"
    assert without_y == Inputs(exclude=("y",))
    assert key(without_y, {"x": 1, "y": 2}) == key(without_y, {"x": 1, "y": object()})
    assert key(without_y, {"x": 1, "y": 2}) != key(without_y, {"x": 2, "y": 2})
    assert key(DEFAULT - "y", {"x": 1, "y": 2}) == key(DEFAULT - "y", {"x": 1, "y": 3})
    assert key(TASK_SOURCE - "y", {"y": 1}) == key(TASK_SOURCE, {"y": 2})  # no inputs: nothing to leave out
    with pytest.raises(TypeError):
        INPUTS - 3  # type: ignore[operator]


def test_policies_combine_with_plus_and_flatten() -> None:
    combined = INPUTS + TASK_SOURCE + RUN_ID
    assert combined == DEFAULT
    assert isinstance(combined, CompoundCachePolicy) and len(combined.policies) == 3
    assert NO_CACHE + INPUTS == INPUTS and INPUTS + NO_CACHE == INPUTS
    assert key(INPUTS + FLOW_PARAMETERS, {"x": 1}, flow_parameters={"day": 1}) != key(
        INPUTS + FLOW_PARAMETERS, {"x": 1}, flow_parameters={"day": 2})


def test_run_id_limits_reuse_to_one_flow_run() -> None:
    assert key(DEFAULT, {"x": 1}, context(flow_run_id="a")) != key(DEFAULT, {"x": 1}, context(flow_run_id="b"))
    assert key(RUN_ID, {}, context(flow_run_id="a")) == "a"


def test_no_cache_never_gives_a_key() -> None:
    assert key(NO_CACHE, {"x": 1}) is None


def test_cache_key_fn_policy_returns_the_functions_key() -> None:
    policy = CachePolicy.from_cache_key_fn(lambda ctx, params: f"{ctx.task.name}-{params['x']}")
    assert isinstance(policy, CacheKeyFnPolicy)
    assert key(policy, {"x": 4}) == "t-4"


def test_an_unhashable_input_fails_the_whole_compound_key() -> None:
    # Dropping the inputs part would make the key ignore the argument: a wrong hit.
    with pytest.raises(UnhashableError):
        key(DEFAULT, {"lock": threading.Lock()})


def _factory(offset: int) -> Any:
    @task
    def shift(x: int) -> int:
        return x + offset

    return shift


LIMIT = 10
SETTINGS = {"scale": 2}


def uses_globals(x: int) -> int:
    return min(x, LIMIT) * SETTINGS["scale"]


def test_task_source_covers_closures() -> None:
    one, two, other_one = _factory(1), _factory(2), _factory(1)
    assert key(TASK_SOURCE, {}, context(one.fn)) != key(TASK_SOURCE, {}, context(two.fn))
    assert key(TASK_SOURCE, {}, context(one.fn)) == key(TASK_SOURCE, {}, context(other_one.fn))


def test_task_source_covers_plain_data_globals(monkeypatch: pytest.MonkeyPatch) -> None:
    before = key(TASK_SOURCE, {}, context(uses_globals))
    monkeypatch.setitem(SETTINGS, "scale", 3)
    after_settings = key(TASK_SOURCE, {}, context(uses_globals))
    monkeypatch.setattr(sys.modules[__name__], "LIMIT", 11)
    after_limit = key(TASK_SOURCE, {}, context(uses_globals))
    assert len({before, after_settings, after_limit}) == 3


def test_task_source_refuses_an_unhashable_closure() -> None:
    lock = threading.Lock()

    def locked(x: int) -> int:
        with lock:
            return x

    with pytest.raises(UnhashableError):
        key(TASK_SOURCE, {}, context(locked))


def test_all_matches_public_names() -> None:
    import legato.cache_policies
    import legato.results

    for module in (legato.cache_policies, legato.results):
        prefix = module.__name__
        public = {name for name, value in vars(module).items()
                  if not name.startswith("_") and getattr(value, "__module__", "").startswith(prefix)
                  or isinstance(value, CachePolicy)}
        assert set(module.__all__) == public, module.__name__
