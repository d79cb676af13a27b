"""Flow parameters as Prefect 3 binds and validates them (issue #13, group 12)."""

from __future__ import annotations

import re

import pytest

from legato import flow
from legato.exceptions import ParameterBindError


def test_validate_parameters_false_passes_values_through_uncoerced():
    """Prefect: ``@flow(validate_parameters=False)`` neither validates nor coerces (``"5"`` stays a str,
    a value of the wrong type is not refused); with validation on, ``"5"`` becomes 5."""

    def body(x: int, y: int = 2):
        return x, y

    assert flow(validate_parameters=False)(body)("5") == ("5", 2)
    assert flow(validate_parameters=False)(body)([1]) == ([1], 2)
    assert flow(body)("5") == (5, 2)


def test_validate_parameters_false_still_binds_the_arguments():
    """Prefect binds the call to the signature either way: a missing argument raises ParameterBindError
    (a TypeError) whose message starts "Error binding parameters for function 'body': missing a required
    argument: 'x'."."""

    def body(x: int, y: int = 2):
        return x, y

    for validate in (True, False):
        with pytest.raises(ParameterBindError, match=re.escape(
                "Error binding parameters for function 'body': missing a required argument: 'x'.")) as raised:
            flow(validate_parameters=validate)(body)()
        assert isinstance(raised.value, TypeError)
        assert "has signature" in str(raised.value) and "but received args: () and kwargs: []." in str(raised.value)


def test_unbindable_arguments_with_return_state_give_a_failed_state():
    """Prefect: with ``return_state=True`` parameters that cannot be bound or validated give a Failed state."""

    @flow
    def body(x: int):
        return x

    state = body(return_state=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), ParameterBindError)
