"""Frontier bands and per-level gains on a synthetic store with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from formalpi.analysis.frontier import (
    Bin,
    FrontierBand,
    base_solve_rates,
    frontier_deltas,
    group_base_rates,
    inverted_u,
    level_deltas,
    render_bin_table,
    render_u_table,
    u_band,
    u_contrast,
)
from formalpi.analysis.runs_index import discover_runs
from formalpi.analysis.stats import AnalysisError, CorrectnessMatrix, correctness_matrix, paired_bootstrap
from formalpi.analysis.synthetic import eval_records, write_run

LEVELS = [1, 2, 1, 2, 1, 2]
BASELINE = [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0]]
GOLD = [[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
# base model: 8 samples per seed, pooled to 16: rates 0, 0, 1/2, 1/2, 1, 1
BASE_SAMPLES = [[0] * 8, [0] * 8, [1, 0] * 4, [0, 1] * 4, [1] * 8, [1] * 8]


@pytest.fixture
def store(tmp_path):
    for seed in (1, 2):
        write_run(
            tmp_path,
            "baseline",
            seed,
            eval_records(np.array(BASELINE, bool), seed=seed, condition="b", levels=LEVELS),
            method="baseline",
            base_records=eval_records(np.array(BASE_SAMPLES, bool), seed=seed, condition="base", levels=LEVELS),
        )
        write_run(
            tmp_path,
            "gold",
            seed,
            eval_records(np.array(GOLD, bool), seed=seed, condition="gold", levels=LEVELS),
            condition="gold",
        )
    runs = discover_runs([tmp_path])
    mats = {
        lab: correctness_matrix({r.seed: r.eval_records() for r in runs if r.condition == lab}, lab)
        for lab in ("baseline", "gold")
    }
    return runs, mats


def test_base_rates_pool_seeds_and_bins(store):
    runs, _ = store
    rates = group_base_rates(runs).rates
    assert rates == {"p0": 0.0, "p1": 0.0, "p2": 0.5, "p3": 0.5, "p4": 1.0, "p5": 1.0}
    band = FrontierBand()
    assert [band.bin(r).value for r in rates.values()] == ["unsolved"] * 2 + ["frontier"] * 2 + ["saturated"] * 2
    narrow = FrontierBand(0.1, 0.9)
    assert (narrow.bin(0.05), narrow.bin(0.5), narrow.bin(0.95)) == (Bin.UNSOLVED, Bin.FRONTIER, Bin.SATURATED)
    with pytest.raises(AnalysisError, match="--band-low"):
        FrontierBand(0.9, 0.1)


def test_frontier_deltas_by_hand(store):
    runs, mats = store
    deltas = frontier_deltas(mats["gold"], mats["baseline"], group_base_rates(runs).rates, n_boot=300)
    got = {d.bin: d for d in deltas}
    assert [d.count for d in deltas] == [2, 2, 2]
    assert got["unsolved"].d_pass1.diff == pytest.approx(12.5)  # (1/4 + 0)/2 - 0
    assert got["frontier"].d_pass1.diff == pytest.approx(25.0)  # (3/4 + 1/2)/2 - (1/2 + 1/4)/2
    assert got["saturated"].d_pass1.diff == pytest.approx(12.5)  # 1 - (1 + 3/4)/2
    assert got["frontier"].baseline_pass1 == pytest.approx(37.5)
    assert got["unsolved"].k == 4  # pass@4 with n = 4 is "any correct"
    assert got["unsolved"].d_passk.diff == pytest.approx(50.0)
    assert got["frontier"].d_passk.diff == 0.0 and got["saturated"].d_passk.diff == 0.0
    # the CI is the paired bootstrap of the bin's columns
    ref = paired_bootstrap(mats["gold"].rate[:, 2:4], mats["baseline"].rate[:, 2:4], n_boot=300)
    assert got["frontier"].d_pass1.ci == ref.ci


def test_level_deltas_by_hand(store):
    _, mats = store
    deltas = level_deltas(mats["gold"], mats["baseline"], n_boot=200)
    assert [d.bin for d in deltas] == ["level 1", "level 2"]
    assert deltas[0].d_pass1.diff == pytest.approx(100 * (2 / 3 - 1 / 2))
    assert deltas[1].d_pass1.diff == pytest.approx(100 * (1 / 2 - 1 / 3))
    assert deltas[0].d_passk.diff == pytest.approx(100 / 3)
    assert deltas[1].d_passk.diff == 0.0
    table = render_bin_table(deltas)
    assert "| gold | pass@1 | +16.7 [" in table and "| gold | pass@4 | +33.3 [" in table
    assert "level 1 (n=3, base 50.0%)" in table


def test_base_rates_need_enough_samples(tmp_path):
    recs = eval_records(np.ones((2, 4), bool), seed=1, condition="base")
    with pytest.raises(AnalysisError, match="eval.n >= 16"):
        base_solve_rates(recs)
    # fallback: a baseline eval, cross-fitted: rates from its even-numbered samples (needs >= 16 of them), gains
    # against its odd-numbered ones. 32 samples: even ones 1,1,1,1,0,... (4 of 16), odd ones 0,0,... (0 of 16)
    write_run(
        tmp_path,
        "baseline",
        1,
        eval_records(np.array([[1, 0] * 4 + [0] * 24], bool), seed=1, condition="b"),
        method="baseline",
    )
    br = group_base_rates(discover_runs([tmp_path]))
    assert br.rates == {"p0": 0.25} and br.source.startswith("the baseline's even-numbered")
    assert br.baseline_by_seed[1][0].correct == [False] * 16
    write_run(
        tmp_path / "few", "baseline", 1, eval_records(np.ones((1, 16), bool), seed=1, condition="b"), method="baseline"
    )
    with pytest.raises(AnalysisError, match=r"half of the baseline's eval samples bin the problems \(here 8 per"):
        group_base_rates(discover_runs([tmp_path / "few"]))


def test_bands_from_the_baselines_own_samples_do_not_regress_to_the_mean(tmp_path):
    """No real effect: the condition draws from the same per-problem rates as the baseline (400 problems). Binning problems on the
    same baseline samples the gain is measured against made "unsolved" gain and "saturated" lose by construction
    (the baseline's pass@1 there is 0 and 1 exactly); cross-fitted, every band's gain CI covers 0."""
    rng = np.random.default_rng(0)
    p = rng.beta(0.5, 0.5, size=400)
    for seed in (1,):  # one seed, n = 32: the naive bins rest on 32 samples, the cross-fitted ones on 16 + 16
        write_run(
            tmp_path,
            "baseline",
            seed,
            eval_records(rng.random((400, 32)) < p[:, None], seed=seed, condition="b"),
            method="baseline",
        )
        write_run(
            tmp_path,
            "same",
            seed,
            eval_records(rng.random((400, 32)) < p[:, None], seed=seed, condition="same"),
            condition="gold",
        )
    runs = discover_runs([tmp_path])
    mats = {
        lab: correctness_matrix({r.seed: r.eval_records() for r in runs if r.condition == lab}, lab)
        for lab in ("baseline", "gold")
    }
    br = group_base_rates(runs)
    held_out = correctness_matrix(br.baseline_by_seed, "baseline")
    got = {d.bin: d for d in frontier_deltas(mats["gold"], held_out, br.rates, n_boot=500)}
    for name in ("unsolved", "frontier", "saturated"):
        lo, hi = got[name].d_pass1.ci
        assert lo <= 0 <= hi, (name, got[name].d_pass1)
    assert got["unsolved"].baseline_pass1 > 0 and got["saturated"].baseline_pass1 < 100  # held-out half
    # the same data binned on the samples it is measured against: the manufactured pattern the cross-fit removes
    # (measured: unsolved +0.9 pp [+0.3, +1.9], saturated -2.1 pp [-3.2, -1.1], both "separated" with no effect)
    naive_rates = {
        pid: rate
        for pid, rate in base_solve_rates([r for run in runs if run.is_baseline for r in run.eval_records()]).items()
    }
    naive = {d.bin: d for d in frontier_deltas(mats["gold"], mats["baseline"], naive_rates, n_boot=500)}
    assert naive["unsolved"].d_pass1.ci[0] > 0 and naive["saturated"].d_pass1.ci[1] < 0


def test_inverted_u_from_independent_base_samples_by_hand(store):
    runs, mats = store
    source, pts = inverted_u(mats["gold"], mats["baseline"], group_base_rates(runs).rates, n_boot=300)
    assert source.startswith("base solve-rate band")
    assert [p.bin for p in pts] == ["rate 0", "rate [0.5, 0.75)", "rate 1"] and [p.count for p in pts] == [2, 2, 2]
    # x: the baseline's pass@1 per bin (mean over seeds and the bin's problems); y: the gain over it
    assert [p.baseline.diff for p in pts] == pytest.approx([0.0, 37.5, 87.5])
    assert [p.gain.diff for p in pts] == pytest.approx([12.5, 25.0, 12.5])  # peaks in the middle band
    # the CIs are the paired bootstrap of each bin's columns
    ref = paired_bootstrap(mats["gold"].rate[:, 2:4], mats["baseline"].rate[:, 2:4], n_boot=300)
    assert pts[1].gain.ci == ref.ci and pts[1].baseline.ci[0] <= 37.5 <= pts[1].baseline.ci[1]
    table = render_u_table(pts)
    assert "| gold | rate [0.5, 0.75) | 2 | 37.5 [" in table and "| +25.0 [" in table


def test_inverted_u_falls_back_to_levels_without_base_samples(store):
    _, mats = store
    source, pts = inverted_u(mats["gold"], mats["baseline"], None, n_boot=200)
    assert source == "level" and [p.bin for p in pts] == ["level 1", "level 2"]
    assert [p.baseline.diff for p in pts] == pytest.approx([50.0, 100 / 3])
    assert [p.gain.diff for p in pts] == pytest.approx([100 / 6, 100 / 6])


def test_u_bands():
    assert [u_band(r) for r in (0.0, 0.1, 0.25, 0.6, 0.99, 1.0)] == [
        "rate 0",
        "rate (0, 0.25)",
        "rate [0.25, 0.5)",
        "rate [0.5, 0.75)",
        "rate [0.75, 1)",
        "rate 1",
    ]


def test_u_contrast_middle_minus_ends_by_hand(store):
    runs, mats = store
    u = u_contrast(mats["gold"], mats["baseline"], group_base_rates(runs).rates, n_boot=300)
    # bins by baseline pass@1: rate 0 (0 %), rate [0.5, 0.75) (37.5 %), rate 1 (87.5 %): ends are the outer two
    assert u.ends == ("rate 0", "rate 1") and u.middle == ("rate [0.5, 0.75)",)
    assert u.result.diff == pytest.approx(25.0 - (12.5 + 12.5) / 2)  # = +12.5 pp
    # the weights make it a linear statistic: the bootstrap replicates are those of the weighted differences
    w = np.array([-1 / 4, -1 / 4, 1 / 2, 1 / 2, -1 / 4, -1 / 4])
    ref = paired_bootstrap(6 * w * mats["gold"].rate, 6 * w * mats["baseline"].rate, n_boot=300)
    assert u.result.ci == ref.ci and u.result.p_value == ref.p_value
    assert "middle (rate [0.5, 0.75)) − ends (rate 0, rate 1) = +12.5 pp" in u.line()
    assert u_contrast(mats["gold"], mats["baseline"], None) is None  # 2 levels: no middle


def test_u_contrast_finds_a_planted_inverted_u_and_not_a_flat_one():
    """Levels 1-5 with baseline pass@1 90/70/50/30/10 %: a condition gaining +20 pp at level 3 only is an inverted
    U; one gaining +10 pp everywhere is not (its contrast is 0)."""
    rng = np.random.default_rng(1)
    P, S, n = 200, 3, 8
    levels = tuple(int(x) for x in np.repeat([1, 2, 3, 4, 5], P // 5))
    p_base = np.repeat([0.9, 0.7, 0.5, 0.3, 0.1], P // 5)

    def mat(label, p):
        c = rng.random((S, P, n)) < p[None, :, None]
        return CorrectnessMatrix(
            label, tuple(range(S)), tuple(f"q{i}" for i in range(P)), levels, c.sum(-1), np.full((S, P), n), c[..., 0]
        )

    base = mat("baseline", p_base)
    peak = mat("peak", p_base + np.where(np.array(levels) == 3, 0.2, 0.0))
    flat = mat("flat", np.clip(p_base + 0.1, 0, 1))
    up = u_contrast(peak, base, None, n_boot=1000)
    uf = u_contrast(flat, base, None, n_boot=1000)
    assert up.ends == ("level 1", "level 5") and up.middle == ("level 2", "level 3", "level 4")
    assert up.result.ci[0] > 0 and up.verdict == "inverted U"
    assert uf.result.ci[0] <= 0 <= uf.result.ci[1] and uf.verdict == "no inverted U shown"
    from dataclasses import replace

    assert replace(up, p_holm=min(1.0, 20 * up.result.p_value) + 0.05).verdict == "no inverted U shown"  # Holm
