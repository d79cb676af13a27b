"""A PNG of throughput by runner: legato next to each raw side, log scale.

One panel per workload (and size); in each, one group of bars per runner.
Drawn with matplotlib's Agg backend, so it needs no display.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")  # legato, raw, other raw sides


def available() -> bool:
    """Whether matplotlib is installed (without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


def draw(result: dict[str, Any], path: Path) -> Path | None:
    """Write the chart to ``path``; None when there is nothing to draw."""
    panels = _panels(result["comparisons"])
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


def _panels(comparisons: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, list[tuple[str, float]]]]]:
    """(title, unit, {runner: [(label, value), ...]}) per workload and size."""
    panels: dict[tuple[str, int], tuple[str, dict[str, list[tuple[str, float]]]]] = {}
    for c in comparisons:
        unit, groups = panels.setdefault((c["workload"], c["n"]), (c["unit"], {}))
        bars = groups.setdefault(c["runner"], [("legato", c["legato"])])
        if c["raw"] is not None:  # None: that raw side failed; legato's bar stands alone
            bars.append((c["raw_method"], c["raw"]))
    return [(f"{workload} (n={n:,})", unit, groups) for (workload, n), (unit, groups) in panels.items()]


def _panel(ax: Any, title: str, unit: str, groups: dict[str, list[tuple[str, float]]]) -> None:
    from matplotlib import ticker

    width = 0.8 / max(len(bars) for bars in groups.values())
    colors: dict[str, str] = {}
    for x, (runner, bars) in enumerate(groups.items()):
        for i, (label, value) in enumerate(bars):
            name = "legato" if i == 0 else ("raw" if i == 1 else f"raw: {label}")
            new = name not in colors
            color = colors.setdefault(name, COLORS[len(colors) % len(COLORS)])
            ax.bar(x + (i - (len(bars) - 1) / 2) * width, value, width, color=color, label=name if new else None)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:,g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_title(title)
    ax.set_ylabel(unit)
    ax.legend(fontsize="small")
