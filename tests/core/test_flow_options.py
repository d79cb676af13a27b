"""Flow parameters, run names, tags, logging and log_prints."""

from __future__ import annotations

import datetime
import logging

import pydantic
import pytest

from legato import ParameterTypeError, flow, get_run_context, get_run_logger, tags, task


def test_type_hinted_parameters_are_coerced():
    @flow
    def typed(n: int, when: datetime.date, ratio: float = 0.5, names: list[str] | None = None, raw=None):
        return n, when, ratio, names, raw

    assert typed("3", "2024-01-02", names=("a",), raw="x") == (3, datetime.date(2024, 1, 2), 0.5, ["a"], "x")


def test_bad_parameter_names_the_parameter():
    @flow
    def typed(n: int, m: int = 0):
        return n

    with pytest.raises(ParameterTypeError, match=r"parameter 'n'.*valid integer.*'abc'") as info:
        typed("abc")
    assert isinstance(info.value, TypeError)


def test_missing_parameter_raises_type_error_naming_the_flow():
    @flow
    def needs(x):
        return x

    with pytest.raises(TypeError, match="needs"):
        needs()


def test_validation_can_be_turned_off():
    @flow(validate_parameters=False)
    def typed(n: int):
        return n

    assert typed("3") == "3"


class Window(pydantic.BaseModel):
    start: int
    end: int


def test_pydantic_models_as_parameters():
    @flow
    def uses_model(window: Window):
        return window.end - window.start

    assert uses_model({"start": 1, "end": 5}) == 4


def test_flow_run_name_and_task_run_name_templates():
    seen = {}

    @task(task_run_name="load-{source}")
    def load(source):
        seen["task"] = get_run_context().task_run.name
        return source

    @task(task_run_name=lambda source: f"fn-{source.upper()}")
    def other(source):
        seen["task2"] = get_run_context().task_run.name

    @flow(flow_run_name="etl-{day}")
    def etl(day: str):
        seen["flow"] = get_run_context().flow_run.name
        load.submit("s3")
        other("db")

    etl("monday")
    assert seen == {"flow": "etl-monday", "task": "load-s3", "task2": "fn-DB"}


def test_bad_name_template_raises_value_error_naming_it():
    @task(task_run_name="{nope}")
    def t(x):
        return x

    @flow
    def f():
        return t.submit(1)

    with pytest.raises(ValueError, match=r"task_run_name"):
        f()


def test_tags_from_decorators_and_context():
    seen = {}

    @task(tags=["io"])
    def t():
        seen["task"] = set(get_run_context().task_run.tags)

    @flow(tags=["nightly"])
    def f():
        seen["flow"] = set(get_run_context().flow_run.tags)
        with tags("extra"):
            t.submit().wait(5)

    with tags("outer"):
        f()
    assert seen["flow"] == {"nightly", "outer"}
    assert seen["task"] == {"io", "outer", "extra"}


def test_run_logger_carries_run_names(run_logs):
    @task
    def talk():
        get_run_logger().info("from the task")

    @flow(flow_run_name="speaker")
    def f():
        get_run_logger().info("from the flow")
        talk.submit().wait(5)

    f()
    records = {r.getMessage(): r for r in run_logs.records}
    assert records["from the flow"].flow_run_name == "speaker"
    assert records["from the task"].task_run_name == "talk-0"
    assert records["from the task"].flow_run_name == "speaker"


def test_get_run_logger_outside_a_run_raises():
    with pytest.raises(RuntimeError, match="outside a flow or task"):
        get_run_logger()


def test_successful_tasks_log_nothing_at_info(run_logs):
    @task
    def quiet(x):
        return x

    @flow
    def f():
        quiet.map(range(20)).wait()

    f()
    messages = [r.getMessage() for r in run_logs.records]
    assert len(messages) == 2
    assert messages[0].startswith("Beginning flow run") and messages[1] == "Finished in state Completed"


def test_failure_and_retry_are_logged(run_logs):
    calls = []

    @task(retries=1)
    def flaky():
        calls.append(1)
        raise ValueError("nope")

    @flow
    def f():
        flaky.submit().wait(5)

    f()
    levels = [(r.levelname, r.getMessage()) for r in run_logs.records if getattr(r, "task_run_name", None)]
    assert levels[0][0] == "WARNING" and "retrying" in levels[0][1]
    assert levels[1][0] == "ERROR" and "Finished in state Failed" in levels[1][1]


def test_log_prints_routes_print_to_the_run_logger(run_logs, capsys):
    @task(log_prints=True)
    def noisy():
        print("hello from task")

    @task
    def plain():
        print("plain print")

    @flow
    def f():
        noisy.submit().wait(5)
        plain.submit().wait(5)

    f()
    assert any(r.getMessage() == "hello from task" and r.task_run_name == "noisy-0" for r in run_logs.records)
    assert "plain print" in capsys.readouterr().out


def test_a_flow_with_log_prints_logs_the_prints_of_its_tasks(run_logs, capsys):
    """Prefect 3: a task's ``log_prints`` defaults to None and inherits the flow's; subflows inherit too."""

    @task
    def inherits():
        print("from an inheriting task")

    @task(log_prints=False)
    def opts_out():
        print("raw print")

    @flow
    def child():
        print("from the subflow")

    @flow(log_prints=True)
    def parent():
        inherits.submit().wait(5)
        inherits()
        opts_out.submit().wait(5)
        child()

    parent()
    messages = [(r.getMessage(), getattr(r, "task_run_name", None)) for r in run_logs.records]
    assert ("from an inheriting task", "inherits-0") in messages
    assert ("from an inheriting task", "inherits-1") in messages
    assert any(text == "from the subflow" for text, _ in messages)
    assert "raw print" in capsys.readouterr().out
    assert not any(text == "raw print" for text, _ in messages)
