"""OpenTelemetry spans of flow and task runs, caught by the SDK's in-memory exporter."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402
from tasks import double, fail, inc  # noqa: E402

from legato import flow, tracing  # noqa: E402


@pytest.fixture
def exporter():
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.use_tracer_provider(provider)
    yield memory
    tracing.use_tracer_provider(None)


@pytest.mark.parametrize("runner", ["threads", "processes", "dask"], indirect=True)
def test_one_task_and_a_map_of_three_make_five_spans(runner, exporter):
    @flow(task_runner=runner)
    def traced() -> list[int]:
        first = inc.submit(1)
        return double.map([first, 2, 3]).result()

    assert traced() == [4, 4, 6]
    spans = exporter.get_finished_spans()
    (root,) = [s for s in spans if s.parent is None]
    tasks = [s for s in spans if s.parent is not None]
    assert len(spans) == 5 and root.name == "flow traced"
    assert {s.parent.span_id for s in tasks} == {root.context.span_id}
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    assert sorted(s.attributes["legato.task_run.name"] for s in tasks) == ["double-0", "double-1", "double-2", "inc-0"]
    assert sorted(s.attributes.get("legato.map_index", -1) for s in tasks) == [-1, 0, 1, 2]
    assert all(s.attributes["legato.state.name"] == "Completed" and s.attributes["legato.attempts"] == 1
               for s in tasks)  # fmt: skip
    assert all(s.start_time <= s.end_time and root.start_time <= s.start_time for s in tasks)
    assert root.attributes["legato.state.type"] == "COMPLETED" and root.status.status_code is StatusCode.OK


def test_failures_and_subflows(exporter):
    @flow
    def child() -> None:
        fail.submit("broken").result()

    @flow
    def parent() -> None:
        child()

    with pytest.raises(Exception, match="broken"):
        parent()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"flow parent", "flow child", "task fail-0"}
    assert spans["flow child"].parent.span_id == spans["flow parent"].context.span_id
    assert spans["task fail-0"].parent.span_id == spans["flow child"].context.span_id
    failed = spans["task fail-0"]
    assert failed.status.status_code is StatusCode.ERROR and failed.attributes["legato.state.type"] == "FAILED"
    assert any(event.name == "exception" for event in failed.events)


def test_no_spans_without_a_provider_and_nothing_imported():
    code = (
        "import sys; from legato import flow, task\n"
        "@task\ndef one(): return 1\n"
        "@flow\ndef f(): return one()\n"
        "assert f() == 1\n"
        "from legato.tracing import tracing_enabled\n"
        "print(tracing_enabled(), 'opentelemetry' in sys.modules)\n"
        "import opentelemetry.trace\n"
        "print(tracing_enabled())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"LEGATO_HISTORY": "0", "LEGATO_PROGRESS": "0", "PATH": ""})
    assert out.stdout.split() == ["False", "False", "False"], out.stderr


def test_the_global_provider_is_used_when_set():
    code = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "memory = InMemorySpanExporter(); provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(memory)); trace.set_tracer_provider(provider)\n"
        "from legato import flow, task\n"
        "@task\ndef one(): return 1\n"
        "@flow\ndef f():\n"
        "    with trace.get_tracer('app').start_as_current_span('body work'): return one()\n"
        "f()\n"
        "spans = {s.name: s for s in memory.get_finished_spans()}\n"
        "print(sorted(spans), spans['body work'].parent.span_id == spans['flow f'].context.span_id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"LEGATO_HISTORY": "0", "LEGATO_PROGRESS": "0", "PATH": ""})
    assert out.stdout.strip() == "['body work', 'flow f', 'task one-0'] True", out.stderr
