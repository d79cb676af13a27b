"""A PNG of throughput by runner: legato next to each raw side and peer, log scale.

One panel per workload (and size); in each, one group of bars per runner.
A peer's bar is labelled with its peer's name (and the smaller ``n`` it ran
at, if its time budget reduced it).
Drawn with matplotlib's Agg backend, so it needs no display.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from collections.abc import Iterable
from typing import Any

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")  # legato, raw, other raw sides
PEER_COLORS = {"prefect": "#d62728", "dask-delayed": "#8c564b", "joblib": "#e377c2"}


def available() -> bool:
    """Whether matplotlib is installed (without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


def draw(result: dict[str, Any], path: Path) -> Path | None:
    """Write the chart to ``path``; None when there is nothing to draw."""
    panels = _panels(result["comparisons"], result.get("peer_comparisons", ()))
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 4 * rows), squeeze=False)
    for ax, (title, unit, groups) in zip(axes.flat, panels):
        _panel(ax, title, unit, groups)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    machine = result["machine"]
    figure.suptitle(f"legato vs raw backends ({result['plan']['mode']} mode, {machine['cpu_count']} CPUs, "
                    f"{machine['timestamp']})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _panels(comparisons: list[dict[str, Any]], peer_comparisons: Iterable[dict[str, Any]] = (),
            ) -> list[tuple[str, str, dict[str, list[tuple[str, float]]]]]:
    """(title, unit, {runner: [(label, value), ...]}) per workload and size; peers' labels start with "peer:"."""
    panels: dict[tuple[str, int], tuple[str, dict[str, list[tuple[str, float]]]]] = {}
    for c in comparisons:
        unit, groups = panels.setdefault((c["workload"], c["n"]), (c["unit"], {}))
        bars = groups.setdefault(c["runner"], [("legato", c["legato"])])
        if c["raw"] is not None:  # None: that raw side failed; legato's bar stands alone
            bars.append((c["raw_method"], c["raw"]))
    for c in peer_comparisons:
        if (c["workload"], c["n"]) in panels and c["runner"] in panels[(c["workload"], c["n"])][1]:
            label = f"peer:{c['peer']}" + (f" (n={c['peer_n']:,})" if c["reduced"] else "")
            panels[(c["workload"], c["n"])][1][c["runner"]].append((label, c["peer_value"]))
    return [(f"{workload} (n={n:,})", unit, groups) for (workload, n), (unit, groups) in panels.items()]


def _panel(ax: Any, title: str, unit: str, groups: dict[str, list[tuple[str, float]]]) -> None:
    from matplotlib import ticker

    width = 0.8 / max(len(bars) for bars in groups.values())
    colors: dict[str, str] = {}
    for x, (runner, bars) in enumerate(groups.items()):
        raws = 0
        for i, (label, value) in enumerate(bars):
            if label.startswith("peer:"):
                name = label[len("peer:"):].split(" (")[0]
                color = PEER_COLORS.get(name, "#7f7f7f")
                new = name not in colors
                colors.setdefault(name, color)
                if " (" in label:  # a smaller n: say so on the bar
                    ax.annotate(label.split(" (")[1].rstrip(")"), (x + (i - (len(bars) - 1) / 2) * width, value),
                                ha="center", va="bottom", fontsize="x-small", rotation=90)
            else:
                name = "legato" if i == 0 else ("raw" if raws == 0 else f"raw: {label}")
                raws += i > 0
                new = name not in colors
                color = colors.setdefault(name, COLORS[len([c for c in colors if c not in PEER_COLORS]) % len(COLORS)])
            ax.bar(x + (i - (len(bars) - 1) / 2) * width, value, width, color=color, label=name if new else None)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:,g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_title(title)
    ax.set_ylabel(unit)
    ax.legend(fontsize="small")
