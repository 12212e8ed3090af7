"""Path diversity of a model's correct solutions, per condition (docs/diversity.md defines it).

For one problem with N >= 2 correct solutions and their paths p_1..p_N (formalpi/analysis/reasoning_paths.py:
math — intermediate expressions; code — normalised AST shape; Lean — tactic sequence with the have-skeleton):

  PD_path = 1 − mean over the N(N−1)/2 pairs of sim(p_i, p_j),   sim = 2·M / (|p_i| + |p_j|)

(M = steps in the pairs' aligned matching blocks), so identical paths give 0 and paths with no step in common give
1, in every domain alike. PD_lex (1 − mean pairwise Jaccard of token 4-grams of the canonical text) is printed
beside it as a surface control: it moves with wording, PD_path only with the steps.
A row (condition) is summarised as the mean over problems, a problem being one unit whatever the number of seeds
that solved it (its seeds' values are averaged first), with a percentile bootstrap CI over problems.
"""

from __future__ import annotations

import ast
import gc
import itertools
import re
from collections import Counter
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum

import numpy as np

from formalpi.analysis.reasoning_paths import Path_, artifact, lean_proof_body, path_of, path_similarity
from formalpi.analysis.runs_index import RunInfo
from formalpi.analysis.stats import AnalysisError
from formalpi.analysis.tables import row_keys
from formalpi.records import EvalRecord

__all__ = [
    "DiversityDomain",
    "Diversity",
    "ProblemDiversity",
    "DiversityMeasure",
    "DiversitySummary",
    "pd_path",
    "pd_lex",
    "ngrams",
    "canonical",
    "summarize_diversity",
    "runs_diversity",
    "rows_diversity",
    "render_diversity_table",
]


class DiversityDomain(str, Enum):
    MATH = "math"
    CODE = "code"
    LEAN = "lean"


_WS = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+|[^\w\s]")


# ---- canonical text (for the surface control) --------------------------------------------------------------


def collapse_ws(text: str) -> str:
    return _WS.sub(" ", text).strip()


def canonical(completion: str, domain: DiversityDomain) -> str:
    """Of the verified artifact (paths.artifact): math: whitespace collapsed; Lean: proof body without comments,
    whitespace collapsed; code: `ast.unparse(ast.parse(...))` (whitespace-collapsed text when it does not parse)."""
    text = artifact(domain.value, completion)
    if domain is DiversityDomain.MATH:
        return collapse_ws(text)
    if domain is DiversityDomain.LEAN:
        return collapse_ws(lean_proof_body(text))
    code = text
    try:
        return ast.unparse(ast.parse(code))
    except (SyntaxError, ValueError):
        return collapse_ws(code)


def ngrams(text: str, size: int = 4) -> frozenset[tuple[str, ...]]:
    """Token n-grams; a text shorter than `size` tokens is one gram (its whole token sequence)."""
    toks = _TOKEN.findall(text)
    if len(toks) < size:
        return frozenset({tuple(toks)})
    return frozenset(zip(*(toks[i:] for i in range(size))))


# ---- per-problem measures ----------------------------------------------------------------------------------


def _pairwise_mean_distance(items: Sequence[Hashable], distance) -> float:
    """Mean over all unordered pairs of `distance(a, b)`; equal items are at distance 0, so only pairs of distinct
    items are computed, weighted by their counts."""
    n = len(items)
    if n < 2:
        raise AnalysisError("path diversity needs at least 2 solutions of a problem")
    counts = Counter(items)
    distinct = list(counts)
    total = 0.0
    for a, b in itertools.combinations(distinct, 2):
        total += counts[a] * counts[b] * distance(a, b)
    return total / (n * (n - 1) / 2)


def pd_path(paths: Sequence[Path_]) -> float:
    """1 − mean pairwise path similarity: 0 when every path is the same, 1 when no two share a step."""
    return _pairwise_mean_distance([tuple(p) for p in paths], lambda a, b: 1.0 - path_similarity(a, b))


def pd_lex(texts: Sequence[str], size: int = 4) -> float:
    """1 − mean pairwise Jaccard similarity of the texts' token `size`-grams (the surface control)."""
    grams = {t: ngrams(t, size) for t in set(texts)}
    return _pairwise_mean_distance(list(texts), lambda a, b: 1.0 - len(grams[a] & grams[b]) / len(grams[a] | grams[b]))


@dataclass(frozen=True)
class ProblemDiversity:
    problem_id: str
    n: int  # solutions compared (correct ones)
    path: float
    lex: float


NULL_PAIRS = 2000  # cross-problem pairs for the permutation null (enough for a 3rd-decimal mean)


class Diversity:
    """The measuring rules of one domain: its path extractor and its canonical text."""

    def __init__(self, domain: DiversityDomain | str):
        try:
            self.domain = DiversityDomain(domain)
        except ValueError:
            raise AnalysisError(
                f"path diversity: unknown domain {domain!r}; use one of "
                f"{', '.join(d.value for d in DiversityDomain)} (--domain)"
            ) from None

    def path(self, completion: str) -> Path_:
        return path_of(self.domain.value, completion)

    def problem(self, problem_id: str, completions: Sequence[str]) -> ProblemDiversity | None:
        """Both measures over the given solutions; None when there are fewer than 2."""
        if len(completions) < 2:
            return None
        return ProblemDiversity(
            problem_id,
            len(completions),
            pd_path([self.path(c) for c in completions]),
            pd_lex([canonical(c, self.domain) for c in completions]),
        )

    def records(self, records: Sequence[EvalRecord]) -> list[ProblemDiversity]:
        """One value per record (problem × seed) with >= 2 correct solutions, over its correct solutions."""
        out = []
        with _gc_paused():
            for r in records:
                if len(r.completions) != len(r.correct):
                    continue  # completions not stored (eval without them): nothing to measure
                d = self.problem(r.problem_id, [c for c, ok in zip(r.completions, r.correct) if ok])
                if d is not None:
                    out.append(d)
        return out

    def null(self, records: Sequence[EvalRecord], max_pairs: int = NULL_PAIRS) -> float | None:
        """The permutation null of PD_path: 1 − mean sim over pairs of correct solutions of DIFFERENT problems
        (problem labels shuffled away), what PD_path would be if a problem's solutions were no more alike than
        solutions of unrelated problems in this domain. Pairs: each problem's first correct solution with the
        next problems' (a fixed order, at most `max_pairs`); None with fewer than 2 solved problems."""
        firsts: dict[str, str] = {}
        for r in records:
            if len(r.completions) == len(r.correct) and r.problem_id not in firsts:
                ok = [c for c, good in zip(r.completions, r.correct) if good]
                if ok:
                    firsts[r.problem_id] = ok[0]
        if len(firsts) < 2:
            return None
        paths = [self.path(firsts[k]) for k in sorted(firsts)]
        pairs = [(i, (i + d) % len(paths)) for d in range(1, len(paths)) for i in range(len(paths))]
        pairs = [(i, j) for i, j in pairs if i < j][:max_pairs]
        return 1.0 - sum(path_similarity(paths[i], paths[j]) for i, j in pairs) / len(pairs)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Many small tuples make the cyclic GC rescan every loaded record again and again; this loop creates no
    reference cycles, so collection can wait until it ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# ---- summaries per condition -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiversityMeasure:
    """Mean over problems with a percentile bootstrap CI over problems."""

    mean: float
    ci: tuple[float, float]
    n_problems: int


@dataclass(frozen=True)
class DiversitySummary:
    """One row: a condition of one comparable group (domain / model / data), over the seeds it ran."""

    domain: DiversityDomain
    group: str  # "domain / model / data"
    condition: str  # the row key of the report's tables
    n_seeds: int
    path: DiversityMeasure | None  # None when no problem had >= 2 correct solutions
    lex: DiversityMeasure | None
    delta_path: DiversityMeasure | None = None  # PD_path − the baseline's, paired on the problems both measured
    null: float | None = None  # the row's permutation null (Diversity.null)
    relative: DiversityMeasure | None = None  # PD_path / null: comparable across domains (docs/diversity.md)


def _measure(values: Sequence[float], n_boot: int, seed: int) -> DiversityMeasure | None:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return None
    rng = np.random.default_rng(seed)
    reps = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return DiversityMeasure(float(v.mean()), (float(lo), float(hi)), int(v.size))


def per_problem_means(per_problem: Sequence[ProblemDiversity], attr: str) -> dict[str, float]:
    """One value per problem: the mean of its seeds' values (a problem is one unit, whatever its seeds)."""
    acc: dict[str, list[float]] = {}
    for p in per_problem:
        acc.setdefault(p.problem_id, []).append(getattr(p, attr))
    return {k: sum(v) / len(v) for k, v in acc.items()}


def summarize_diversity(
    per_problem: Sequence[ProblemDiversity],
    domain: DiversityDomain | str,
    group: str,
    condition: str,
    n_seeds: int,
    n_boot: int = 1000,
    seed: int = 0,
    reference: Sequence[ProblemDiversity] | None = None,
    null: float | None = None,
) -> DiversitySummary:
    """Mean over problems with a bootstrap CI over problems; a problem measured on several seeds is one unit
    (its seeds' values are averaged first), so the CI resamples problems, not runs. With `reference` (the
    baseline's values), also the paired difference of PD_path on the problems both measured."""
    path = per_problem_means(per_problem, "path")
    delta = None
    if reference is not None:
        ref = per_problem_means(reference, "path")
        delta = _measure([path[k] - ref[k] for k in path if k in ref], n_boot, seed)
    relative = _measure([v / null for v in path.values()], n_boot, seed) if null else None
    return DiversitySummary(
        DiversityDomain(domain),
        group,
        condition,
        n_seeds,
        _measure(list(path.values()), n_boot, seed),
        _measure(list(per_problem_means(per_problem, "lex").values()), n_boot, seed),
        delta,
        null,
        relative,
    )


def rows_diversity(
    rows: Mapping[tuple[str, str, str], Sequence[Sequence[EvalRecord]]],
    n_boot: int = 1000,
    seed: int = 0,
    reference: str = "baseline",
) -> list[DiversitySummary]:
    """`rows[(domain, group, condition)]` = the eval records of each of the row's runs (one list per seed).
    Each non-reference row of a group also gets its paired PD_path difference from the group's `reference` row."""
    values, nulls = {}, {}
    for (domain, group, condition), per_run in rows.items():
        rules = Diversity(domain)
        values[(domain, group, condition)] = [d for recs in per_run for d in rules.records(recs)]
        nulls[(domain, group, condition)] = rules.null([r for recs in per_run for r in recs])
    out = []
    for (domain, group, condition), per_run in rows.items():
        ref = values.get((domain, group, reference)) if condition != reference else None
        out.append(
            summarize_diversity(
                values[(domain, group, condition)],
                domain,
                group,
                condition,
                len(per_run),
                n_boot,
                seed,
                ref,
                nulls[(domain, group, condition)],
            )
        )
    return out


def runs_diversity(
    runs: Sequence[RunInfo], domain: DiversityDomain | str | None = None, n_boot: int = 1000, seed: int = 0
) -> list[DiversitySummary]:
    """Per comparable group and condition row (the report's row keys), over each run's correct eval samples.
    `domain` measures every run as that domain (default: each run's own)."""
    by_group: dict[tuple[str, str, str], list[RunInfo]] = {}
    for r in runs:
        by_group.setdefault(r.group, []).append(r)
    rows: dict[tuple[str, str, str], list[list[EvalRecord]]] = {}
    for g, group_runs in sorted(by_group.items()):
        keys = row_keys(group_runs)
        for r in group_runs:
            rows.setdefault((str(DiversityDomain(domain or r.domain).value), " / ".join(g), keys[r.path]), []).append(
                r.eval_records()
            )
    return rows_diversity(rows, n_boot, seed)


def _fmt(m: DiversityMeasure | None, sign: str = "") -> str:
    return "—" if m is None else f"{m.mean:{sign}.3f} [{m.ci[0]:{sign}.3f}, {m.ci[1]:{sign}.3f}]"


DIVERSITY_HEADER = (
    "Group",
    "Condition",
    "Seeds",
    "Problems (>= 2 correct)",
    "PD_path [95% CI]",
    "Δ PD_path vs baseline [95% CI, paired]",
    "PD_lex (surface) [95% CI]",
    "Null (cross-problem)",
    "PD_path / null [95% CI] (across domains)",
)


def diversity_cells(s: DiversitySummary) -> tuple[str, ...]:
    n = s.path.n_problems if s.path else 0
    delta = _fmt(s.delta_path, "+") + (f" (n={s.delta_path.n_problems})" if s.delta_path else "")
    null = "—" if s.null is None else f"{s.null:.3f}"
    return (s.group, s.condition, str(s.n_seeds), str(n), _fmt(s.path), delta, _fmt(s.lex), null, _fmt(s.relative))


def render_diversity_table(summaries: Sequence[DiversitySummary]) -> str:
    """Markdown: one row per group × condition, PD_path and the surface control side by side (mean [95% CI])."""
    lines = ["| " + " | ".join(DIVERSITY_HEADER) + " |", "|" + "---|" * len(DIVERSITY_HEADER)]
    lines += ["| " + " | ".join(diversity_cells(s)) + " |" for s in summaries]
    return "\n".join(lines)
