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
import itertools
import re
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
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
    """Distinct keys; with `equivalent`, greedy clustering (each key joins the first equivalent representative)."""
    if equivalent is None:
        return len(set(keys))
    reps: list[Hashable] = []
    for k in keys:
        if not any(k == r or (k is not None and r is not None and equivalent(k, r)) for r in reps):
            reps.append(k)
    return len(reps)


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
    return frozenset(tuple(toks[i:i + size]) for i in range(len(toks) - size + 1))


def pd_lex(forms: Sequence[str], size: int = 4) -> float:
    n = len(forms)
    if n < 2:
        raise AnalysisError("PD_lex needs at least 2 samples")
    grams = [ngrams(f, size) for f in forms]
    dist = [1.0 - len(a & b) / len(a | b) for a, b in itertools.combinations(grams, 2)]
    return float(np.mean(dist))


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

    def problem(self, problem_id: str, completions: Sequence[str]) -> ProblemDiversity | None:
        """The three measures for one problem; None when it has fewer than 2 samples."""
        if len(completions) < 2:
            return None
        forms = [canonical(c, self.domain) for c in completions]
        sem = None
        if self.semantic_key is not None:
            keys = [self.semantic_key(c) for c in completions]
            sem = pd_sem(count_clusters(keys, self.equivalent), len(completions))
        return ProblemDiversity(problem_id, len(completions), pd_exact(forms), pd_lex(forms), sem)

    def records(self, records: Sequence[EvalRecord], subset: Subset = Subset.ALL) -> list[ProblemDiversity]:
        out = []
        for r in records:
            comps = r.completions
            if subset is Subset.CORRECT:
                comps = [c for c, ok in zip(comps, r.correct) if ok]
            d = self.problem(r.problem_id, comps)
            if d is not None:
                out.append(d)
        return out


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
    sems = [p.sem for p in per_problem if p.sem is not None]
    return DiversitySummary(domain, subset, _measure([p.exact for p in per_problem], n_boot, seed),
                            _measure([p.lex for p in per_problem], n_boot, seed), _measure(sems, n_boot, seed))


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
        for subset in Subset:
            out.append(summarize_diversity(rules.records(records[d], subset), d, subset, n_boot, seed))
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
