"""One picture of the latest results against their targets: bench/results/benchmarks.png.

    python bench/chart.py

Reads the JSON files the benchmarks wrote (whichever exist): ingest
throughput and p99 latency per store and request kind, the import of a day
of bank lines, the rebuild rate, and the end-to-end lag.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "benchmarks.png"
MISS, MET = "#c0392b", "#27ae60"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _bars(ax: Any, labels: list[str], values: list[float], target: float, title: str, unit: str,
          higher_is_better: bool, log: bool = False) -> None:
    ok = [(v >= target) if higher_is_better else (v <= target) for v in values]
    bars = ax.bar(labels, values, color=[MET if good else MISS for good in ok])
    ax.axhline(target, color="black", linestyle="--", linewidth=1)
    ax.annotate(f"target {target:,.0f} {unit}", (0.99, target), xycoords=("axes fraction", "data"), ha="right",
                va="bottom", fontsize=8)
    for bar, value in zip(bars, values):
        ax.annotate(f"{value:,.0f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                    fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit)
    ax.tick_params(axis="x", labelsize=8, rotation=20)


def _ingest(axes: list[Any], data: dict[str, Any]) -> None:
    rows = data["results"]
    labels = [f"{r['store']}\n{r['mode']}×{r['batch']}\n@{r['offered_per_s']:,.0f}/s" for r in rows]
    _bars(axes[0], labels, [r["assessments_per_s"] for r in rows], data["targets"]["assessments_per_s"],
          "HTTP ingest: assessments recorded per second", "assessments/s", True)
    _bars(axes[1], labels, [r["p99_ms"] for r in rows], data["targets"]["p99_ms"],
          "HTTP ingest: p99 latency (log scale)", "ms", False, log=True)


def _import_and_rebuild(ax: Any, imported: dict[str, Any] | None, rebuilt: dict[str, Any] | None) -> None:
    """Both as a share of their target: rebuild rate / target, target time / import time."""
    labels, values = [], []
    if imported:
        for store in dict.fromkeys(r["store"] for r in imported["results"]):
            steps = {r["step"]: r["seconds"] for r in imported["results"] if r["store"] == store}
            total = steps.get("import", 0) + steps.get("project", 0)
            labels.append(f"import {imported['params']['lines']:,} lines\n+ projections, {store}\n({total:,.0f} s)")
            values.append(100 * 60 / total)
    if rebuilt:
        for r in rebuilt["results"]:
            labels.append(f"rebuild {r['events']:,} events\n{r['store']} ({r['events_per_s']:,} events/s)")
            values.append(100 * r["events_per_s"] / rebuilt["targets"]["events_per_s"])
    _bars(ax, labels, values, 100, "Import (60 s) and rebuild (100,000 events/s): % of target", "% of target", True)


def _lag(ax: Any, data: dict[str, Any]) -> None:
    rows = data["results"]
    labels = [f"{r['path']} ({r['store']})\np50 / p99" for r in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["p50_ms"] for r in rows], width=0.4, label="p50", color="#7f8c8d")
    ax.bar([i + 0.2 for i in x], [r["p99_ms"] for r in rows], width=0.4, label="p99",
           color=[MET if r["p99_ms"] <= r["target_p99_ms"] else MISS for r in rows])
    for i, r in zip(x, rows):
        ax.hlines(r["target_p99_ms"], i - 0.45, i + 0.45, colors="black", linestyles="--", linewidth=1)
        ax.annotate(f"target p99 {r['target_p99_ms']:,} ms", (i, r["target_p99_ms"]), ha="center", va="bottom",
                    fontsize=8)
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title("Lag: write acknowledged → projection shows it", fontsize=10)
    ax.legend(fontsize=8)


def main() -> int:
    ingest, imported, rebuilt, lag = (_load(n) for n in ("ingest", "import_statement", "rebuild", "lag"))
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    flat = list(axes.flat)
    if ingest:
        _ingest(flat[:2], ingest)
    _import_and_rebuild(flat[2], imported, rebuilt)
    if lag:
        _lag(flat[3], lag)
    machine = next((d["machine"] for d in (ingest, rebuilt, lag) if d), {})
    fig.suptitle(f"Emergency aid benchmarks — {machine.get('cores')} cores, {machine.get('cpu')}, "
                 f"{machine.get('memory_gib')} GiB, Python {machine.get('python')}, {machine.get('date')} "
                 "(green: target met, red: missed)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
