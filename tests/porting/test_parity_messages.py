"""Messages Prefect 3 programs match on (issue #13, group 15): legato's errors start with Prefect's words.

Each case is ``Task.__init__`` / ``Flow.__init__`` of prefect 3.9 (prefect/tasks.py, prefect/flows.py):
the same exception type, and a message that ``pytest.raises(match=...)`` with Prefect's text still matches.
"""

from __future__ import annotations

import re

import pytest

from legato import flow, task
from legato.exceptions import ReservedArgumentError


def _nothing():
    return None


@pytest.mark.parametrize(
    "options, error, prefect_message",
    [
        ({"retry_jitter_factor": -1}, ValueError, "`retry_jitter_factor` must be >= 0."),
        ({"retries": 3, "retry_delay_seconds": [1] * 51}, ValueError,
         "Can not configure more than 50 retry delays per task."),
        ({"retry_delay_seconds": "10"}, TypeError,
         "Invalid `retry_delay_seconds` provided; must be an int, float, list or callable. Received type <class 'str'>"),
        ({"task_run_name": 5}, TypeError, "Expected string or callable for 'task_run_name'; got int instead."),
    ],
)
def test_task_option_errors_read_as_prefects(options, error, prefect_message):
    """Prefect's Task.__init__ raises these types with these words for these options."""
    with pytest.raises(error, match=re.escape(prefect_message)):
        task(**options)(_nothing)


def test_flow_option_errors_read_as_prefects():
    """Prefect's Flow.__init__: a non-string name, a flow_run_name that is neither a string nor callable."""
    with pytest.raises(TypeError, match=re.escape("Expected string for flow parameter 'name'; got int instead.")):
        flow(name=3)(_nothing)
    with pytest.raises(TypeError, match=re.escape("Expected string or callable for 'flow_run_name'; got int instead.")):
        flow(flow_run_name=3)(_nothing)


def test_non_callables_are_refused_with_prefects_words():
    """Prefect: ``TypeError("'fn' must be callable")`` for a task or flow of something not callable."""
    for decorator in (task, flow):
        with pytest.raises(TypeError, match="'fn' must be callable"):
            decorator(3)


@pytest.mark.parametrize("name", ["return_state", "wait_for"])
def test_reserved_parameter_names_are_refused(name):
    """Prefect raises ReservedArgumentError ("'return_state' is a reserved argument name and cannot be
    used.") for a function whose parameter the call itself takes; legato did accept them and swallow them."""
    namespace: dict = {}
    exec(f"def fn({name}=None):\n    return {name}", namespace)
    for decorator in (task, flow):
        with pytest.raises(ReservedArgumentError, match=re.escape(f"'{name}' is a reserved argument name and cannot be used.")):
            decorator(namespace["fn"])
    assert issubclass(ReservedArgumentError, TypeError)


def test_run_key_is_reserved_for_flows_only():
    """legato's flow call takes ``run_key=``, so a flow may not have a parameter of that name (a task may)."""

    def fn(run_key=None):
        return run_key

    with pytest.raises(ReservedArgumentError, match="'run_key' is a reserved argument name"):
        flow(fn)
    assert task(fn)(run_key="k") == "k"
