"""The report's comparability check: runs evaluated differently are not compared unless told to (then on their
shared problems, said under the table); different training volumes are flagged; examples and optimizer steps
per row are printed."""

from __future__ import annotations

import json

import numpy as np

from formalpi.analysis.report import ReportOptions, render_condition_table, write_report
from formalpi.analysis.synthetic import eval_records, write_run

SEEDS = (1, 2, 3)


def _correct(solved: int, problems: int, n: int = 2) -> np.ndarray:
    flat = np.zeros(problems * n, bool)
    flat[:solved] = True
    return flat.reshape(problems, n)


def _baseline(root, problems: int = 10, solved: int = 10):
    # the first 5 problems solved in both samples: pass@1 50 % on all 10 problems, 100 % on the first 5
    for s in SEEDS:
        write_run(
            root,
            "baseline",
            s,
            eval_records(_correct(solved, problems), seed=s, condition="baseline"),
            method="baseline",
        )


def test_runs_evaluated_on_other_problems_are_not_compared_unless_told(tmp_path):
    root = tmp_path / "runs"
    _baseline(root)
    for s in SEEDS:  # gold evaluated on the first 5 problems only
        write_run(root, "gold", s, eval_records(_correct(8, 5), seed=s, condition="gold"), condition="gold")
    table = render_condition_table([root], n_boot=200)
    assert "| gold |" not in table  # not compared ...
    assert (
        "not compared: evaluated unlike the baseline's evaluation (eval problems: 5 vs the reference's 10, 5 shared)"
        in table
        and "--allow-different-eval" in table
    )  # ... and said why, with the fix
    assert "| baseline (pass@1) | 3 | 50.0 +/- 0.0" in table
    allowed = render_condition_table([root], n_boot=200, allow_different_eval=True)
    # told to: every row on the 5 shared problems, the baseline included (100 %, not its 50 % over 10), and said
    assert "| baseline (pass@1) | 3 | 100.0 +/- 0.0" in allowed
    assert "| gold | 3 | -20.0 +/- 0.0" in allowed
    assert (
        "compared although evaluated unlike the baseline's evaluation (--allow-different-eval): gold seed 1" in allowed
        and "computed on the 5 eval problems all compared runs share" in allowed
    )


def test_runs_evaluated_with_other_settings_are_not_compared(tmp_path):
    root = tmp_path / "runs"
    _baseline(root)
    for s in SEEDS:
        store = write_run(root, "gold", s, eval_records(_correct(12, 10), seed=s, condition="gold"), condition="gold")
        manifest = json.loads(store.manifest_path.read_text())
        manifest["config"]["eval"]["temperature"] = 0.0  # greedy eval against a sampled baseline
        store.manifest_path.write_text(json.dumps(manifest))
    table = render_condition_table([root], n_boot=200)
    assert "| gold |" not in table and "eval.temperature = 0.0 vs 1.0" in table
    assert "| gold | 3 | +10.0" in render_condition_table([root], n_boot=200, allow_different_eval=True)


def test_different_training_volumes_are_flagged_and_printed_per_row(tmp_path):
    root = tmp_path / "runs"
    _baseline(root)
    for cond, steps in (("gold", 40), ("try_again", 10)):
        for s in SEEDS:
            store = write_run(root, cond, s, eval_records(_correct(12, 10), seed=s, condition=cond), condition=cond)
            store.mark_done("train_r0", examples=16 * steps, steps=steps)
    table = render_condition_table([root], n_boot=200)
    assert "TRAINING VOLUME DIFFERS: optimizer steps per seed: gold 40, try_again 10" in table
    text = write_report([root], opts=ReportOptions(n_boot=200, plots=False)).read_text()
    assert "### Training volume and manipulation checks" in text
    assert "| gold | " in text and "| 40, 40, 40 |" in text and "| 10, 10, 10 |" in text
    # equal volumes: no flag
    for s in SEEDS:
        write_run(
            tmp_path / "eq", "gold", s, eval_records(_correct(12, 10), seed=s, condition="gold"), condition="gold"
        ).mark_done("train_r0", steps=10)
        write_run(
            tmp_path / "eq",
            "try_again",
            s,
            eval_records(_correct(12, 10), seed=s, condition="try_again"),
            condition="try_again",
        ).mark_done("train_r0", steps=10)
    assert "TRAINING VOLUME" not in render_condition_table([tmp_path / "eq"], n_boot=200)


def test_report_and_demo_use_the_same_bootstrap_draws():
    import inspect

    from formalpi.analysis import N_BOOT
    from formalpi.demo import demo_tables

    assert ReportOptions().n_boot == N_BOOT == inspect.signature(demo_tables).parameters["n_boot"].default
