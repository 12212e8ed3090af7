"""The report's PNG plots (matplotlib, Agg backend: no display needed). One function per plot, each writes a file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from formalpi.analysis.diversity import DiversitySummary, Subset  # noqa: E402
from formalpi.analysis.tables import GroupAnalysis  # noqa: E402

LEGEND_MAX = 12  # more series than this: no legend (it would cover the plot)


def _prefix(g: GroupAnalysis, many: bool) -> str:
    return f"{g.domain}/{g.model}: " if many else ""


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_gains(groups: Sequence[GroupAnalysis], path: Path) -> Path:
    """Horizontal bars: mean gain per condition (pp) with its 95% t-CI over seeds; dots for individual seeds."""
    many = len(groups) > 1
    rows = [(f"{_prefix(g, many)}{r.key}", r.summary) for g in groups if g.baseline for r in g.rows if not r.is_baseline]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.28 * max(1, len(rows))))
    for i, (name, s) in enumerate(rows):
        err = None if s.ci is None else [[s.mean - s.ci[0]], [s.ci[1] - s.mean]]
        ax.barh(i, s.mean, color="tab:green" if s.mean >= 0 else "tab:red", alpha=0.6)
        ax.errorbar(s.mean, i, xerr=err, fmt="none", ecolor="black", capsize=3)
        ax.plot(s.values, [i] * len(s.values), "k.", ms=4)
    ax.set_yticks(range(len(rows)), [n for n, _ in rows])
    ax.axvline(0, color="grey", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel("pass@1 gain over baseline (pp), 95% CI over seeds")
    ax.set_title("Gain per condition")
    return _save(fig, path)


def plot_inverted_u(groups: Sequence[GroupAnalysis], path: Path) -> Path:
    """Each (condition, seed) as a point: the baseline's pass@1 on that seed vs the condition's gain.
    A quadratic fit across all points shows whether gains peak at intermediate baseline accuracy."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    xs, ys = [], []
    for g in groups:
        for r in g.rows:
            if r.is_baseline or r.baseline_pass1 is None:
                continue
            xs.extend(r.baseline_pass1.values)
            ys.extend(r.summary.values)
    ax.scatter(xs, ys, s=14, alpha=0.6)
    if len(set(xs)) >= 3:
        coef = np.polyfit(xs, ys, 2)
        grid = np.linspace(min(xs), max(xs), 100)
        ax.plot(grid, np.polyval(coef, grid), "r-", label=f"quadratic fit (a={coef[0]:+.3g})")
        ax.legend()
    ax.axhline(0, color="grey", lw=1)
    ax.set_xlabel("baseline pass@1 (%) of the same seed")
    ax.set_ylabel("gain (pp)")
    ax.set_title("Baseline accuracy vs gain (inverted U?)")
    return _save(fig, path)


def plot_levels(groups: Sequence[GroupAnalysis], path: Path) -> Path:
    """One line per condition: Δpass@1 per MATH level with bootstrap-CI error bars."""
    many = len(groups) > 1
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = 0
    for g in groups:
        by_cond: dict[str, list] = {}
        for d in g.levels:
            by_cond.setdefault(d.condition, []).append(d)
        for cond, ds in by_cond.items():
            x = [int(d.bin.split()[-1]) for d in ds]
            y = [d.d_pass1.diff for d in ds]
            err = [[d.d_pass1.diff - d.d_pass1.ci[0] for d in ds], [d.d_pass1.ci[1] - d.d_pass1.diff for d in ds]]
            ax.errorbar(np.array(x) + 0.03 * (series % 7 - 3), y, yerr=err, marker="o", ms=3, capsize=2,
                        lw=1, label=f"{_prefix(g, many)}{cond}")
            series += 1
    ax.axhline(0, color="grey", lw=1)
    ax.set_xlabel("level")
    ax.set_ylabel("Δpass@1 (pp), 95% bootstrap CI")
    ax.set_title("Gain per level")
    if 0 < series <= LEGEND_MAX:
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_retries(groups: Sequence[GroupAnalysis], path: Path) -> Path:
    """Retries K (config retry.k) vs mean gain, one marker per condition row."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for g in groups:
        for r in g.rows:
            if r.is_baseline or g.baseline is None:
                continue
            s = r.summary
            err = None if s.ci is None else [[s.mean - s.ci[0]], [s.ci[1] - s.mean]]
            ax.errorbar(r.retries, s.mean, yerr=err, fmt="o", ms=4, capsize=2, alpha=0.7)
    ax.axhline(0, color="grey", lw=1)
    ax.set_xlabel("retries K per failed attempt")
    ax.set_ylabel("gain (pp), 95% CI over seeds")
    ax.set_title("Retries vs gain")
    return _save(fig, path)


def plot_diversity(summaries: Sequence[DiversitySummary], path: Path) -> Path:
    """Grouped bars: PD_exact / PD_lex / PD_sem per domain, all samples (solid) vs correct only (hatched)."""
    domains = sorted({s.domain.value for s in summaries})
    metrics = ("exact", "lex", "sem")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    width = 0.8 / (len(metrics) * 2)
    for di, dom in enumerate(domains):
        for si, subset in enumerate(Subset):
            s = next((x for x in summaries if x.domain.value == dom and x.subset is subset), None)
            for mi, metric in enumerate(metrics):
                m = getattr(s, metric) if s else None
                if m is None:
                    continue
                x = di + (mi * 2 + si) * width - 0.4 + width / 2
                ax.bar(x, m.mean, width, color=f"C{mi}", hatch="//" if si else None, alpha=0.8,
                       label=f"PD_{metric} ({subset.value})" if di == 0 else None)
                ax.errorbar(x, m.mean, yerr=[[m.mean - m.ci[0]], [m.ci[1] - m.mean]], fmt="none", ecolor="k",
                            capsize=2)
    ax.set_xticks(range(len(domains)), domains)
    ax.set_ylim(0, 1.3)  # headroom so the legend sits above the bars
    ax.set_ylabel("path diversity (mean over problems, 95% CI)")
    ax.set_title("Path diversity per domain")
    ax.legend(fontsize=8, ncol=2)
    return _save(fig, path)
