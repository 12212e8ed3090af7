"""Seeds × problems correctness matrices and the statistics the reports print.

- mean ± std across seeds and a 95% CI from Student's t over seeds;
- a paired bootstrap over problems, nested over seeds, for the difference of two conditions (CI and p-value);
- McNemar's exact test for single-seed paired comparisons (scipy's exact binomial test on the discordant pairs);
- Holm's correction across a family of comparisons;
- the one-line verdict "overlaps / separated at 95%", decided on the Holm-adjusted p-value, so that running more
  comparisons never makes a separation easier to claim.
Two different intervals are printed and each says which it is: the tables' "95% CI (t over seeds)" is Student's t
over the per-seed gains (how much the gain moves from seed to seed); the comparison lines' "95% paired-bootstrap
CI" resamples problems nested in seeds (it also counts the problem draw), and is the one the verdict goes with.
Values are in percentage points (pp) wherever they are printed.
Only numpy and scipy are needed (both core dependencies): the report works on a core install.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np
from scipy import stats as sps
from scipy.special import gammaln

from formalpi.analysis import N_BOOT
from formalpi.errors import FormalpiError
from formalpi.records import EvalRecord


class AnalysisError(FormalpiError):
    """The runs given cannot be analysed as asked (nothing in common, too few samples, ...)."""


# ---- the matrix --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorrectnessMatrix:
    """Per (seed, problem): how many of the n samples were correct. Rows follow `seeds`, columns `problem_ids`."""

    label: str
    seeds: tuple[int, ...]
    problem_ids: tuple[str, ...]
    levels: tuple[int | None, ...]
    n_correct: np.ndarray  # (S, P) int
    n: np.ndarray  # (S, P) int
    first: np.ndarray  # (S, P) bool: was the first sample correct (the single-sample outcome McNemar uses)

    @property
    def rate(self) -> np.ndarray:
        """Per-problem pass@1 = n_correct / n, shape (S, P)."""
        return self.n_correct / self.n

    def pass1(self) -> np.ndarray:
        """pass@1 per seed (mean over problems), shape (S,)."""
        return self.rate.mean(axis=1)

    def pass_at_k(self, k: int) -> np.ndarray:
        """Unbiased per-problem pass@k (Chen et al. 2021), shape (S, P)."""
        return pass_at_k(self.n, self.n_correct, k)

    def select(self, seeds: Sequence[int] | None = None, problems: Sequence[str] | None = None) -> "CorrectnessMatrix":
        si = [self.seeds.index(s) for s in seeds] if seeds is not None else list(range(len(self.seeds)))
        col = {p: i for i, p in enumerate(self.problem_ids)}
        pi = [col[p] for p in problems] if problems is not None else list(range(len(self.problem_ids)))
        ix = np.ix_(si, pi)
        return CorrectnessMatrix(
            self.label,
            tuple(self.seeds[i] for i in si),
            tuple(self.problem_ids[i] for i in pi),
            tuple(self.levels[i] for i in pi),
            self.n_correct[ix],
            self.n[ix],
            self.first[ix],
        )


def correctness_matrix(records_by_seed: Mapping[int, Sequence[EvalRecord]], label: str) -> CorrectnessMatrix:
    """Build the matrix from eval records; problems are those every seed evaluated (first seed's order)."""
    if not records_by_seed:
        raise AnalysisError(f"{label}: no eval records")
    seeds = tuple(sorted(records_by_seed))
    by_seed = {s: {r.problem_id: r for r in records_by_seed[s]} for s in seeds}
    common = set.intersection(*(set(m) for m in by_seed.values()))
    order = [r.problem_id for r in records_by_seed[seeds[0]] if r.problem_id in common]
    order = list(dict.fromkeys(order))
    if not order:
        raise AnalysisError(f"{label}: the seeds {list(seeds)} share no evaluated problem")
    S, P = len(seeds), len(order)
    n_correct = np.zeros((S, P), dtype=np.int64)
    n = np.zeros((S, P), dtype=np.int64)
    first = np.zeros((S, P), dtype=bool)
    for i, s in enumerate(seeds):
        recs = by_seed[s]
        for j, pid in enumerate(order):
            r = recs[pid]
            if not r.correct:
                raise AnalysisError(f"{label}, seed {s}, problem {pid!r}: eval record has no samples (correct=[])")
            n_correct[i, j] = sum(r.correct)
            n[i, j] = len(r.correct)
            first[i, j] = r.correct[0]
    levels = tuple(by_seed[seeds[0]][p].level for p in order)
    return CorrectnessMatrix(label, seeds, tuple(order), levels, n_correct, n, first)


def align(a: CorrectnessMatrix, b: CorrectnessMatrix) -> tuple[CorrectnessMatrix, CorrectnessMatrix]:
    """Restrict both to their common seeds and problems, in a's order: the pairs of a paired comparison."""
    seeds = [s for s in a.seeds if s in set(b.seeds)]
    if not seeds:
        raise AnalysisError(
            f"{a.label} vs {b.label}: no seed in common ({list(a.seeds)} vs {list(b.seeds)}); "
            f"run both with the same seeds"
        )
    bp = set(b.problem_ids)
    problems = [p for p in a.problem_ids if p in bp]
    if not problems:
        raise AnalysisError(f"{a.label} vs {b.label}: no evaluated problem in common; evaluate on the same split")
    return a.select(seeds, problems), b.select(seeds, problems)


def pass_at_k(n: np.ndarray, c: np.ndarray, k: int) -> np.ndarray:
    """Unbiased pass@k = 1 - C(n-c, k) / C(n, k), elementwise; needs n >= k (Chen et al. 2021)."""
    n = np.asarray(n, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    if k < 1:
        raise AnalysisError(f"pass@k: k must be >= 1 (got {k})")
    if np.any(n < k):
        raise AnalysisError(
            f"pass@{k} needs at least {k} samples per problem (some have {int(n.min())}); "
            f"lower k or evaluate with eval.n >= {k}"
        )
    # C(n-c, k) / C(n, k) through log-gamma: vectorised and stable for large n
    fail = n - c
    ok = fail >= k
    safe_fail = np.where(ok, fail, k)
    log_ratio = gammaln(safe_fail + 1) - gammaln(safe_fail - k + 1) - gammaln(n + 1) + gammaln(n - k + 1)
    return np.where(c == 0, 0.0, np.where(ok, 1.0 - np.exp(log_ratio), 1.0))


# ---- across seeds ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedSummary:
    """One number per seed (pp), with mean, sample std and the t-based 95% CI of the mean (None for 1 seed)."""

    label: str
    seeds: tuple[int, ...]
    values: tuple[float, ...]
    mean: float
    std: float
    ci: tuple[float, float] | None


def summarize(
    label: str, seeds: Sequence[int], values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> SeedSummary:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise AnalysisError(f"{label}: no seeds to summarize")
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    ci = None
    if v.size > 1:
        half = float(sps.t.ppf(0.5 + confidence / 2, df=v.size - 1)) * std / np.sqrt(v.size)
        ci = (mean - half, mean + half)
    return SeedSummary(label, tuple(seeds), tuple(float(x) for x in v), mean, std, ci)


def pass1_summary(m: CorrectnessMatrix) -> SeedSummary:
    """Absolute pass@1 per seed, in %."""
    return summarize(m.label, m.seeds, 100.0 * m.pass1())


def gain_summary(cond: CorrectnessMatrix, base: CorrectnessMatrix) -> SeedSummary:
    """pass@1 gain over the baseline of the same seed, in pp, on the problems both evaluated."""
    c, b = align(cond, base)
    return summarize(cond.label, c.seeds, 100.0 * (c.pass1() - b.pass1()))


# ---- paired bootstrap --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapResult:
    """Difference a − b of the mean per-problem statistic (pp), its bootstrap CI and two-sided p-value."""

    diff: float
    ci: tuple[float, float]
    p_value: float
    n_boot: int
    n_seeds: int
    n_problems: int
    confidence: float

    @property
    def separated(self) -> bool:
        return self.ci[0] > 0 or self.ci[1] < 0


def bootstrap_differences(
    a: np.ndarray, b: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0, resample_seeds: bool = True
) -> np.ndarray:
    """Replicates of mean(a − b) for (S, P) arrays paired by seed and problem.

    Nested resampling: each replicate draws S seeds with replacement (when `resample_seeds` and S > 1), then,
    for each drawn seed, P problems with replacement; a and b always share the draw (paired).
    Draw order (fixed, so an independent reimplementation can reproduce it): seed indices (n_boot, S), then
    problem indices (n_boot, S, P), both from `np.random.default_rng(seed).integers`.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.ndim != 2 or d.size == 0:
        raise AnalysisError(f"paired bootstrap needs two non-empty (seeds, problems) arrays (got shape {d.shape})")
    S, P = d.shape
    seed_idx, counts = _bootstrap_draws(S, P, n_boot, seed, resample_seeds)
    # counts[b*S + j, p] = how often replicate b drew problem p for its j-th seed; one BLAS product gives every
    # (replicate, drawn seed) against every actual seed, then each replicate picks the seeds it drew
    sums = counts @ d.T.astype(np.float32)  # (n_boot*S, S)
    picked = sums.reshape(n_boot, S, S)[np.arange(n_boot)[:, None], np.arange(S)[None, :], seed_idx]
    return picked.sum(axis=1) / (S * P)


@lru_cache(maxsize=32)
def _bootstrap_draws(S: int, P: int, n_boot: int, seed: int, resample_seeds: bool) -> tuple[np.ndarray, np.ndarray]:
    """The draws for one shape and seed, as (seed indices (n_boot, S), problem counts (n_boot*S, P)).
    Cached: every comparison of the same shape uses the same draws (common random numbers), computed once."""
    rng = np.random.default_rng(seed)
    seed_idx = rng.integers(0, S, size=(n_boot, S))
    if not resample_seeds:
        seed_idx = np.broadcast_to(np.arange(S), (n_boot, S)).copy()
    parts = []
    chunk = max(1, 2_000_000 // max(1, S * P))  # bound memory of the index draws
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, P, size=((stop - start) * S, P))
        flat = (np.arange((stop - start) * S)[:, None] * P + idx).ravel()
        # float32 holds the counts exactly and halves the memory each comparison streams through
        parts.append(np.bincount(flat, minlength=(stop - start) * S * P).reshape(-1, P).astype(np.float32))
    counts = np.concatenate(parts)
    seed_idx.setflags(write=False)
    counts.setflags(write=False)
    return seed_idx, counts


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = 0.95,
    resample_seeds: bool = True,
    scale: float = 100.0,
) -> BootstrapResult:
    """Percentile CI and two-sided p-value (the share of replicates on the far side of 0, doubled)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise AnalysisError(f"paired bootstrap: shapes differ {a.shape} vs {b.shape}; align() the matrices first")
    reps = scale * bootstrap_differences(a, b, n_boot=n_boot, seed=seed, resample_seeds=resample_seeds)
    alpha = 1 - confidence
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    below = (1 + np.count_nonzero(reps <= 0)) / (n_boot + 1)
    above = (1 + np.count_nonzero(reps >= 0)) / (n_boot + 1)
    p = min(1.0, 2 * min(below, above))
    return BootstrapResult(
        float(scale * (a - b).mean()), (float(lo), float(hi)), float(p), n_boot, a.shape[0], a.shape[1], confidence
    )


class Statistic(str, Enum):
    PASS1 = "pass@1"
    PASS_K = "pass@k"


def compare(
    a: CorrectnessMatrix,
    b: CorrectnessMatrix,
    *,
    statistic: Statistic = Statistic.PASS1,
    k: int = 1,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Paired bootstrap of a − b on their common seeds and problems."""
    a, b = align(a, b)
    if statistic is Statistic.PASS1:
        return paired_bootstrap(a.rate, b.rate, n_boot=n_boot, seed=seed, confidence=confidence)
    return paired_bootstrap(a.pass_at_k(k), b.pass_at_k(k), n_boot=n_boot, seed=seed, confidence=confidence)


# ---- McNemar and Holm --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class McNemarResult:
    only_a: int  # problems a solved and b did not
    only_b: int
    n: int
    p_value: float


def mcnemar(a: Sequence[bool] | np.ndarray, b: Sequence[bool] | np.ndarray) -> McNemarResult:
    """Exact McNemar test on paired binary outcomes: a binomial test of the discordant pairs at 1/2."""
    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    if x.shape != y.shape or x.ndim != 1:
        raise AnalysisError(f"McNemar needs two paired 1-D outcome vectors (got shapes {x.shape} and {y.shape})")
    only_a = int(np.count_nonzero(x & ~y))
    only_b = int(np.count_nonzero(~x & y))
    disc = only_a + only_b
    p = 1.0 if disc == 0 else float(sps.binomtest(min(only_a, only_b), disc, 0.5).pvalue)
    return McNemarResult(only_a, only_b, int(x.size), min(1.0, p))


def mcnemar_seed(a: CorrectnessMatrix, b: CorrectnessMatrix, seed: int) -> McNemarResult:
    """McNemar for one seed, on each problem's first sample (the single-sample outcome)."""
    a, b = align(
        a.select([seed]) if seed in a.seeds else _missing(a, seed),
        b.select([seed]) if seed in b.seeds else _missing(b, seed),
    )
    return mcnemar(a.first[0], b.first[0])


def _missing(m: CorrectnessMatrix, seed: int) -> CorrectnessMatrix:
    raise AnalysisError(f"{m.label}: no seed {seed} (it has {list(m.seeds)})")


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values for a family of comparisons (same order as given): the i-th smallest of m p-values
    becomes max over j <= i of min(1, (m - j + 1) * p_(j)) (Holm 1979, step-down, made monotone)."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise AnalysisError(f"Holm: p-values must lie in [0, 1] (got {list(p_values)})")
    order = np.argsort(p, kind="stable")
    m = p.size
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return [float(x) for x in out]


# ---- verdicts ----------------------------------------------------------------------------------------------


class Separation(str, Enum):
    OVERLAPS = "overlaps"
    SEPARATED = "separated"


@dataclass(frozen=True)
class Comparison:
    """One condition against the reference: the paired bootstrap, and its p-value Holm-adjusted over the family
    of `family_size` comparisons made against the same reference."""

    condition: str
    reference: str
    result: BootstrapResult
    p_holm: float
    family_size: int = 1

    @property
    def alpha(self) -> float:
        return 1.0 - self.result.confidence

    @property
    def separation(self) -> Separation:
        """Separated only when the Holm-adjusted p-value is below alpha AND the unadjusted interval excludes 0
        (the two agree except at the margin, where the bootstrap's +1 correction and the percentile interval can
        differ; requiring both never calls a separation that either one denies)."""
        return Separation.SEPARATED if (self.p_holm < self.alpha and self.result.separated) else Separation.OVERLAPS

    def line(self) -> str:
        r = self.result
        pct = round(100 * r.confidence)
        return (
            f"{self.condition} vs {self.reference}: {r.diff:+.1f} pp, {pct}% paired-bootstrap CI "
            f"[{r.ci[0]:+.1f}, {r.ci[1]:+.1f}] ({r.n_problems} problems x {r.n_seeds} seeds, p={r.p_value:.3g}, "
            f"Holm p={self.p_holm:.3g} over {self.family_size}): {self.separation.value} at {pct}%"
        )


def compare_family(
    matrices: Mapping[str, CorrectnessMatrix],
    reference: str,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[Comparison]:
    """Every other condition against `reference`, with Holm-adjusted p-values across the family."""
    if reference not in matrices:
        raise AnalysisError(
            f"reference condition {reference!r} is not among the runs "
            f"({', '.join(sorted(matrices))}); pick one with --reference"
        )
    others = [c for c in matrices if c != reference]
    results = [
        compare(matrices[c], matrices[reference], n_boot=n_boot, seed=seed, confidence=confidence) for c in others
    ]
    adjusted = holm([r.p_value for r in results])
    return [Comparison(c, reference, r, p, len(others)) for c, r, p in zip(others, results, adjusted)]


@dataclass(frozen=True)
class SeedMcNemar:
    """McNemar's exact test of `condition` against `reference` on one seed (each problem's first sample), with the
    p-value Holm-adjusted over the conditions compared on that seed."""

    condition: str
    reference: str
    seed: int
    result: McNemarResult
    p_holm: float


def mcnemar_family(matrices: Mapping[str, CorrectnessMatrix], reference: str) -> list[SeedMcNemar]:
    """Every other condition against `reference`, seed by seed (the seeds both have); Holm within each seed."""
    if reference not in matrices:
        raise AnalysisError(
            f"reference condition {reference!r} is not among the runs "
            f"({', '.join(sorted(matrices))}); pick one with --reference"
        )
    ref = matrices[reference]
    by_seed: dict[int, list[tuple[str, McNemarResult]]] = {}
    for cond, m in matrices.items():
        if cond == reference:
            continue
        for seed in m.seeds:
            if seed in ref.seeds:
                by_seed.setdefault(seed, []).append((cond, mcnemar_seed(m, ref, seed)))
    out = []
    for seed in sorted(by_seed):
        tests = by_seed[seed]
        for (cond, res), p in zip(tests, holm([r.p_value for _, r in tests])):
            out.append(SeedMcNemar(cond, reference, seed, res, p))
    return out
