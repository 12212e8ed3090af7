"""Where gains come from: problems binned by the BASE model's solve rate and by MATH level.

The base solve rate of a problem is the share of its n >= 16 base samples that were correct (base_eval.jsonl; else
cross-fitted on the baseline run's eval samples: rates from the even-numbered samples, gains measured against the
odd-numbered ones, so the bins do not regress to the mean; samples of every seed are pooled — the base model is one
model).
Bins: unsolved (rate <= band.low), saturated (rate >= band.high), frontier (in between). Per bin: the count,
Δpass@1 and Δpass@k (unbiased estimator) of a condition over the baseline, with paired bootstrap CIs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from formalpi.analysis.runs_index import RunInfo
from formalpi.analysis.stats import AnalysisError, BootstrapResult, CorrectnessMatrix, align, paired_bootstrap
from formalpi.records import EvalRecord

MIN_BASE_SAMPLES = 16


class Bin(str, Enum):
    UNSOLVED = "unsolved"
    FRONTIER = "frontier"
    SATURATED = "saturated"


@dataclass(frozen=True)
class FrontierBand:
    """unsolved: rate <= low; saturated: rate >= high; frontier: low < rate < high."""

    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.low < self.high <= 1.0):
            raise AnalysisError(
                f"frontier band: need 0 <= low < high <= 1 (got low={self.low}, high={self.high}); "
                f"e.g. --band-low 0.1 --band-high 0.9"
            )

    def bin(self, rate: float) -> Bin:
        if rate <= self.low:
            return Bin.UNSOLVED
        if rate >= self.high:
            return Bin.SATURATED
        return Bin.FRONTIER


def base_solve_rates(records: Sequence[EvalRecord], min_n: int = MIN_BASE_SAMPLES) -> dict[str, float]:
    """Per problem: correct / total over all its base samples (pooled over records); needs >= min_n samples."""
    correct: dict[str, int] = {}
    total: dict[str, int] = {}
    for r in records:
        correct[r.problem_id] = correct.get(r.problem_id, 0) + sum(r.correct)
        total[r.problem_id] = total.get(r.problem_id, 0) + len(r.correct)
    rates = {p: correct[p] / total[p] for p in total if total[p] >= min_n}
    if total and not rates:
        raise AnalysisError(
            f"base solve rates need >= {min_n} base samples per problem (the most any problem has "
            f"is {max(total.values())}); draw base samples with eval.n >= {min_n}"
        )
    return rates


def half_samples(records: Sequence[EvalRecord], part: int) -> list[EvalRecord]:
    """Each record restricted to its even (part 0) or odd (part 1) samples, in order."""
    return [
        r.model_copy(
            update={
                "correct": r.correct[part::2],
                "n": len(r.correct[part::2]),
                "scores": r.scores[part::2],
                "completions": r.completions[part::2],
            }
        )
        for r in records
    ]


@dataclass(frozen=True)
class BaseRates:
    """Base solve rates for binning problems, and the baseline eval records gains must be measured against.

    When the rates come from the baseline run's own eval samples, binning and measuring on the same samples would
    make the bins regress to the mean (a problem binned "unsolved" has baseline pass@1 0 by construction, so any
    condition gains there, and loses on "saturated"). So the samples are split: rates from each record's
    even-numbered samples, gains against its odd-numbered ones (cross-fitting)."""

    rates: dict[str, float]
    baseline_by_seed: dict[int, list[EvalRecord]] | None  # None: measure against the full baseline matrix
    source: str


def group_base_rates(runs: Sequence[RunInfo], min_n: int = MIN_BASE_SAMPLES) -> BaseRates | None:
    """Base rates for one comparable group: from base_eval.jsonl (base samples drawn apart from the eval) when any
    run has it; else cross-fitted on the baseline runs' eval samples (>= min_n even-numbered samples per problem,
    pooled over seeds). None when neither is available; AnalysisError when there are too few samples."""
    base = [r for run in runs for r in run.base_eval_records()]
    if base:
        return BaseRates(base_solve_rates(base, min_n), None, "independent base samples (base_eval)")
    baseline = {run.seed: run.eval_records() for run in runs if run.is_baseline}
    if not any(baseline.values()):
        return None
    return cross_fit_rates(baseline, min_n)


def cross_fit_rates(baseline_by_seed: Mapping[int, Sequence[EvalRecord]], min_n: int = MIN_BASE_SAMPLES) -> BaseRates:
    """Rates from the even-numbered baseline samples; the odd-numbered ones are what gains are measured against."""
    even = [r for recs in baseline_by_seed.values() for r in half_samples(recs, 0)]
    odd = {seed: half_samples(recs, 1) for seed, recs in baseline_by_seed.items()}
    if any(not r.correct for recs in odd.values() for r in recs):
        raise AnalysisError(
            "base solve rates from the baseline's own samples need >= 2 samples per problem "
            "(half bin the problems, half measure the baseline); evaluate with eval.n >= 2"
        )
    try:
        rates = base_solve_rates(even, min_n)
    except AnalysisError:
        most = max(sum(len(r.correct) for r in even if r.problem_id == pid) for pid in {r.problem_id for r in even})
        raise AnalysisError(
            f"base solve rates need >= {min_n} samples per problem that the gains are not measured on: with no "
            f"base_eval.jsonl, half of the baseline's eval samples bin the problems (here {most} per problem over "
            f"all seeds); evaluate the baseline with eval.n >= {2 * min_n} over the seeds together, or draw "
            f"base samples (base_eval)"
        ) from None
    return BaseRates(rates, odd, "the baseline's even-numbered eval samples (gains against its odd-numbered ones)")


@dataclass(frozen=True)
class BinDelta:
    """One bin's gain of `condition` over the baseline (pp)."""

    condition: str
    bin: str  # "unsolved" / "frontier" / "saturated" / "level 3"
    count: int
    baseline_pass1: float  # %, mean over seeds and the bin's problems
    d_pass1: BootstrapResult
    k: int | None
    d_passk: BootstrapResult | None


def _delta(
    cond: CorrectnessMatrix,
    base: CorrectnessMatrix,
    cols: np.ndarray,
    label: str,
    k: int | None,
    n_boot: int,
    seed: int,
) -> BinDelta:
    c_rate, b_rate = cond.rate[:, cols], base.rate[:, cols]
    d1 = paired_bootstrap(c_rate, b_rate, n_boot=n_boot, seed=seed)
    dk = None
    if k is not None and k > 1:
        dk = paired_bootstrap(cond.pass_at_k(k)[:, cols], base.pass_at_k(k)[:, cols], n_boot=n_boot, seed=seed)
    return BinDelta(cond.label, label, int(cols.size), float(100 * b_rate.mean()), d1, k, dk)


def default_k(cond: CorrectnessMatrix, base: CorrectnessMatrix) -> int | None:
    """The largest k every problem of both matrices has samples for (None when that is 1: pass@k = pass@1)."""
    k = int(min(cond.n.min(), base.n.min()))
    return k if k > 1 else None


def _binned(
    cond: CorrectnessMatrix,
    base: CorrectnessMatrix,
    key: Callable[[int], str | None],
    order: Sequence[str],
    k: int | None,
    n_boot: int,
    seed: int,
) -> list[BinDelta]:
    c, b = align(cond, base)
    labels = [key(j) for j in range(len(c.problem_ids))]
    out = []
    for name in order:
        cols = np.array([j for j, lab in enumerate(labels) if lab == name], dtype=np.int64)
        if cols.size:
            out.append(_delta(c, b, cols, name, k, n_boot, seed))
    return out


def frontier_deltas(
    cond: CorrectnessMatrix,
    base: CorrectnessMatrix,
    rates: Mapping[str, float],
    band: FrontierBand = FrontierBand(),
    k: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[BinDelta]:
    """Per band bin (problems without a base rate are left out). k None: default_k."""
    c, b = align(cond, base)
    k = default_k(c, b) if k is None else k
    return _binned(
        c,
        b,
        lambda j: band.bin(rates[c.problem_ids[j]]).value if c.problem_ids[j] in rates else None,
        [x.value for x in Bin],
        k,
        n_boot,
        seed,
    )


def level_deltas(
    cond: CorrectnessMatrix, base: CorrectnessMatrix, k: int | None = None, n_boot: int = 1000, seed: int = 0
) -> list[BinDelta]:
    """Per MATH level (problems without a level are left out)."""
    c, b = align(cond, base)
    k = default_k(c, b) if k is None else k
    levels = sorted({lv for lv in c.levels if lv is not None})
    return _binned(
        c,
        b,
        lambda j: None if c.levels[j] is None else f"level {c.levels[j]}",
        [f"level {lv}" for lv in levels],
        k,
        n_boot,
        seed,
    )


def _cell(r: BootstrapResult | None) -> str:
    return "—" if r is None else f"{r.diff:+.1f} [{r.ci[0]:+.1f}, {r.ci[1]:+.1f}]"


def render_bin_table(deltas: Sequence[BinDelta]) -> str:
    """Markdown, one row per condition, one column per bin: Δpass@1 [95% CI] (pp); then the same for Δpass@k.
    The header row carries each bin's problem count and the baseline's pass@1 there."""
    bins: dict[str, BinDelta] = {}
    for d in deltas:
        bins.setdefault(d.bin, d)
    conds = list(dict.fromkeys(d.condition for d in deltas))
    cell = {(d.condition, d.bin): d for d in deltas}
    head = [f"{b} (n={d.count}, base {d.baseline_pass1:.1f}%)" for b, d in bins.items()]
    lines = [f"| Condition | Δ | {' | '.join(head)} |", "|---|---|" + "---|" * len(bins)]
    ks = sorted({d.k for d in deltas if d.k is not None})
    for metric in ["pass@1", *(f"pass@{k}" for k in ks)]:
        for c in conds:
            vals = []
            for b in bins:
                hit = cell.get((c, b))
                r = None if hit is None else (hit.d_pass1 if metric == "pass@1" else hit.d_passk)
                vals.append(_cell(r))
            lines.append(f"| {c} | {metric} | {' | '.join(vals)} |")
    return "\n".join(lines)


# ---- the inverted U ---------------------------------------------------------------------------------------------

U_EDGES = (0.25, 0.5, 0.75)  # base solve-rate bands: 0 | (0, .25) | [.25, .5) | [.5, .75) | [.75, 1) | 1


def u_band(rate: float) -> str:
    """The band of a base solve rate for the inverted-U view (finer than unsolved/frontier/saturated)."""
    if rate <= 0.0:
        return "rate 0"
    if rate >= 1.0:
        return "rate 1"
    lo = max([0.0, *(e for e in U_EDGES if e <= rate)])
    hi = min([1.0, *(e for e in U_EDGES if e > rate)])
    return f"rate [{lo:g}, {hi:g})" if lo > 0 else f"rate (0, {hi:g})"


U_BANDS = ("rate 0", "rate (0, 0.25)", "rate [0.25, 0.5)", "rate [0.5, 0.75)", "rate [0.75, 1)", "rate 1")


@dataclass(frozen=True)
class UPoint:
    """One bin of the inverted U: the baseline's pass@1 there (x, % with a bootstrap CI) and the condition's gain
    over that same baseline (y, pp, paired bootstrap CI)."""

    condition: str
    bin: str
    count: int
    baseline: BootstrapResult  # the baseline's pass@1 in the bin (a bootstrap of base − 0), %
    gain: BootstrapResult


def _u_bins(c: CorrectnessMatrix, rates: Mapping[str, float] | None) -> tuple[str, list[tuple[str, np.ndarray]]]:
    """(what the bins are, [(bin, column indices)] in bin order, empty bins left out)."""
    order: Sequence[str]
    if rates:
        labels = [u_band(rates[p]) if p in rates else None for p in c.problem_ids]
        order, source = U_BANDS, "base solve-rate band"
    else:
        labels = [None if lv is None else f"level {lv}" for lv in c.levels]
        order = [f"level {lv}" for lv in sorted({lv for lv in c.levels if lv is not None})]
        source = "level"
    bins = [(name, np.array([j for j, lab in enumerate(labels) if lab == name], dtype=np.int64)) for name in order]
    return source, [(name, cols) for name, cols in bins if cols.size]


def inverted_u(
    cond: CorrectnessMatrix,
    base: CorrectnessMatrix,
    rates: Mapping[str, float] | None,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[str, list[UPoint]]:
    """The inverted U of one condition: gains per base solve-rate band when `rates` are given (they must not come
    from the samples of `base`, else the bins regress to the mean: see BaseRates), otherwise per level.
    Returns (what the bins are, points in bin order)."""
    c, b = align(cond, base)
    source, bins = _u_bins(c, rates)
    points = []
    for name, cols in bins:
        b_rate, c_rate = b.rate[:, cols], c.rate[:, cols]
        x = paired_bootstrap(b_rate, np.zeros_like(b_rate), n_boot=n_boot, seed=seed)
        y = paired_bootstrap(c_rate, b_rate, n_boot=n_boot, seed=seed)
        points.append(UPoint(cond.label, name, int(cols.size), x, y))
    return source, points


@dataclass(frozen=True)
class UContrast:
    """Is there an inverted U? The mean gain of the middle bins minus the mean gain of the two end bins (the bins
    with the lowest and the highest baseline pass@1), each bin weighted equally; > 0 when gains peak in between."""

    condition: str
    ends: tuple[str, str]
    middle: tuple[str, ...]
    result: BootstrapResult  # pp; paired bootstrap over problems nested in seeds
    p_holm: float | None = None  # Holm over the conditions of the group (None: a single test, p itself)

    @property
    def verdict(self) -> str:
        alpha = 1 - self.result.confidence
        p = self.result.p_value if self.p_holm is None else self.p_holm
        return "inverted U" if self.result.diff > 0 and self.result.ci[0] > 0 and p < alpha else "no inverted U shown"

    def line(self) -> str:
        r = self.result
        return (
            f"{self.condition}: middle ({', '.join(self.middle)}) − ends ({', '.join(self.ends)}) = "
            f"{r.diff:+.1f} pp, 95% paired-bootstrap CI [{r.ci[0]:+.1f}, {r.ci[1]:+.1f}], p={r.p_value:.3g}, "
            f"Holm p={self.result.p_value if self.p_holm is None else self.p_holm:.3g}: {self.verdict}"
        )


def u_contrast(
    cond: CorrectnessMatrix,
    base: CorrectnessMatrix,
    rates: Mapping[str, float] | None,
    n_boot: int = 1000,
    seed: int = 0,
) -> UContrast | None:
    """The contrast over the same bins as inverted_u; None with fewer than 3 bins. A linear statistic of the
    per-problem differences (weight 1/(M·n_bin) in each of the M middle bins, −1/(2·n_bin) in each end bin), so
    the same nested bootstrap as every comparison gives its CI and p-value."""
    c, b = align(cond, base)
    _, bins = _u_bins(c, rates)
    if len(bins) < 3:
        return None
    level = sorted(bins, key=lambda nb: float(b.rate[:, nb[1]].mean()))
    ends, middle = (level[0], level[-1]), level[1:-1]
    w = np.zeros(len(c.problem_ids))
    for _, cols in middle:
        w[cols] = 1.0 / (len(middle) * cols.size)
    for _, cols in ends:
        w[cols] = -1.0 / (2 * cols.size)
    P = w.size
    res = paired_bootstrap(P * w * c.rate, P * w * b.rate, n_boot=n_boot, seed=seed)
    order = [name for name, _ in bins]
    first, last = sorted((ends[0][0], ends[1][0]), key=order.index)
    return UContrast(cond.label, (first, last), tuple(sorted((n for n, _ in middle), key=order.index)), res)


def render_u_table(points: Sequence[UPoint]) -> str:
    """Markdown: one row per condition × bin, x (baseline pass@1) and y (gain) with their 95% CIs."""
    lines = [
        "| Condition | Bin | Problems | Baseline pass@1 % [95% CI] | Gain pp [95% paired-bootstrap CI] |",
        "|---|---|---|---|---|",
    ]
    for p in points:
        x, y = p.baseline, p.gain
        lines.append(
            f"| {p.condition} | {p.bin} | {p.count} | {x.diff:.1f} [{x.ci[0]:.1f}, {x.ci[1]:.1f}] | "
            f"{y.diff:+.1f} [{y.ci[0]:+.1f}, {y.ci[1]:+.1f}] |"
        )
    return "\n".join(lines)
