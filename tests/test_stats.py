"""Statistics on synthetic run stores with known answers, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from formalpi.analysis.runs_index import discover_runs
from formalpi.analysis.stats import (
    AnalysisError, CorrectnessMatrix, compare, compare_family, correctness_matrix, gain_summary, holm, mcnemar,
    mcnemar_seed, paired_bootstrap, pass1_summary, pass_at_k, summarize)
from formalpi.analysis.synthetic import eval_records, write_run
from formalpi.errors import RunStoreError

# 2 seeds x 4 problems x 2 samples: the known-answer store
BASE = {42: [[1, 0], [0, 0], [1, 1], [0, 1]], 123: [[1, 1], [0, 0], [1, 0], [0, 0]]}
GOLD = {42: [[1, 1], [1, 0], [1, 1], [0, 1]], 123: [[1, 1], [0, 1], [1, 1], [1, 0]]}


def _matrix(tmp_path, label, table, method="retry"):
    for seed, rows in table.items():
        write_run(tmp_path / "runs", label, seed, eval_records(np.array(rows, bool), seed=seed, condition=label,
                                                               levels=[1, 2, 3, 4]),
                  condition="try_again" if method == "baseline" else label, method=method)
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
        vals = [a[seed_idx[r, j], prob_idx[r, j, q]] - b[seed_idx[r, j], prob_idx[r, j, q]]
                for j in range(3) for q in range(40)]
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
    ref = sps.bootstrap((a, b), lambda x, y, axis=-1: np.mean(x - y, axis=axis), paired=True, n_resamples=4000,
                        method="percentile", random_state=0).confidence_interval
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
    assert fam[0].line().endswith(("overlaps at 95%", "separated at 95%"))
    with pytest.raises(AnalysisError, match="--reference"):
        compare_family({"gold": gold}, "try_again")


def test_mcnemar_matches_statsmodels_exact():
    a = np.array([1] * 30 + [0] * 10 + [1] * 12 + [0] * 3, bool)
    b = np.array([1] * 30 + [0] * 10 + [0] * 12 + [1] * 3, bool)
    ours = mcnemar(a, b)
    assert (ours.only_a, ours.only_b, ours.n) == (12, 3, 55)
    ref = sm_mcnemar([[30, 12], [3, 10]], exact=True)
    assert ours.p_value == pytest.approx(ref.pvalue)
    assert mcnemar(a, a).p_value == 1.0


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
    assert holm([]) == []


def test_pass_at_k_unbiased_estimator():
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(np.array([5]), np.array([2]), 2)[0] == pytest.approx(0.7)
    assert pass_at_k(np.array([5]), np.array([4]), 2)[0] == 1.0
    assert pass_at_k(np.array([5]), np.array([0]), 3)[0] == 0.0
    with pytest.raises(AnalysisError, match="eval.n >= 8"):
        pass_at_k(np.array([4]), np.array([1]), 8)


def test_misaligned_runs_give_clear_errors(tmp_path):
    m = CorrectnessMatrix("a", (1,), ("x",), (None,), np.ones((1, 1), int), np.ones((1, 1), int),
                          np.ones((1, 1), bool))
    other = CorrectnessMatrix("b", (2,), ("x",), (None,), np.ones((1, 1), int), np.ones((1, 1), int),
                              np.ones((1, 1), bool))
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
