"""Path diversity of the N samples a model draws for one problem, per domain.

For each problem with N >= 2 samples, after canonicalisation:
  PD_exact = 1 − Σ_k n_k(n_k − 1) / (N(N − 1))   over groups of identical canonical forms
  PD_lex   = mean over pairs of (1 − Jaccard of the token 4-gram sets)
  PD_sem   = (K − 1) / (N − 1)                     K = number of semantic clusters
Semantic clusters: math — equivalent final answers; Lean — distinct sequences of tactic names; code — distinct
output vectors on the tests (from an injected function, since running code belongs to the code sandbox).
Each is reported as the mean over problems with a bootstrap CI, for all samples and for correct ones only.
"""

from __future__ import annotations

import ast
import gc
import itertools
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum

import numpy as np

from formalpi.analysis.runs_index import RunInfo
from formalpi.analysis.stats import AnalysisError
from formalpi.records import EvalRecord


class DiversityDomain(str, Enum):
    MATH = "math"
    CODE = "code"
    LEAN = "lean"


class Subset(str, Enum):
    ALL = "all"
    CORRECT = "correct"


SemanticKey = Callable[[str], Hashable]  # completion -> the cluster it belongs to
Equivalence = Callable[[str, str], bool]  # two extracted answers -> equivalent?

_WS = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_FENCE = re.compile(r"```[\w+-]*\n?(.*?)```", re.S)
_TACTIC = re.compile(r"[A-Za-z_][\w'!?]*")


# ---- canonical forms ---------------------------------------------------------------------------------------


def collapse_ws(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _unfence(text: str) -> str:
    """The content of the first fenced block when the completion has one; else the text."""
    m = _FENCE.search(text)
    return m.group(1) if m else text


def strip_lean_comments(text: str) -> str:
    """Remove `-- line` comments and (nested) `/- block -/` comments, doc comments included."""
    out, depth, i = [], 0, 0
    while i < len(text):
        two = text[i:i + 2]
        if two == "/-":
            depth += 1
            i += 2
        elif two == "-/" and depth:
            depth -= 1
            i += 2
        elif depth:
            i += 1
        elif two == "--":
            j = text.find("\n", i)
            i = len(text) if j < 0 else j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def lean_proof_body(completion: str) -> str:
    """The proof after the first `:= by` (the model's restated theorem is not part of its path), comments gone."""
    text = strip_lean_comments(_unfence(completion))
    m = re.search(r":=\s*by\b", text) or re.match(r"\s*by\b", text)  # a bare `by ...` block too
    return text[m.end():] if m else text


def canonical(completion: str, domain: DiversityDomain) -> str:
    """math: whitespace collapsed; Lean: proof body without comments, whitespace collapsed;
    code: `ast.unparse(ast.parse(...))` (whitespace-collapsed text when it does not parse)."""
    if domain is DiversityDomain.MATH:
        return collapse_ws(completion)
    if domain is DiversityDomain.LEAN:
        return collapse_ws(lean_proof_body(completion))
    code = _unfence(completion)
    try:
        return ast.unparse(ast.parse(code))
    except (SyntaxError, ValueError):
        return collapse_ws(code)


# ---- semantic keys -----------------------------------------------------------------------------------------


def last_boxed(completion: str) -> str | None:
    """Content of the last `\\boxed{...}` (braces matched), whitespace collapsed; None if there is none."""
    start = completion.rfind("\\boxed{")
    if start < 0:
        return None
    i = start + len("\\boxed{")
    depth = 1
    for j in range(i, len(completion)):
        ch = completion[j]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return collapse_ws(completion[i:j])
    return None


def tactic_names(completion: str) -> tuple[str, ...]:
    """The sequence of tactic names of a Lean proof: the first identifier of each tactic step."""
    body = lean_proof_body(completion)
    names = []
    for step in re.split(r"\n|;|<;>", body):
        step = step.strip().lstrip("·.").strip()
        m = _TACTIC.match(step)
        if m:
            names.append(m.group(0))
    return tuple(names)


def _math_defaults() -> tuple[SemanticKey, Equivalence | None]:
    """domains.math's extraction and equivalence when that module exists; else exact `\\boxed{}` strings."""
    try:
        from domains import math as math_domain  # written in parallel; optional here
    except ImportError:
        return last_boxed, None
    extract = getattr(math_domain, "extract_answer", None) or last_boxed
    return extract, getattr(math_domain, "is_equivalent", None)


def count_clusters(keys: Sequence[Hashable], equivalent: Equivalence | None = None) -> int:
    """Distinct keys; with `equivalent`, greedy clustering of the distinct keys (each joins the first equivalent
    representative). None (no answer) is its own cluster and never equivalent to an answer."""
    distinct = list(dict.fromkeys(keys))
    if equivalent is None:
        return len(distinct)
    reps: list[Hashable] = []
    for k in distinct:
        if not any(k is not None and r is not None and equivalent(r, k) for r in reps):
            reps.append(k)
    return len(reps)


class _MemoEquivalence:
    """Remembers answer-pair judgements: answers repeat across samples and runs, and a check may cost a
    math-verify call in a worker process."""

    def __init__(self, fn: Equivalence):
        self.fn = fn
        self.memo: dict[tuple[Hashable, Hashable], bool] = {}

    def __call__(self, a: Hashable, b: Hashable) -> bool:
        key = (a, b)
        if key not in self.memo:
            self.memo[key] = bool(self.fn(a, b))
        return self.memo[key]


# ---- per-problem measures ----------------------------------------------------------------------------------


def pd_exact(forms: Sequence[str]) -> float:
    n = len(forms)
    if n < 2:
        raise AnalysisError("PD_exact needs at least 2 samples")
    same = sum(c * (c - 1) for c in Counter(forms).values())
    return 1.0 - same / (n * (n - 1))


def ngrams(text: str, size: int = 4) -> frozenset[tuple[str, ...]]:
    """Token n-grams; a text shorter than `size` tokens is one gram (its whole token sequence)."""
    toks = _TOKEN.findall(text)
    if len(toks) < size:
        return frozenset({tuple(toks)})
    return frozenset(zip(*(toks[i:] for i in range(size))))


def pd_lex(forms: Sequence[str], size: int = 4) -> float:
    if len(forms) < 2:
        raise AnalysisError("PD_lex needs at least 2 samples")
    return _pd_lex_grams(forms, {f: ngrams(f, size) for f in set(forms)})


def _pd_lex_grams(forms: Sequence[str], grams: dict[str, frozenset]) -> float:
    # identical forms are at distance 0: only pairs of distinct forms are computed, weighted by their counts
    n = len(forms)
    counts = Counter(forms)
    distinct = list(counts)
    total = 0.0
    for i, j in itertools.combinations(range(len(distinct)), 2):
        a, b = grams[distinct[i]], grams[distinct[j]]
        total += counts[distinct[i]] * counts[distinct[j]] * (1.0 - len(a & b) / len(a | b))
    return total / (n * (n - 1) / 2)


def pd_sem(n_clusters: int, n: int) -> float:
    if n < 2:
        raise AnalysisError("PD_sem needs at least 2 samples")
    return (n_clusters - 1) / (n - 1)


@dataclass(frozen=True)
class ProblemDiversity:
    problem_id: str
    n: int
    exact: float
    lex: float
    sem: float | None  # None when no semantic key is available (code without an output function)


@dataclass(frozen=True)
class DiversityMeasure:
    """Mean over problems with a percentile bootstrap CI over problems."""

    mean: float
    ci: tuple[float, float]
    n_problems: int


@dataclass(frozen=True)
class DiversitySummary:
    domain: DiversityDomain
    subset: Subset
    exact: DiversityMeasure | None  # None when no problem had >= 2 samples in the subset
    lex: DiversityMeasure | None
    sem: DiversityMeasure | None


@dataclass(frozen=True)
class _Features:
    form: str
    grams: frozenset[tuple[str, ...]]
    key: Hashable


class Diversity:
    """The per-domain measuring rules: canonical form and semantic clustering (injectable)."""

    def __init__(self, domain: DiversityDomain | str, semantic_key: SemanticKey | None = None,
                 equivalent: Equivalence | None = None):
        self.domain = DiversityDomain(domain)
        self.equivalent = equivalent
        if semantic_key is None:
            if self.domain is DiversityDomain.MATH:
                semantic_key, default_eq = _math_defaults()
                self.equivalent = equivalent or default_eq
            elif self.domain is DiversityDomain.LEAN:
                semantic_key = tactic_names
        self.semantic_key = semantic_key
        if self.equivalent is not None:
            self.equivalent = _MemoEquivalence(self.equivalent)

    def features(self, completion: str) -> _Features:
        """Canonical form, its 4-grams and its semantic key (computed once per record, shared by the subsets)."""
        form = canonical(completion, self.domain)
        key = self.semantic_key(completion) if self.semantic_key is not None else None
        return _Features(form, ngrams(form), key)

    def problem(self, problem_id: str, completions: Sequence[str]) -> ProblemDiversity | None:
        """The three measures for one problem; None when it has fewer than 2 samples."""
        return self._from_features(problem_id, [self.features(c) for c in completions])

    def _from_features(self, problem_id: str, feats: Sequence[_Features]) -> ProblemDiversity | None:
        n = len(feats)
        if n < 2:
            return None
        forms = [f.form for f in feats]
        sem = None
        if self.semantic_key is not None:
            sem = pd_sem(count_clusters([f.key for f in feats], self.equivalent), n)
        return ProblemDiversity(problem_id, n, pd_exact(forms), _pd_lex_grams(forms, {f.form: f.grams for f in feats}),
                                sem)

    def records(self, records: Sequence[EvalRecord], subset: Subset = Subset.ALL) -> list[ProblemDiversity]:
        return self.records_by_subset(records, (subset,))[subset]

    def records_by_subset(self, records: Sequence[EvalRecord], subsets: Sequence[Subset] = tuple(Subset)
                          ) -> dict[Subset, list[ProblemDiversity]]:
        out: dict[Subset, list[ProblemDiversity]] = {s: [] for s in subsets}
        with _gc_paused():
            self._fill(records, subsets, out)
        return out

    def _fill(self, records: Sequence[EvalRecord], subsets: Sequence[Subset],
              out: dict[Subset, list[ProblemDiversity]]) -> None:
        for r in records:
            if len(r.completions) < 2:
                continue
            feats = [self.features(c) for c in r.completions]
            for subset in subsets:
                fs = feats if subset is Subset.ALL else [f for f, ok in zip(feats, r.correct) if ok]
                d = self._from_features(r.problem_id, fs)
                if d is not None:
                    out[subset].append(d)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of small tuples/sets make the cyclic GC rescan every loaded record again and again (it tripled
    the run time of this loop); it creates no reference cycles, so collection can wait until it ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _measure(values: Sequence[float], n_boot: int, seed: int) -> DiversityMeasure | None:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return None
    rng = np.random.default_rng(seed)
    reps = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return DiversityMeasure(float(v.mean()), (float(lo), float(hi)), int(v.size))


def summarize_diversity(per_problem: Sequence[ProblemDiversity], domain: DiversityDomain, subset: Subset,
                        n_boot: int = 1000, seed: int = 0) -> DiversitySummary:
    """Mean over problems with a bootstrap CI over problems. A problem sampled by several runs (seeds,
    conditions) is one unit: its runs' values are averaged first, so the CI resamples problems, not runs."""
    def per_unit(attr: str) -> list[float]:
        acc: dict[str, list[float]] = {}
        for p in per_problem:
            v = getattr(p, attr)
            if v is not None:
                acc.setdefault(p.problem_id, []).append(v)
        return [sum(v) / len(v) for v in acc.values()]

    return DiversitySummary(domain, subset, _measure(per_unit("exact"), n_boot, seed),
                            _measure(per_unit("lex"), n_boot, seed), _measure(per_unit("sem"), n_boot, seed))


def runs_diversity(runs: Sequence[RunInfo], domain: DiversityDomain | str | None = None,
                   semantic_key: SemanticKey | None = None, equivalent: Equivalence | None = None,
                   n_boot: int = 1000, seed: int = 0) -> list[DiversitySummary]:
    """Diversity per domain (the runs' own, or `domain` for all) and subset, over every run's eval samples."""
    by_domain: dict[DiversityDomain, list[EvalRecord]] = {}
    for run in runs:
        d = DiversityDomain(domain or run.domain)
        by_domain.setdefault(d, []).extend(run.eval_records())
    return diversity_by_domain(by_domain, semantic_key, equivalent, n_boot, seed)


def diversity_by_domain(records: dict[DiversityDomain, list[EvalRecord]], semantic_key: SemanticKey | None = None,
                        equivalent: Equivalence | None = None, n_boot: int = 1000,
                        seed: int = 0) -> list[DiversitySummary]:
    out = []
    for d in sorted(records, key=lambda x: x.value):
        rules = Diversity(d, semantic_key, equivalent)
        per_subset = rules.records_by_subset(records[d])
        for subset in Subset:
            out.append(summarize_diversity(per_subset[subset], d, subset, n_boot, seed))
    return out


def _fmt(m: DiversityMeasure | None) -> str:
    return "—" if m is None else f"{m.mean:.3f} [{m.ci[0]:.3f}, {m.ci[1]:.3f}]"


def render_diversity_table(summaries: Sequence[DiversitySummary]) -> str:
    """Markdown: one row per domain × subset, the three measures side by side (mean [95% CI])."""
    lines = ["| Domain | Samples | Problems | PD_exact | PD_lex | PD_sem |", "|---|---|---|---|---|---|"]
    for s in summaries:
        n = s.exact.n_problems if s.exact else 0
        lines.append(f"| {s.domain.value} | {s.subset.value} | {n} | {_fmt(s.exact)} | {_fmt(s.lex)} | {_fmt(s.sem)} |")
    return "\n".join(lines)
