"""Statistics on synthetic run stores with known answers, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from formalpi.analysis.runs_index import discover_runs
from formalpi.analysis.stats import (
    AnalysisError,
    BootstrapResult,
    Comparison,
    CorrectnessMatrix,
    Separation,
    compare,
    compare_family,
    correctness_matrix,
    gain_summary,
    holm,
    mcnemar,
    mcnemar_family,
    mcnemar_seed,
    paired_bootstrap,
    pass1_summary,
    pass_at_k,
    summarize,
)
from formalpi.analysis.synthetic import eval_records, write_run
from formalpi.errors import RunStoreError

# 2 seeds x 4 problems x 2 samples: the known-answer store
BASE = {42: [[1, 0], [0, 0], [1, 1], [0, 1]], 123: [[1, 1], [0, 0], [1, 0], [0, 0]]}
GOLD = {42: [[1, 1], [1, 0], [1, 1], [0, 1]], 123: [[1, 1], [0, 1], [1, 1], [1, 0]]}


def _matrix(tmp_path, label, table, method="retry"):
    for seed, rows in table.items():
        write_run(
            tmp_path / "runs",
            label,
            seed,
            eval_records(np.array(rows, bool), seed=seed, condition=label, levels=[1, 2, 3, 4]),
            condition="try_again" if method == "baseline" else label,
            method=method,
        )
    runs = [r for r in discover_runs([tmp_path / "runs"]) if r.condition == label]
    return correctness_matrix({r.seed: r.eval_records() for r in runs}, label)


def test_matrix_and_seed_summaries_from_store(tmp_path):
    base = _matrix(tmp_path, "baseline", BASE, method="baseline")
    gold = _matrix(tmp_path, "gold", GOLD)
    assert base.seeds == (42, 123) and base.problem_ids == ("p0", "p1", "p2", "p3")
    assert base.levels == (1, 2, 3, 4)
    np.testing.assert_array_equal(base.n_correct, [[1, 0, 2, 1], [2, 0, 1, 0]])
    # seed 42: (0.5+0+1+0.5)/4 = 50%; seed 123: (1+0+0.5+0)/4 = 37.5%
    s = pass1_summary(base)
    assert s.values == (50.0, 37.5)
    assert s.mean == pytest.approx(43.75)
    assert s.std == pytest.approx(np.std([50, 37.5], ddof=1))
    half = sps.t.ppf(0.975, 1) * s.std / np.sqrt(2)
    assert s.ci == pytest.approx((43.75 - half, 43.75 + half))
    # gold: seed 42 = (1+.5+1+.5)/4 = 75 -> +25 pp; seed 123 = (1+.5+1+.5)/4 = 75 -> +37.5 pp
    g = gain_summary(gold, base)
    assert g.values == (25.0, 37.5)


def test_single_seed_has_no_t_interval():
    s = summarize("x", [1], [3.0])
    assert s.ci is None and s.std == 0.0


def test_bootstrap_matches_direct_loop_reimplementation():
    rng = np.random.default_rng(7)
    a = rng.random((3, 40))
    b = rng.random((3, 40))
    res = paired_bootstrap(a, b, n_boot=300, seed=11)
    # independent: explicit loops over the same draws (seed indices, then problem indices)
    g = np.random.default_rng(11)
    seed_idx = g.integers(0, 3, size=(300, 3))
    prob_idx = g.integers(0, 40, size=(300, 3, 40))
    reps = []
    for r in range(300):
        vals = [
            a[seed_idx[r, j], prob_idx[r, j, q]] - b[seed_idx[r, j], prob_idx[r, j, q]]
            for j in range(3)
            for q in range(40)
        ]
        reps.append(100 * sum(vals) / len(vals))
    reps = np.array(reps)
    assert res.diff == pytest.approx(100 * (a - b).mean())
    assert res.ci == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])))
    p = min(1.0, 2 * min((1 + (reps <= 0).sum()) / 301, (1 + (reps >= 0).sum()) / 301))
    assert res.p_value == pytest.approx(p)


def test_single_seed_bootstrap_agrees_with_scipy():
    rng = np.random.default_rng(3)
    a = (rng.random(400) < 0.6).astype(float)
    b = (rng.random(400) < 0.5).astype(float)
    ours = paired_bootstrap(a[None], b[None], n_boot=4000, seed=0)
    ref = sps.bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.mean(x - y, axis=axis),
        paired=True,
        n_resamples=4000,
        method="percentile",
        random_state=0,
    ).confidence_interval
    # different draws, same distribution: percentile CIs agree to within Monte Carlo error (pp)
    assert ours.ci[0] == pytest.approx(100 * ref.low, abs=0.8)
    assert ours.ci[1] == pytest.approx(100 * ref.high, abs=0.8)
    assert ours.separated == (ref.low > 0 or ref.high < 0)


def test_compare_known_store_is_separated(tmp_path):
    base = _matrix(tmp_path, "baseline", BASE, method="baseline")
    gold = _matrix(tmp_path, "gold", GOLD)
    r = compare(gold, base, n_boot=500, seed=0)
    assert r.diff == pytest.approx(31.25)  # mean of +25 and +37.5
    assert r.n_seeds == 2 and r.n_problems == 4
    assert r.ci[0] <= r.diff <= r.ci[1]
    fam = compare_family({"baseline": base, "gold": gold}, "baseline", n_boot=500)
    assert len(fam) == 1 and "gold vs baseline: +31.2 pp" in fam[0].line()
    # every (seed, problem) difference is >= 0 (seed 42: .5 .5 0 0; seed 123: 0 .5 .5 .5): a replicate is <= 0 only
    # when it draws nothing but zero differences, P ~ 1/4*(1/2)^8 + 1/2*(1/2)^4*(1/4)^4 + ... ~ 0.1%, so the
    # bootstrap p is ~2/501 + 0.002 < 0.05 and the 2.5% quantile is > 0: the one right verdict is "separated"
    assert r.ci[0] > 0 and r.p_value < 0.01
    assert fam[0].separation is Separation.SEPARATED
    assert "separated at 95%" in fam[0].line()
    with pytest.raises(AnalysisError, match="--reference"):
        compare_family({"gold": gold}, "try_again")


def test_mcnemar_exact_by_hand_and_against_statsmodels():
    a = np.array([1] * 30 + [0] * 10 + [1] * 12 + [0] * 3, bool)
    b = np.array([1] * 30 + [0] * 10 + [0] * 12 + [1] * 3, bool)
    ours = mcnemar(a, b)
    assert (ours.only_a, ours.only_b, ours.n) == (12, 3, 55)
    # 15 discordant pairs, 3 the other way: p = 2 * P(Bin(15, 1/2) <= 3) = 2 * (1 + 15 + 105 + 455) / 2^15
    assert ours.p_value == pytest.approx(2 * 576 / 2**15)
    assert mcnemar(a, a).p_value == 1.0
    sm = pytest.importorskip("statsmodels.stats.contingency_tables", reason="statsmodels is a dev-only reference")
    assert ours.p_value == pytest.approx(sm.mcnemar([[30, 12], [3, 10]], exact=True).pvalue)


def test_mcnemar_seed_uses_first_samples(tmp_path):
    base = _matrix(tmp_path, "baseline", BASE, method="baseline")
    gold = _matrix(tmp_path, "gold", GOLD)
    r = mcnemar_seed(gold, base, 123)  # firsts: gold 1,0,1,1 vs base 1,0,1,0
    assert (r.only_a, r.only_b) == (1, 0)
    with pytest.raises(AnalysisError, match="no seed 7"):
        mcnemar_seed(gold, base, 7)


def test_holm_by_hand():
    # sorted p: .01 (x3 = .03), .02 (x2 = .04), .04 (x1 = .04), monotone
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    # monotone step: .03 x 2 = .06 < .04 x 3 = .12 is raised to .12; capped at 1
    assert holm([0.03, 0.04, 0.5]) == pytest.approx([0.09, 0.09, 0.5])
    assert holm([0.4, 0.6]) == pytest.approx([0.8, 0.8])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []
    with pytest.raises(AnalysisError, match=r"\[0, 1\]"):
        holm([1.5])


def test_holm_matches_statsmodels_on_random_families():
    multitest = pytest.importorskip("statsmodels.stats.multitest", reason="statsmodels is a dev-only reference")
    rng = np.random.default_rng(5)
    for m in (1, 2, 5, 17):
        p = rng.random(m) ** 3
        assert holm(list(p)) == pytest.approx(list(multitest.multipletests(p, method="holm")[1]))


def _single_seed(label, correct):
    c = np.asarray(correct, bool)[None, :]
    return CorrectnessMatrix(
        label,
        (1,),
        tuple(f"p{i}" for i in range(c.shape[1])),
        (None,) * c.shape[1],
        c.astype(int),
        np.ones_like(c, int),
        c,
    )


def test_the_issue_holm_case_says_overlaps():
    """+1.7 pp, CI [+0.3, +3.2], p=0.023, Holm p=0.092: the unadjusted interval excludes 0, the family does not."""
    r = BootstrapResult(diff=1.7, ci=(0.3, 3.2), p_value=0.023, n_boot=2000, n_seeds=3, n_problems=500, confidence=0.95)
    c = Comparison("gold", "baseline", r, p_holm=0.092, family_size=4)
    assert r.separated  # the old rule (unadjusted CI) called this separated
    assert c.separation is Separation.OVERLAPS
    line = c.line()
    assert "+1.7 pp, 95% paired-bootstrap CI [+0.3, +3.2]" in line and "p=0.023, Holm p=0.092" in line
    assert "overlaps at 95%" in line and "separated at" not in line
    assert Comparison("gold", "baseline", r, p_holm=0.023).separation is Separation.SEPARATED  # alone: separated


def test_family_verdicts_follow_holm_end_to_end():
    """100 problems, one seed; A gains 10 and loses 2 problems, B/C/D equal the baseline. Alone A would be
    separated (its CI excludes 0, p < .05); against a family of 4, Holm multiplies its p (the smallest) by 4."""
    base = np.zeros(100, bool)
    base[:50] = True
    a = base.copy()
    a[50:60] = True
    a[:2] = False
    mats = {
        "baseline": _single_seed("baseline", base),
        "A": _single_seed("A", a),
        **{k: _single_seed(k, base) for k in "BCD"},
    }
    fam = {c.condition: c for c in compare_family(mats, "baseline", n_boot=2000)}
    A = fam["A"]
    assert A.result.diff == pytest.approx(8.0) and A.result.ci[0] > 0 and 0.0125 < A.result.p_value < 0.05
    assert A.p_holm == pytest.approx(4 * A.result.p_value) and A.family_size == 4
    assert A.separation is Separation.OVERLAPS
    assert all(fam[k].separation is Separation.OVERLAPS and fam[k].result.diff == 0 for k in "BCD")
    alone = compare_family({"baseline": mats["baseline"], "A": mats["A"]}, "baseline", n_boot=2000)[0]
    assert alone.p_holm == alone.result.p_value and alone.separation is Separation.SEPARATED
    # a larger gain survives the family: 12 gained, 0 lost
    big = base.copy()
    big[50:62] = True
    fam2 = {c.condition: c for c in compare_family({**mats, "A": _single_seed("A", big)}, "baseline", n_boot=2000)}
    assert fam2["A"].p_holm < 0.05 and fam2["A"].separation is Separation.SEPARATED


def test_mcnemar_family_per_seed_with_holm(tmp_path):
    base = _matrix(tmp_path, "baseline", BASE, method="baseline")
    gold = _matrix(tmp_path, "gold", GOLD)
    same = _matrix(tmp_path, "same", BASE)
    fam = mcnemar_family({"baseline": base, "gold": gold, "same": same}, "baseline")
    assert [(t.condition, t.seed) for t in fam] == [("gold", 42), ("same", 42), ("gold", 123), ("same", 123)]
    got = {(t.condition, t.seed): t for t in fam}
    # seed 42 firsts: gold 1,1,1,0 vs base 1,0,1,0 -> 1 discordant pair for gold: p = 1 (binomial, n=1)
    assert (got["gold", 42].result.only_a, got["gold", 42].result.only_b) == (1, 0)
    assert got["gold", 42].result.p_value == 1.0 and got["same", 42].result.p_value == 1.0
    assert got["gold", 123].p_holm == 1.0
    with pytest.raises(AnalysisError, match="--reference"):
        mcnemar_family({"gold": gold}, "baseline")


def test_pass_at_k_unbiased_estimator():
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(np.array([5]), np.array([2]), 2)[0] == pytest.approx(0.7)
    assert pass_at_k(np.array([5]), np.array([4]), 2)[0] == 1.0
    assert pass_at_k(np.array([5]), np.array([0]), 3)[0] == 0.0
    with pytest.raises(AnalysisError, match="eval.n >= 8"):
        pass_at_k(np.array([4]), np.array([1]), 8)


def test_misaligned_runs_give_clear_errors(tmp_path):
    m = CorrectnessMatrix("a", (1,), ("x",), (None,), np.ones((1, 1), int), np.ones((1, 1), int), np.ones((1, 1), bool))
    other = CorrectnessMatrix(
        "b", (2,), ("x",), (None,), np.ones((1, 1), int), np.ones((1, 1), int), np.ones((1, 1), bool)
    )
    with pytest.raises(AnalysisError, match="no seed in common"):
        compare(m, other)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(RunStoreError, match="manifest.json: not valid JSON"):
        discover_runs([tmp_path])
    with pytest.raises(RunStoreError, match="no runs"):
        discover_runs([_empty(tmp_path)])


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    return d
