"""The benchmark suite runs and writes well-formed results (no timing is checked)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from dataclasses import asdict

import pytest

from benchmarks import chart, history, memory, peers, report, startup
from benchmarks.__main__ import main, parse_args
from benchmarks.machine import isolated_environment
from benchmarks.peers import budget, joblib_side
from benchmarks.settings import QUICK


def test_quick_threads_throughput_writes_json_and_chart(tmp_path):
    result = main(["--quick", "--runners", "threads", "--sections", "throughput", "--out", str(tmp_path)])

    [path] = tmp_path.glob("benchmarks-quick-*.json")
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert set(result) == {"machine", "plan", "workers", "runners", "failed_sections", "measurements", "comparisons",
                           "targets", "peers", "peer_comparisons"}
    assert result["peers"] == {} and result["peer_comparisons"] == []  # peers run only when asked
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


# -- peers (benchmarks.peers): dask is installed wherever legato's Dask runner is; prefect and joblib may not be

TINY = dataclasses.replace(QUICK, noop_sizes=(300,), chain_links=30, fan_size=100, sleep_tasks=8, one_task_flows=3,
                           peer_budget=1.0)


@pytest.fixture(scope="module")
def peer_run():
    """One tiny threads run with every peer asked for, shared by the tests that read it."""
    from benchmarks import report
    from benchmarks.__main__ import run

    with isolated_environment():
        outcome = run(TINY, ["threads"], ["throughput"], ["noop_map", "chain", "one_task"], ["dask-delayed", "joblib"])
    return report.build({"timestamp": "t", "cpu_count": 2}, TINY, {}, outcome.runners, outcome.failed_sections,
                        outcome.measurements, outcome.peers)


def test_dask_delayed_runs_the_workloads_next_to_legato_and_raw(peer_run):
    rows = [c for c in peer_run["peer_comparisons"] if c["peer"] == "dask-delayed"]

    assert {c["workload"] for c in rows} == {"noop_map", "chain", "one_task"}
    for c in rows:
        assert c["runner"] == "threads" and c["peer_value"] > 0 and 1 <= c["peer_n"] <= c["n"]
        assert c["peer_vs_raw"] == pytest.approx(c["peer_value"] / c["raw"])
        assert c["legato_vs_peer"] == pytest.approx(c["legato"] / c["peer_value"])
        assert "dask.delayed" in c["peer_method"] and c["reduced"] == (c["peer_n"] < c["n"])
    assert peer_run["peers"]["dask-delayed"]["sides"]["threads"]["error"] is None
    json.dumps(peer_run)
    assert [row for row in report.peer_table(peer_run)[1] if row[3] == "dask-delayed"]


def test_joblib_runs_its_maps_or_is_skipped_with_the_install_line(peer_run):
    entry = peer_run["peers"]["joblib"]
    if importlib.util.find_spec("joblib") is None:
        assert entry == {"available": False, "error": entry["error"], "sides": {}}
        assert "pip install" in entry["error"] and "joblib" in entry["error"]
        [skipped] = [row for row in report.peer_table(peer_run)[1] if row[3] == "joblib"]
        assert skipped[1] == "skipped"
        return
    side = entry["sides"]["threads"]
    assert side["not_applicable"] == {"chain": joblib_side.NOT_APPLICABLE["chain"]}
    assert {c["workload"] for c in peer_run["peer_comparisons"] if c["peer"] == "joblib"} == {"noop_map", "one_task"}


def test_the_chart_draws_peers_beside_legato_and_raw(peer_run):
    panels = {title: groups for title, _, groups in chart._panels(peer_run["comparisons"],
                                                                   peer_run["peer_comparisons"])}
    labels = [label for label, _ in panels["chain (n=30)"]["threads"]]
    assert labels[0] == "legato" and any(label.startswith("peer:dask-delayed") for label in labels)


def test_a_slow_peer_runs_a_smaller_n_within_its_budget_and_answers_the_larger_n_too(monkeypatch):
    calls = []

    def fake_timed(call, timeout=None):  # 10 ms per task, without waiting for them
        calls.append(call.args[0])
        return call.args[0] * 0.01, call()

    monkeypatch.setattr(budget, "timed", fake_timed)
    result = budget.run_jobs(lambda workload: (lambda n: list(range(n))) if workload == "noop_map" else None,
                             [("noop_map", 10_000), ("noop_map", 100_000), ("chain", 100)], peer="slow",
                             runner="threads", method="slow.map", workers="4 threads", budget=9.0,
                             repeat_for=lambda n: 3, not_applicable={"chain": "no chains here"})

    [m] = result.measurements
    assert m.n == 900 and m.extra["requested_n"] == [10_000, 100_000] and m.extra["reduced"]
    assert m.value == pytest.approx(100.0) and m.side == "peer" and m.extra["peer"] == "slow"
    assert calls == [1, 20, 80, 320, 900]  # warm-up, probes growing until one takes budget/10, then one run
    assert result.not_applicable == {"chain": "no chains here"} and result.errors == {}
    rows = report.peer_comparisons([m])
    assert [(r["n"], r["peer_n"], r["reduced"], r["legato"]) for r in rows] == [(10_000, 900, True, None),
                                                                               (100_000, 900, True, None)]


def test_a_peers_fixed_cost_per_call_is_told_apart_from_its_cost_per_task(monkeypatch):
    calls = []

    def fake_timed(call, timeout=None):  # 1 s per call (a flow's start) and 10 ms per task
        calls.append(call.args[0])
        return 1 + call.args[0] * 0.01, call()

    monkeypatch.setattr(budget, "timed", fake_timed)
    fitted, estimate = budget.fit(lambda n: list(range(n)), "noop_map", 10_000, budget=9.0)

    assert calls == [1, 20, 80]  # the first probe took budget/10 already; a second one tells the costs apart
    assert fitted == 800 and estimate == pytest.approx(9.0)


def test_a_peer_slower_than_its_budget_runs_once_at_the_first_probes_size(monkeypatch):
    calls = []

    def fake_timed(call, timeout=None):  # 5 s per flow, with a 2 s budget
        calls.append(call.args[0])
        return 5.0 * call.args[0], call()

    monkeypatch.setattr(budget, "timed", fake_timed)
    [m] = budget.run_jobs(lambda workload: lambda n: list(range(n)), [("one_task", 50)], peer="glacial",
                          runner="processes", method="glacial", workers=None, budget=2.0,
                          repeat_for=lambda n: 3).measurements

    assert calls == [1, 1, 1] and m.n == 1 and m.extra["reduced"]  # warm-up, one probe, one run


def test_a_fast_peer_runs_the_full_n_and_repeats_within_its_budget(monkeypatch):
    monkeypatch.setattr(budget, "timed", lambda call, timeout=None: (call.args[0] * 1e-5, call()))

    [m] = budget.run_jobs(lambda workload: lambda n: list(range(n)), [("noop_map", 10_000)], peer="fast",
                          runner="threads", method="fast.map", workers=None, budget=9.0,
                          repeat_for=lambda n: 3).measurements

    assert m.n == 10_000 and not m.extra["reduced"] and len(m.runs) == 3


def test_a_failing_peer_workload_is_recorded_and_the_others_still_run():
    def call_for(workload):
        if workload == "chain":
            def broken(n):
                raise RuntimeError("peer-broke")
            return broken
        return lambda n: list(range(n))

    result = budget.run_jobs(call_for, [("chain", 10), ("noop_map", 40)], peer="flaky", runner="threads",
                             method="flaky", workers=None, budget=0.5, repeat_for=lambda n: 1)

    assert "peer-broke" in result.errors["chain[10]"]
    assert [m.name for m in result.measurements] == ["noop_map"]


def test_a_peer_that_is_not_installed_is_skipped_with_one_line(monkeypatch, capsys):
    monkeypatch.setitem(peers.REQUIRES, "joblib", ("no_such_module_for_legato_benchmarks",))

    entries = peers.status(["joblib"])

    assert entries["joblib"]["available"] is False
    assert "no_such_module_for_legato_benchmarks" in entries["joblib"]["error"]
    assert capsys.readouterr().err.count("\n") == 1


def test_peers_are_a_comma_separated_choice():
    assert parse_args(["--peers", "prefect,joblib"]).peers == ["prefect", "joblib"]
    assert parse_args([]).peers == []
    with pytest.raises(SystemExit):
        parse_args(["--peers", "airflow"])


@pytest.mark.skipif(importlib.util.find_spec("prefect") is None, reason="prefect is not installed")
def test_prefect_runs_in_a_child_process_on_the_thread_pool(tmp_path):  # pragma: no cover (CI has no prefect)
    from benchmarks.peers import prefect_side

    with isolated_environment() as home, prefect_side.environment(home):
        method, result = prefect_side.run("threads", 4, "4 threads", None, [("noop_map", 20)], budget=1.0, repeat=1)

    assert "ThreadPoolTaskRunner(max_workers=4)" in method and result.errors == {}
    [m] = result.measurements
    assert m.extra["peer"] == "prefect" and m.value > 0


def test_peers_of_an_unavailable_runner_say_they_did_not_run():
    entries = {"joblib": {"available": True, "error": None, "sides": {}},
               "dask-delayed": {"available": True, "error": None, "sides": {}}}

    peers.runner_unavailable("processes", entries, "ImportError: no forkserver")

    assert "no forkserver" in entries["joblib"]["sides"]["processes"]["error"]
    assert entries["dask-delayed"]["sides"] == {}  # it has no side on processes


def test_prefects_child_process_relays_progress_and_returns_its_last_line(capfd):
    from benchmarks.peers import prefect_side

    code = "import sys; print('progress: working'); print('noise', file=sys.stderr); print('{\"done\": 1}')"
    assert prefect_side._run_child(["-c", code], timeout=60) == {"done": 1}
    assert "working" in capfd.readouterr().err


def test_prefects_child_process_failing_says_why():
    from benchmarks.peers import prefect_side

    code = "import sys; print('server-would-not-start', file=sys.stderr); sys.exit(3)"
    with pytest.raises(RuntimeError, match="exited with 3.*server-would-not-start"):
        prefect_side._run_child(["-c", code], timeout=60)


def _result_with(legato: float, raw: float, runs: list[float]) -> dict:
    def measurement(side: str, value: float) -> dict:
        return {"section": "throughput", "name": "chain", "runner": "ray", "n": 1000, "side": side, "value": value,
                "unit": "links/s", "method": side, "runs": [value, *runs] if side == "legato" else [value]}

    return {"measurements": [measurement("legato", legato), measurement("raw", raw)]}


def test_compare_calls_slower_only_what_lost_beyond_the_noise_on_its_own_and_against_raw(capsys):
    from benchmarks import compare

    old = _result_with(200.0, 300.0, [190.0])
    (row,) = compare.rows(old, _result_with(100.0, 300.0, [95.0]))
    assert row["slower"] and round(row["change"], 2) == -0.5 and round(row["ratio_change"], 2) == -0.5
    (row,) = compare.rows(old, _result_with(100.0, 150.0, [95.0]))  # the machine was slower, raw as much
    assert not row["slower"] and round(row["ratio_change"], 2) == 0.0
    (row,) = compare.rows(old, _result_with(170.0, 300.0, [100.0]))  # -15%, but its runs spread by 70%
    assert not row["slower"] and round(row["noise"], 2) == 0.7
    assert compare.spread([2.0]) == 0.0 and compare.spread([1.0, 1.5]) == 0.5
