"""The report's plots (matplotlib, Agg backend: no display needed). One function per plot; each writes a PNG for
the markdown (300 dpi) and the same figure as SVG and PDF beside it (vector, for papers). Every plot has labelled
axes and a legend naming what its marks are."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from formalpi.analysis.diversity import DiversitySummary  # noqa: E402
from formalpi.analysis.tables import GroupAnalysis  # noqa: E402

LEGEND_MAX = 12  # more series than this: the legend goes outside the axes, in columns
DPI = 300
VECTOR_FORMATS = ("svg", "pdf")


def _prefix(g: GroupAnalysis, many: bool) -> str:
    return f"{g.domain}/{g.model}: " if many else ""


def _save(fig: plt.Figure, path: Path) -> Path:
    """PNG at `path` plus SVG and PDF beside it; the bounding box is fitted to every artist (labels, legends)."""
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    for fmt in VECTOR_FORMATS:
        fig.savefig(path.with_suffix(f".{fmt}"), bbox_inches="tight")
    plt.close(fig)
    return path


def _legend(ax: plt.Axes, n_series: int) -> None:
    if n_series == 0:
        return
    if n_series <= LEGEND_MAX:
        ax.legend(fontsize=8)
    else:  # outside the axes, so it never covers the data
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 + n_series // 25)


def plot_gains(groups: Sequence[GroupAnalysis], path: Path) -> Path:
    """Horizontal bars: mean gain per condition (pp) with its 95% t-CI over seeds; dots for individual seeds."""
    many = len(groups) > 1
    rows = [
        (f"{_prefix(g, many)}{r.key}", r.summary) for g in groups if g.baseline for r in g.rows if not r.is_baseline
    ]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.28 * max(1, len(rows))))
    for i, (name, s) in enumerate(rows):
        err = None if s.ci is None else [[s.mean - s.ci[0]], [s.ci[1] - s.mean]]
        ax.barh(
            i, s.mean, color="tab:green" if s.mean >= 0 else "tab:red", alpha=0.6, label="mean gain" if i == 0 else None
        )
        ax.errorbar(
            s.mean,
            i,
            xerr=err,
            fmt="none",
            ecolor="black",
            capsize=3,
            label="95% CI (t over seeds)" if i == 0 and err is not None else None,
        )
        ax.plot(s.values, [i] * len(s.values), "k.", ms=4, label="one seed" if i == 0 else None)
    ax.set_yticks(range(len(rows)), [n for n, _ in rows])
    ax.axvline(0, color="grey", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel("pass@1 gain over baseline (pp)")
    ax.set_ylabel("condition")
    ax.set_title("Gain per condition")
    _legend(ax, 3 if rows else 0)
    return _save(fig, path)


def plot_inverted_u(groups: Sequence[GroupAnalysis], path: Path) -> Path:
    """One line per condition over the bins of the inverted U (levels or base solve-rate bands): x = the
    baseline's pass@1 in the bin, y = the condition's gain there, both with 95% bootstrap CIs."""
    many = len(groups) > 1
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = 0
    sources = sorted({g.u_source for g in groups if g.u_points})
    for g in groups:
        by_cond: dict[str, list] = {}
        for p in g.u_points:
            by_cond.setdefault(p.condition, []).append(p)
        for cond, pts in by_cond.items():
            pts = sorted(pts, key=lambda p: p.baseline.diff)
            x = np.array([p.baseline.diff for p in pts])
            y = np.array([p.gain.diff for p in pts])
            xerr = [x - [p.baseline.ci[0] for p in pts], [p.baseline.ci[1] for p in pts] - x]
            yerr = [y - [p.gain.ci[0] for p in pts], [p.gain.ci[1] for p in pts] - y]
            ax.errorbar(
                x,
                y,
                xerr=xerr,
                yerr=yerr,
                marker="o",
                ms=3,
                capsize=2,
                lw=1,
                elinewidth=0.7,
                label=f"{_prefix(g, many)}{cond}",
            )
            series += 1
    ax.axhline(0, color="grey", lw=1)
    ax.set_xlabel("baseline pass@1 in the bin (%)" + (f"; bins: {', '.join(sources)}" if sources else ""))
    ax.set_ylabel("gain over that baseline (pp), 95% paired-bootstrap CI")
    ax.set_title("Gain against baseline accuracy (inverted U?)")
    if series == 0:
        ax.text(0.5, 0.5, "no per-level or per-band data", ha="center", va="center", transform=ax.transAxes)
    _legend(ax, series)
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
            ax.errorbar(
                np.array(x) + 0.03 * (series % 7 - 3),
                y,
                yerr=err,
                marker="o",
                ms=3,
                capsize=2,
                lw=1,
                label=f"{_prefix(g, many)}{cond}",
            )
            series += 1
    ax.axhline(0, color="grey", lw=1)
    ax.set_xlabel("level")
    ax.set_ylabel("Δpass@1 over baseline (pp), 95% paired-bootstrap CI")
    ax.set_title("Gain per level")
    _legend(ax, series)
    return _save(fig, path)


def plot_retries(groups: Sequence[GroupAnalysis], path: Path) -> Path:
    """Retries K (config retry.k) vs mean gain, one marker per condition row."""
    many = len(groups) > 1
    fig, ax = plt.subplots(figsize=(6, 4.5))
    points = [(g, r) for g in groups if g.baseline is not None for r in g.rows if not r.is_baseline]
    width = min(0.6, 0.08 * len(points))  # rows sharing a K spread over this width, centred on K
    for series, (g, r) in enumerate(points):
        s = r.summary
        err = None if s.ci is None else [[s.mean - s.ci[0]], [s.ci[1] - s.mean]]
        offset = 0.0 if len(points) == 1 else width * (series / (len(points) - 1) - 0.5)
        ax.errorbar(
            r.retries + offset,
            s.mean,
            yerr=err,
            fmt="o",
            ms=4,
            capsize=2,
            alpha=0.8,
            label=f"{_prefix(g, many)}{r.key}",
        )
    series = len(points)
    ks = sorted({r.retries for g in groups if g.baseline for r in g.rows if not r.is_baseline})
    if ks:  # K is an integer: ticks at the Ks there are (the offsets above only keep markers apart)
        ax.set_xticks(ks)
        ax.set_xlim(ks[0] - 0.5, ks[-1] + 0.5)
    ax.axhline(0, color="grey", lw=1)
    ax.set_xlabel("retries K per failed attempt")
    ax.set_ylabel("pass@1 gain over baseline (pp), 95% CI (t over seeds)")
    ax.set_title("Retries vs gain")
    _legend(ax, series)
    return _save(fig, path)


def plot_diversity(summaries: Sequence[DiversitySummary], path: Path) -> Path:
    """Per group, one bar per condition: PD_path of correct solutions (solid) and the surface control PD_lex
    (hatched), with 95% bootstrap CIs over problems."""
    # (summary, PD_path, PD_lex): both come from the same problems, so both are measured or neither is
    rows = [(s, s.path, s.lex) for s in summaries if s.path is not None and s.lex is not None]
    many = len({s.group for s, _, _ in rows}) > 1
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows) + 2), 4.5))
    width = 0.38
    for i, (s, pd_path, pd_lex) in enumerate(rows):
        for j, (m, name, hatch) in enumerate(((pd_path, "PD_path", None), (pd_lex, "PD_lex (surface)", "//"))):
            x = i + (j - 0.5) * width
            ax.bar(x, m.mean, width, color=f"C{j}", hatch=hatch, alpha=0.8, label=name if i == 0 else None)
            ax.errorbar(
                x,
                m.mean,
                yerr=[[m.mean - m.ci[0]], [m.ci[1] - m.mean]],
                fmt="none",
                ecolor="k",
                capsize=2,
                label="95% CI over problems" if i == 0 and j == 0 else None,
            )
    ax.set_xticks(
        range(len(rows)),
        [(f"{s.group}\n" if many else "") + s.condition for s, _, _ in rows],
        rotation=30,
        ha="right",
        fontsize=8,
    )
    top = max([m.ci[1] for _, pd_path, pd_lex in rows for m in (pd_path, pd_lex)], default=1.0)
    ax.set_ylim(0, min(1.05, max(0.05, 1.25 * top)))  # small values stay visible; the label gives the scale
    ax.set_xlabel("condition")
    ax.set_ylabel("path diversity (0 = one path, 1 = no shared step)")
    ax.set_title("Path diversity per condition")
    if not rows:
        ax.text(0.5, 0.5, "no problem with >= 2 correct solutions", ha="center", va="center", transform=ax.transAxes)
    _legend(ax, 3 if rows else 0)
    return _save(fig, path)
