"""The benchmark suite runs and writes well-formed results (no timing is checked)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from benchmarks import chart, history, memory, startup
from benchmarks.__main__ import main
from benchmarks.machine import isolated_environment


def test_quick_threads_throughput_writes_json_and_chart(tmp_path):
    result = main(["--quick", "--runners", "threads", "--sections", "throughput", "--out", str(tmp_path)])

    [path] = tmp_path.glob("benchmarks-quick-*.json")
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert set(result) == {"machine", "plan", "workers", "runners", "failed_sections", "measurements", "comparisons",
                           "targets"}
    assert result["failed_sections"] == {}
    assert {"cpu_count", "memory_bytes", "python", "timestamp", "versions"} <= set(result["machine"])
    assert set(result["machine"]["versions"]) == {"legato", "dask", "distributed", "ray"}
    assert result["runners"] == {"threads": {"available": True, "workers": "4 threads", "error": None, "errors": {}}}
    workloads = {c["workload"] for c in result["comparisons"]}
    assert workloads == {"noop_map", "chain", "fan", "sleep_map", "one_task"}
    for row in result["comparisons"]:
        assert row["runner"] == "threads" and row["legato"] > 0 and row["raw"] > 0 and row["ratio"] > 0
    for m in result["measurements"]:
        assert m["section"] == "throughput" and m["side"] in ("legato", "raw") and len(m["runs"]) == 1
    if chart.available():
        assert path.with_suffix(".png").stat().st_size > 0


def test_unknown_runner_is_a_usage_error():
    with pytest.raises(SystemExit):
        main(["--quick", "--runners", "threads,nope"])


@pytest.mark.parametrize("section, measure, names", [
    ("memory", lambda: memory.measure((2000,), (1000,)),
     {"peak_rss.2000", "rss_per_task.2000", "traced_per_task.1000"}),
    ("history", lambda: history.measure(200, 1), {"on", "off", "overhead", "durable_overhead", "cpu_overhead"}),
    ("startup", lambda: startup.measure(1), {"import", "one_task_flow", "one_task_flow_warm", "one_task_flow_history",
                                              "one_task_flow_warm_history", "first_task"}),
])
def test_fresh_process_sections_measure_something(section, measure, names):
    with isolated_environment():
        measurements = measure()

    assert {m.name for m in measurements} == names
    for m in measurements:
        assert m.section == section
        json.dumps(asdict(m))
        if not m.name.endswith("overhead"):  # a ratio minus one: may be below zero
            assert m.value > 0


def test_a_raw_side_that_fails_leaves_legatos_number_and_says_why():
    from benchmarks import report, throughput
    from benchmarks.backends import Backend
    from legato.runners.threads import ThreadPoolTaskRunner

    class Flaky:
        method = "flaky.submit"

        def noop_map(self, n: int) -> list[int]:
            raise ConnectionError("scheduler-connection-lost")

    backend = Backend("threads", "2 threads", ThreadPoolTaskRunner(max_workers=2), [Flaky()])
    measurements = throughput._measure(backend, "noop_map", 200, repeat=2)

    [ours] = measurements
    assert ours.side == "legato" and ours.value > 0 and len(ours.runs) == 2
    assert "scheduler-connection-lost" in ours.extra["raw_failed"]["flaky.submit"]
    [row] = report.comparisons(measurements)
    assert row["raw"] is None and row["ratio"] is None and "failed" in row["raw_method"]
    assert chart._panels([row])[0][2] == {"threads": [("legato", ours.value)]}
