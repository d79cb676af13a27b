"""The results: legato/raw comparisons, tables on the terminal, the JSON file.

The JSON holds everything needed to redo the tables and the chart: the
machine, the plan, the workers, which runners were unavailable and why,
which sections failed,
every measurement with all its runs, and the derived comparisons and
target rows (a target is information, never a pass/fail of the suite).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.measure import Measurement
from benchmarks.settings import TARGETS, throughput_target


def comparisons(measurements: list[Measurement]) -> list[dict[str, Any]]:
    """legato/raw for every throughput workload and raw method."""
    legato = [m for m in measurements if m.section == "throughput" and m.side == "legato"]
    raw = [m for m in measurements if m.section == "throughput" and m.side == "raw"]
    rows = []
    for ours in legato:
        for theirs in (r for r in raw if (r.runner, r.name, r.n) == (ours.runner, ours.name, ours.n)):
            ratio = ours.value / theirs.value if theirs.value else None
            target = throughput_target(ours.runner or "", ours.name, theirs.method, ours.n)
            rows.append({"runner": ours.runner, "workload": ours.name, "n": ours.n, "unit": ours.unit,
                         "legato": ours.value, "raw": theirs.value, "raw_method": theirs.method, "ratio": ratio,
                         "target": target.text if target else None, "met": target.met(ratio) if target else None})
        for method, why in ours.extra.get("raw_failed", {}).items():  # legato's number stands, unmatched
            rows.append({"runner": ours.runner, "workload": ours.name, "n": ours.n, "unit": ours.unit,
                         "legato": ours.value, "raw": None, "raw_method": f"{method}: failed: {why}", "ratio": None,
                         "target": None, "met": None})
    return rows


def peer_comparisons(measurements: list[Measurement]) -> list[dict[str, Any]]:
    """Every peer measurement against raw and legato on the same runner, workload and requested ``n``.

    A peer measured at a smaller ``n`` (its time budget) is compared with
    the rates at the ``n`` asked for (``reduced`` says so); raw is the
    runner's first raw side (per-task submit).
    """
    throughput = [m for m in measurements if m.section == "throughput"]

    def first(side: str, runner: str | None, name: str, n: int) -> Measurement | None:
        return next((m for m in throughput if m.side == side and (m.runner, m.name, m.n) == (runner, name, n)), None)

    rows = []
    for peer in (m for m in throughput if m.side == "peer"):
        for n in peer.extra.get("requested_n") or [peer.n]:
            ours, theirs = first("legato", peer.runner, peer.name, n), first("raw", peer.runner, peer.name, n)
            rows.append({"runner": peer.runner, "workload": peer.name, "n": n, "unit": peer.unit,
                         "peer": peer.extra.get("peer"), "peer_method": peer.method, "peer_n": peer.n,
                         "reduced": peer.n != n, "peer_value": peer.value,
                         "legato": ours.value if ours else None, "raw": theirs.value if theirs else None,
                         "raw_method": theirs.method if theirs else None,
                         "peer_vs_raw": _ratio(peer.value, theirs.value if theirs else None),
                         "legato_vs_peer": _ratio(ours.value if ours else None, peer.value)})
    return rows


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def target_rows(measurements: list[Measurement]) -> list[dict[str, Any]]:
    """Every memory, startup and history number, with its target if it has one."""
    rows = []
    for m in measurements:
        if m.section == "throughput":
            continue
        target = TARGETS.get(f"{m.section}.{m.name}")
        rows.append({"measure": f"{m.section}.{m.name}", "value": m.value, "unit": m.unit, "method": m.method,
                     "target": target.text if target else None, "met": target.met(m.value) if target else None})
    return rows


def build(info: dict[str, Any], plan: Any, workers: dict[str, Any], runners: dict[str, Any],
          failed_sections: dict[str, str], measurements: list[Measurement],
          peers: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document; ``peers`` is each requested peer's status (installed, per-runner errors)."""
    return {"machine": info, "plan": asdict(plan), "workers": workers, "runners": runners,
            "failed_sections": failed_sections, "measurements": [asdict(m) for m in measurements],
            "comparisons": comparisons(measurements), "targets": target_rows(measurements),
            "peers": peers or {}, "peer_comparisons": peer_comparisons(measurements)}


def write_json(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = result["machine"]["timestamp"].replace(":", "").replace("-", "")[:15]
    path = out / f"benchmarks-{result['plan']['mode']}-{stamp}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


# -- tables

def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1e3:,.1f} ms" if value < 10 else f"{value:,.1f} s"
    if unit == "bytes":
        return f"{value / 2**20:,.0f} MiB"
    if unit == "ratio":
        return f"{value:+.1%}"
    if unit == "concurrency":
        return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"
    if unit.endswith("/s"):
        return f"{value:,.0f}/s" if value >= 100 else f"{value:.3g}/s"  # a slow peer's 0.7/s is not "1/s"
    return f"{value:,.0f} {unit}"


def _mark(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]


def throughput_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["runner", "workload", "n", "legato", "raw", "legato/raw", "target", "met", "raw side"]
    rows = []
    for c in result["comparisons"]:
        rows.append([c["runner"], c["workload"], f"{c['n']:,}", fmt(c["legato"], c["unit"]), fmt(c["raw"], c["unit"]),
                     "-" if c["ratio"] is None else f"{c['ratio']:.3g}x", c["target"] or "", _mark(c["met"]),
                     c["raw_method"]])
    for name, info in result["runners"].items():
        if not info["available"]:
            rows.append([name, "unavailable", "", "", "", "", "", "", info["error"][:60]])
        for job, error in info.get("errors", {}).items():
            rows.append([name, job, "", "failed", "", "", "", "", error[:60]])
    return header, rows


def peer_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["runner", "workload", "n", "peer", "peer n", "peer rate", "legato", "raw", "peer/raw", "legato/peer",
              "peer side"]
    rows = []
    for c in result.get("peer_comparisons", []):
        rows.append([c["runner"], c["workload"], f"{c['n']:,}", c["peer"],
                     f"{c['peer_n']:,}*" if c["reduced"] else f"{c['peer_n']:,}", fmt(c["peer_value"], c["unit"]),
                     fmt(c["legato"], c["unit"]), fmt(c["raw"], c["unit"]), _times(c["peer_vs_raw"]),
                     _times(c["legato_vs_peer"]), c["peer_method"]])
    for peer, info in result.get("peers", {}).items():
        if not info["available"]:
            rows.append(["", "skipped", "", peer, "", "", "", "", "", "", info["error"][:80]])
        for runner, side in info["sides"].items():
            if side["error"]:
                rows.append([runner, "failed", "", peer, "", "", "", "", "", "", side["error"][:80]])
            for job, error in side["errors"].items():
                rows.append([runner, job, "", peer, "", "failed", "", "", "", "", error[:80]])
            for workload, why in side["not_applicable"].items():
                rows.append([runner, workload, "", peer, "", "-", "", "", "", "", why[:80]])
    return header, rows


def _times(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:,.0f}x" if ratio >= 1000 else f"{ratio:.3g}x"


def other_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["measure", "value", "target", "met", "how"]
    rows = [[t["measure"], fmt(t["value"], t["unit"]), t["target"] or "", _mark(t["met"]), t["method"]]
            for t in result["targets"]]
    rows += [[section, "failed", "", "", error[:80]] for section, error in result["failed_sections"].items()]
    return header, rows


def print_tables(result: dict[str, Any]) -> None:
    info = result["machine"]
    load = info.get("load_average")
    print(f"legato benchmarks, {result['plan']['mode']} mode, {info['timestamp']}: {info['cpu_count']} CPUs, "
          f"Python {info['python']}" + (f", load average {load[0]:.1f} at start" if load else ""))
    print("workers: " + "; ".join(f"{name}: {r['workers']}" for name, r in result["runners"].items() if r["workers"]))
    for title, (header, rows) in (("Throughput (best run; legato/raw > 1 means legato is faster)",
                                   throughput_table(result)),
                                  ("Peers (same workloads and workers; * = a smaller n that fits the time "
                                   "budget, compared with the rates at n)", peer_table(result)),
                                  ("Memory, start-up, history", other_table(result))):
        if rows:
            _print_table(title, header, rows)


def _print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        _print_plain(title, header, rows)
        return
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(header):
        table.add_column(column, justify="left" if i < 2 or column in ("target", "raw side", "how", "measure",
                                                                        "peer", "peer side")
                         else "right", overflow="fold")
    for row in rows:
        table.add_row(*row, style="red" if "NO" in row or "failed" in row or "unavailable" in row else None)
    Console(width=max(160, len(header) * 14)).print(table)


def _print_plain(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    print(f"\n{title}")
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
