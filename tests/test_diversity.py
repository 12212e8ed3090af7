"""Path diversity: paths per domain, the measure's two anchors (same path → 0, no shared step → 1), and the per
condition summary, on hand-made solutions with values computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from formalpi.analysis.diversity import (
    Diversity,
    DiversityDomain,
    canonical,
    ngrams,
    pd_lex,
    pd_path,
    render_diversity_table,
    rows_diversity,
    runs_diversity,
)
from formalpi.analysis.reasoning_paths import code_path, lean_path, math_path, path_similarity
from formalpi.analysis.runs_index import discover_runs
from formalpi.analysis.stats import AnalysisError
from formalpi.analysis.synthetic import eval_records, write_run
from formalpi.records import EvalRecord

MATH500 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "math500.jsonl"


# ---- the measure ---------------------------------------------------------------------------------------------


def test_identical_paths_give_0_and_disjoint_paths_give_1():
    p = ("a", "b", "c")
    assert pd_path([p, p]) == 0.0 and pd_path([p, p, p, p]) == 0.0
    assert pd_path([("a", "b"), ("c", "d")]) == 1.0
    assert pd_path([("a",), ("b",), ("c",)]) == 1.0
    # half the steps shared: sim = 2*2/(4+4) = 0.5
    assert pd_path([("a", "b", "x", "y"), ("a", "b", "z", "w")]) == pytest.approx(0.5)
    # N = 3, two identical (sim 1) and one disjoint (sim 0 twice): 1 - (1 + 0 + 0)/3
    assert pd_path([("a",), ("a",), ("b",)]) == pytest.approx(2 / 3)
    assert path_similarity((), ()) == 1.0 and path_similarity(("a",), ()) == 0.0
    with pytest.raises(AnalysisError, match="at least 2"):
        pd_path([p])


@pytest.mark.parametrize(
    "domain,same,disjoint",
    [
        (
            "math",
            ["2*4-2*8=8-2*8=8-16=-6. \\boxed{-6}", "So  2*4 - 2*8 = 8 - 2*8 = 8-16 = -6, giving $\\boxed{-6}$."],
            ["$2^2\\cdot 7^2 = 4 \\cdot 49 = 196$ \\boxed{196}", "We get 14*14=196 \\boxed{196}"],
        ),
        (
            "code",
            [
                "def f(x):\n    total = 0\n    for i in range(x):\n        total += i\n    return total",
                "```python\ndef g(n):\n    # sum below n\n    s = 0\n    for k in range(n):\n        s += k\n    return s\n```",
            ],
            ["def f(x):\n    return sum(range(x))", "import math\nwhile True:\n    break"],
        ),
        (
            "lean",
            ["theorem t : 2 + 2 = 4 := by\n  -- compute\n  norm_num", "theorem t : 2 + 2 = 4 := by norm_num"],
            [
                "theorem t : 2 + 2 = 4 := by\n  have h : (2:ℕ) + 2 = 4 := rfl\n  exact h",
                "theorem t : 2 + 2 = 4 := by decide",
            ],
        ),
    ],
)
def test_anchors_hold_in_every_domain(domain, same, disjoint):
    """Solutions that differ only in wording/names/comments are one path (0); solutions with no step in common are
    at 1. The same formula in every domain: the domains are comparable by construction."""
    rules = Diversity(domain)
    assert same[0] != same[1]  # different texts ...
    assert rules.path(same[0]) == rules.path(same[1]) and rules.path(same[0])  # ... one (non-empty) path
    assert rules.problem("p", same).path == 0.0
    assert rules.problem("p", disjoint).path == 1.0


def test_two_different_texts_are_not_maximally_diverse():
    """The old PD_exact was 1.0 for any two non-identical texts; PD_path grades by the steps two paths share."""
    a = "(13+14)*4=27*4=108. \\boxed{108}"
    b = "(13+14)*4 = 27*4, and 27*4 = 100+8 = 108 \\boxed{108}"
    d = Diversity("math")
    assert math_path(a) == ("(13+14)*4", "27*4")  # the answer (108) is where the path leads, not a step
    assert math_path(b) == ("(13+14)*4", "27*4", "100+8")
    # aligned steps: 2 of 2 and 3 -> sim = 2*2/5
    assert d.problem("p", [a, b]).path == pytest.approx(1 - 4 / 5)


def test_pd_lex_surface_control_by_hand():
    assert pd_lex(["a b c d e", "a b c d f"]) == pytest.approx(2 / 3)  # 4-grams {abcd,bcde} vs {abcd,bcdf}
    assert pd_lex(["a b", "a b", "a c"]) == pytest.approx(2 / 3)  # short texts are one gram
    assert ngrams("a b c d e") == {("a", "b", "c", "d"), ("b", "c", "d", "e")}


# ---- paths per domain ----------------------------------------------------------------------------------------


def test_math_paths_from_latex_and_plain_text():
    assert math_path("14+15=29. \\boxed{29}") == ("14+15",)
    assert math_path("14+15=29.") == ("14+15", "29")  # no boxed answer: every side is a step
    # the final answer is not a step; bare mentions ($x$, $5$) are not steps; \dfrac, \cdot, spacing unified
    assert math_path("Let $x$ be $5$. Then $x^2 = \\dfrac{50}{2}$ and $2 \\cdot x = 10$. \\boxed{25}") == (
        "x^2",
        "\\frac{50}{2}",
        "2*x",
        "10",
    )
    align = "\\begin{align*}\na &= b + c \\\\\n&= 2c\n\\end{align*}"
    assert math_path(align) == ("a", "b+c", "2c")
    assert math_path("No formulas at all, so the answer is \\boxed{7}.") == ()
    assert math_path("[asy]\ndraw((0,0)--(1,1));\n[/asy] so $1+1=2$") == ("1+1", "2")
    assert math_path("2*4-2*8=8-2*8=8-16=-6. \\boxed{-6}") == ("2*4-2*8", "8-2*8", "8-16")


@pytest.mark.skipif(not MATH500.exists(), reason=f"{MATH500} absent (shared test data)")
def test_math_path_of_a_math500_solution():
    row = json.loads(MATH500.read_text().splitlines()[0])
    assert math_path(row["solution"]) == ("r", "\\sqrt{0^2+3^2}", "3", "(0,3)", "\\frac{\\pi}{2}")


def test_code_path_is_the_normalised_ast_shape():
    a = "def f(xs):\n    '''doc'''\n    out = []\n    for x in xs:\n        if x > 0:\n            out.append(x)\n    return out"
    b = "def keep(values):\n    res = []\n    for v in values:\n        if v > 3:\n            res.append(v)\n    return res"
    c = "def f(xs):\n    return [x for x in xs if x > 0]"
    assert code_path(a) == code_path(b)  # names, docstring and constant values do not change the path
    # one step per statement, compound statements before their bodies; the docstring is not a step
    assert [s.split("(")[0] for s in code_path(a)] == ["FunctionDef", "Assign", "For", "If", "Expr", "Return"]
    assert "'append'" in code_path(a)[4]  # attribute names are kept
    # the comprehension shares only the def with the loop: sim = 2*1/(6+2) = 0.25
    assert pd_path([code_path(a), code_path(c)]) == pytest.approx(0.75)
    assert "sorted" in code_path("def f(x):\n    return sorted(x)")[1]  # builtins are part of the method
    assert code_path("def f(:\n  pass") == ("def f(:", "pass")  # unparsable: its lines


def test_lean_path_keeps_the_have_skeleton():
    a = "theorem t (a b : ℝ) : a^2 + b^2 ≥ 2*a*b := by\n  have h : 0 ≤ (a - b)^2 := sq_nonneg _\n  nlinarith [h]"
    b = "theorem t (a b : ℝ) : a^2 + b^2 ≥ 2*a*b := by\n  have key : 0 ≤ (a - b)^2 := by positivity\n  nlinarith [key]"
    c = "theorem t (a b : ℝ) : a^2 + b^2 ≥ 2*a*b := by\n  have h : 0 ≤ (a + b)^2 := sq_nonneg _\n  nlinarith [h]"
    assert lean_path(a) == ("have:0 ≤ (a - b)^2", "nlinarith") == lean_path(b)  # name and proof of the have dropped
    assert lean_path(c) == ("have:0 ≤ (a + b)^2", "nlinarith")  # a different claim is a different step
    assert pd_path([lean_path(a), lean_path(c)]) == pytest.approx(0.5)
    assert lean_path("by\n  constructor <;> simp\n  · exact h") == ("constructor", "simp", "exact")
    assert lean_path("by\n  simp /- x /- nested -/ y -/ -- c\n  ring") == ("simp", "ring")  # comments gone
    assert canonical("theorem t : 1 = 1 := by\n  -- c\n  rfl", DiversityDomain.LEAN) == "rfl"


# ---- per condition -------------------------------------------------------------------------------------------


def test_only_correct_solutions_count_and_summary_ci():
    sols = ["1+2=3 \\boxed{3}", "2+1=3 \\boxed{3}", "wrong 5 \\boxed{5}"]  # paths (1+2,) and (2+1,)
    recs = [
        EvalRecord(problem_id="a", seed=1, condition="c", n=3, correct=[True, True, False], completions=sols),
        EvalRecord(
            problem_id="b", seed=1, condition="c", n=2, correct=[True, False], completions=["\\boxed{1}", "\\boxed{2}"]
        ),
        EvalRecord(
            problem_id="c",
            seed=1,
            condition="c",
            n=2,
            correct=[True, True],
            completions=["3*3=9 \\boxed{9}", "3*3=9, yes \\boxed{9}"],
        ),
    ]
    vals = Diversity("math").records(recs)
    assert [(v.problem_id, v.n) for v in vals] == [("a", 2), ("c", 2)]  # b has one correct solution
    # a: paths (1+2,) and (2+1,): no shared step -> 1; c: the same path (3*3,) -> 0
    assert [v.path for v in vals] == pytest.approx([1.0, 0.0])
    [s] = rows_diversity({("math", "g", "cond"): [recs]}, n_boot=200)
    assert s.condition == "cond" and s.n_seeds == 1 and s.path.n_problems == 2
    assert s.path.mean == pytest.approx(0.5)
    rng = np.random.default_rng(0)  # the implementation's bootstrap draw
    reps = np.array([1.0, 0.0])[rng.integers(0, 2, size=(200, 2))].mean(axis=1)
    assert s.path.ci == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])))
    assert "| g | cond | 1 | 2 | 0.500 [" in render_diversity_table([s])


def test_per_condition_rows_never_pool_and_seeds_average_per_problem(tmp_path):
    same = ["2+2=4 \\boxed{4}"] * 2
    split = ["2+2=4 \\boxed{4}", "1+3=4 \\boxed{4}"]  # (2+2,) vs (1+3,): PD_path 1
    for seed in (1, 2):
        write_run(
            tmp_path / "runs",
            "baseline",
            seed,
            eval_records(np.ones((3, 2), bool), seed=seed, condition="baseline", completions=[same] * 3),
            method="baseline",
        )
        comps = [split] * 3 if seed == 1 else [same] * 3  # seed 1 diverse, seed 2 not: per problem (1 + 0)/2
        write_run(
            tmp_path / "runs",
            "gold",
            seed,
            eval_records(np.ones((3, 2), bool), seed=seed, condition="gold", completions=comps),
            condition="gold",
        )
    out = {s.condition: s for s in runs_diversity(discover_runs([tmp_path / "runs"]), n_boot=200)}
    assert set(out) == {"baseline", "gold"}
    assert out["baseline"].path.mean == 0.0 and out["baseline"].path.n_problems == 3
    assert out["gold"].path.mean == pytest.approx(0.5) and out["gold"].n_seeds == 2
    assert out["gold"].path.ci == pytest.approx((0.5, 0.5))
    # paired with the baseline on the 3 problems both measured: 0.5 - 0 each
    assert out["gold"].delta_path.mean == pytest.approx(0.5) and out["gold"].delta_path.n_problems == 3
    assert out["baseline"].delta_path is None
    assert "| +0.500 [+0.500, +0.500] (n=3) |" in render_diversity_table(list(out.values()))
    from formalpi.cli import app

    res = CliRunner().invoke(app, ["diversity", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    assert "gold" in res.output and "0.500" in res.output
    res = CliRunner().invoke(app, ["diversity", str(tmp_path / "runs"), "--domain", "prose"])
    assert res.exit_code != 0


# ---- the verified artifact and the per-domain null ------------------------------------------------------------


def test_paths_measure_the_verified_artifact():
    from formalpi.analysis.reasoning_paths import path_of

    # Lean: the verifier checks the LAST fenced block; an earlier draft block is not the proof
    lean = (
        "A first try:\n```lean4\ntheorem t : 1 = 1 := by\n  simp\n```\nBetter:\n"
        "```lean4\ntheorem t : 1 = 1 := by\n  have h : 1 = 1 := rfl\n  exact h\n```"
    )
    assert path_of("lean", lean) == ("have:1 = 1", "exact")
    # math: the think trace is not the solution; its expressions are not steps
    math = "<think>\ntry $3*3=9$ then $9+1=10$\n</think>\nWe have $2+2=4$, so $\\boxed{4}$."
    assert path_of("math", math) == ("2+2",)
    assert canonical(math, DiversityDomain.MATH) == "We have $2+2=4$, so $\\boxed{4}$."


def test_null_normalises_pd_path_per_domain_by_hand():
    # Lean proofs share tactic names across problems: the cross-problem null is below 1, and the row's PD_path is
    # read against it. Problems a, b, c with two correct proofs each; first proofs' paths: a (nlinarith),
    # b (norm_num, nlinarith), c (norm_num)
    def rec(pid, proofs):
        return EvalRecord(
            problem_id=pid,
            seed=1,
            condition="x",
            n=2,
            correct=[True, True],
            scores=[1.0, 1.0],
            completions=[f"```lean4\ntheorem {pid} : True := by\n  {p}\n```" for p in proofs],
        )

    recs = [
        rec("a", ["nlinarith", "norm_num"]),
        rec("b", ["norm_num\n  nlinarith", "norm_num\n  nlinarith"]),
        rec("c", ["norm_num", "simp"]),
    ]
    rules = Diversity("lean")
    # pairs (a,b): 2*1/3, (a,c): 0, (b,c): 2*1/3 -> mean sim 4/9 -> null 5/9
    assert rules.null(recs) == pytest.approx(5 / 9)
    [s] = rows_diversity({("lean", "g", "x"): [recs]}, n_boot=200)
    # PD_path per problem: a 1, b 0, c 1 -> mean 2/3; over the null: 2/3 / (5/9) = 1.2
    assert s.path.mean == pytest.approx(2 / 3) and s.null == pytest.approx(5 / 9)
    assert s.relative.mean == pytest.approx(1.2)
    assert "PD_path / null" in render_diversity_table([s]) and "0.556" in render_diversity_table([s])
