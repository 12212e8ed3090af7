"""Path diversity on hand-made sample sets, values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from formalpi.analysis.diversity import (
    Diversity, DiversityDomain, Subset, canonical, diversity_by_domain, last_boxed, ngrams, pd_exact, pd_lex,
    render_diversity_table, runs_diversity, strip_lean_comments, tactic_names)
from formalpi.analysis.runs_index import discover_runs
from formalpi.analysis.synthetic import eval_records, write_run
from formalpi.records import EvalRecord

MATH = ["x = 2 \\boxed{2}", "x  =\n2   \\boxed{2}", "y = 3 \\boxed{3}"]
LEAN = ["theorem t : 1 = 1 := by\n  -- trivial\n  rfl",
        "```lean\ntheorem t : 1 = 1 := by /- block /- nested -/ -/ rfl\n```",
        "theorem t : 1 = 1 := by\n  norm_num\n  simp"]
CODE = ["def f(x):\n    return x+1", "```python\ndef f(x):  return (x + 1)\n```", "def f(x):\n    return 1 + x"]


def test_pd_exact_and_lex_by_hand():
    assert pd_exact(["a", "a", "b"]) == pytest.approx(1 - 2 / 6)
    assert pd_exact(["a", "b", "c", "d"]) == 1.0
    assert pd_exact(["a", "a"]) == 0.0
    # 4-grams {abcd, bcde} vs {abcd, bcdf}: Jaccard 1/3
    assert pd_lex(["a b c d e", "a b c d f"]) == pytest.approx(2 / 3)
    # short texts are one gram: identical -> 0, different -> 1; mean over the 3 pairs = 2/3
    assert pd_lex(["a b", "a b", "a c"]) == pytest.approx(2 / 3)
    assert ngrams("a b c d e") == {("a", "b", "c", "d"), ("b", "c", "d", "e")}


def test_math_problem_by_hand():
    d = Diversity("math", semantic_key=last_boxed)
    p = d.problem("q", MATH)
    assert canonical(MATH[1], DiversityDomain.MATH) == "x = 2 \\boxed{2}"
    assert p.exact == pytest.approx(2 / 3)
    assert p.lex == pytest.approx(2 / 3)  # the "y = 3" sample shares no 4-gram with the others
    assert p.sem == pytest.approx(0.5)  # answers {2, 2, 3}: K = 2, (2-1)/(3-1)
    # an injected equivalence merges 2 and 2.0
    eq = Diversity("math", semantic_key=last_boxed, equivalent=lambda a, b: float(a) == float(b))
    assert eq.problem("q", ["\\boxed{2}", "\\boxed{2.0}", "\\boxed{5}"]).sem == pytest.approx(0.5)
    assert last_boxed("so \\boxed{\\frac{1}{2}} done") == "\\frac{1}{2}"
    assert last_boxed("no answer") is None


def test_lean_problem_by_hand():
    assert strip_lean_comments("a /- x /- y -/ z -/ b -- c\nd") == "a  b \nd"
    assert [canonical(c, DiversityDomain.LEAN) for c in LEAN] == ["rfl", "rfl", "norm_num simp"]
    assert tactic_names(LEAN[2]) == ("norm_num", "simp")
    assert tactic_names("by\n  constructor <;> simp\n  · exact h") == ("constructor", "simp", "exact")
    p = Diversity("lean").problem("t", LEAN)
    assert p.exact == pytest.approx(2 / 3)
    assert p.sem == pytest.approx(0.5)


def test_code_problem_by_hand():
    assert canonical(CODE[0], DiversityDomain.CODE) == canonical(CODE[1], DiversityDomain.CODE)
    no_outputs = Diversity("code").problem("c", CODE)
    assert no_outputs.exact == pytest.approx(2 / 3) and no_outputs.sem is None
    same_outputs = Diversity("code", semantic_key=lambda c: (2, 3)).problem("c", CODE)
    assert same_outputs.sem == 0.0
    # unparsable code falls back to collapsed text instead of raising
    assert canonical("def f(:\n  pass", DiversityDomain.CODE) == "def f(: pass"


def test_correct_subset_and_summary():
    recs = [EvalRecord(problem_id="a", seed=1, condition="c", n=3, correct=[True, True, False], completions=MATH),
            EvalRecord(problem_id="b", seed=1, condition="c", n=2, correct=[True, False],
                       completions=["\\boxed{1}", "\\boxed{2}"])]
    rules = Diversity("math", semantic_key=last_boxed)
    assert [p.problem_id for p in rules.records(recs, Subset.CORRECT)] == ["a"]  # b has 1 correct sample
    assert rules.records(recs, Subset.CORRECT)[0].exact == 0.0  # the two correct samples are the same
    out = diversity_by_domain({DiversityDomain.MATH: recs}, semantic_key=last_boxed, n_boot=200)
    all_, correct = out
    assert all_.exact.mean == pytest.approx((2 / 3 + 1.0) / 2) and all_.exact.n_problems == 2
    rng = np.random.default_rng(0)  # same bootstrap draw as the implementation
    v = np.array([2 / 3, 1.0])
    reps = v[rng.integers(0, 2, size=(200, 2))].mean(axis=1)
    assert all_.exact.ci == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])))
    assert correct.exact.mean == 0.0 and correct.exact.ci == (0.0, 0.0)
    table = render_diversity_table(out)
    assert "| math | correct | 1 | 0.000 [0.000, 0.000]" in table


def test_runs_diversity_and_cli(tmp_path):
    for seed in (1, 2):
        recs = eval_records(np.array([[1, 1, 0]] * 3, bool), seed=seed, condition="gold", completions=[LEAN] * 3)
        write_run(tmp_path / "runs", "lean_gold", seed, recs, condition="gibberish", domain="lean")
    out = runs_diversity(discover_runs([tmp_path / "runs"]))
    assert out[0].domain is DiversityDomain.LEAN and out[0].exact.n_problems == 3  # 3 problems x 2 seeds: 3 units
    assert out[0].exact.mean == pytest.approx(2 / 3) and out[0].sem.mean == pytest.approx(0.5)
    from formalpi.cli import app

    res = CliRunner().invoke(app, ["diversity", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    assert "lean" in res.output and "0.667" in res.output
    res = CliRunner().invoke(app, ["diversity", str(tmp_path / "runs"), "--domain", "prose"])
    assert res.exit_code != 0
