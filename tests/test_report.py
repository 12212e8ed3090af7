"""The report on a synthetic nested store (runs/demo/<condition>/<seed>/) with hand-computed rows."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from formalpi.analysis.report import ReportOptions, render_condition_table, teacher_sees, write_report
from formalpi.analysis.runs_index import discover_runs
from formalpi.analysis.synthetic import eval_records, synthetic_store, write_run
from formalpi.analysis.tables import row_keys
from formalpi.errors import RunStoreError

# 10 problems, n=2; per seed the number of solved samples fixes pass@1 exactly
SEEDS = (42, 123, 456)
BASE_SOLVED = {42: 8, 123: 9, 456: 7}  # of 20 samples: 40%, 45%, 35%
GOLD_SOLVED = {42: 10, 123: 10, 456: 9}  # 50%, 50%, 45% -> gains +10, +5, +10


def _correct(k: int) -> np.ndarray:
    flat = np.zeros(20, bool)
    flat[:k] = True
    return flat.reshape(10, 2)


@pytest.fixture
def demo(tmp_path):
    root = tmp_path / "runs" / "demo"
    comps = [["x \\boxed{1}", "y \\boxed{2}"]] * 10
    for s in SEEDS:
        write_run(root, "baseline", s, eval_records(_correct(BASE_SOLVED[s]), seed=s, condition="baseline",
                                                     levels=[1, 2] * 5, completions=comps), method="baseline")
        write_run(root, "gold", s, eval_records(_correct(GOLD_SOLVED[s]), seed=s, condition="gold",
                                                 levels=[1, 2] * 5, completions=comps), condition="gold")
    return root


def test_condition_table_by_hand(demo):
    table = render_condition_table([demo], n_boot=200)
    lines = table.splitlines()
    assert lines[0] == "| Condition | Seeds | Mean +/- Std | 95% CI | Individual |"
    assert lines[2].startswith("| baseline (pass@1) | 3 | 40.0 +/- 5.0 | [27.6, 52.4] | 40.0, 45.0, 35.0 |")
    # gains +10, +5, +10: mean 8.3, std 2.9, t(2) CI 8.33 +/- 4.303*2.887/sqrt(3)
    assert lines[3] == "| gold | 3 | +8.3 +/- 2.9 | [+1.2, +15.5] | +10.0, +5.0, +10.0 |"
    assert "- gold vs baseline: +8.3 pp" in table and table.rstrip().endswith("at 95%")


def test_write_report_files_and_sections(demo, tmp_path):
    path = write_report([demo], opts=ReportOptions(n_boot=200))
    assert path == demo / "report.md"
    text = path.read_text()
    for section in ("### Conditions", "### Per level", "## Domain × model × method", "## What the teacher sees",
                    "## Path diversity", "![gains](gains.png)"):
        assert section in text
    assert "| gold | The failure bit and the gold final answer" in text
    for png in ("gains", "inverted_u", "levels", "retries", "diversity"):
        data = (demo / f"{png}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    # every pair of samples has different text and different answers: PD_exact = PD_sem = 1 on all samples
    assert "| math | all | 10 | 1.000 [1.000, 1.000] |" in text
    out = write_report([demo], tmp_path / "elsewhere", ReportOptions(n_boot=200, plots=False))
    assert out.exists() and not (tmp_path / "elsewhere" / "gains.png").exists()


def test_frontier_section_with_base_samples(tmp_path):
    synthetic_store(tmp_path / "runs", conditions=["gold", "try_again"], seeds=[1, 2], problems=60, n=4)
    text = write_report([tmp_path / "runs"], opts=ReportOptions(n_boot=200, plots=False)).read_text()
    assert "### Frontier bands" in text and "unsolved (n=" in text and "| try_again | pass@4 |" in text


def test_row_keys_tell_apart_same_condition(tmp_path):
    recs = eval_records(_correct(5), seed=1, condition="gold")
    write_run(tmp_path, "gold_k1", 1, recs, condition="gold", retries=1)
    write_run(tmp_path, "gold_k4", 1, recs, condition="gold", retries=4)
    write_run(tmp_path, "gold_opsd", 1, recs, condition="gold", method="opsd", retries=1)
    keys = sorted(row_keys(discover_runs([tmp_path])).values())
    assert keys == ["gold (opsd, K=1)", "gold (retry, K=1)", "gold (retry, K=4)"]


def test_teacher_sees_and_errors(tmp_path):
    assert teacher_sees("try_again").startswith("Only the failure bit")
    assert teacher_sees("no_such_condition") == "(not a registered condition)"
    with pytest.raises(RunStoreError, match="not a directory"):
        write_report([tmp_path / "missing"])


def test_cli_report_prints_table(demo, tmp_path):
    from formalpi.cli import app

    res = CliRunner().invoke(app, ["report", str(demo), "--out", str(tmp_path / "rep"), "--n-boot", "200",
                                   "--no-plots"])
    assert res.exit_code == 0, res.output
    assert "baseline (pass@1)" in res.output and "40.0, 45.0, 35.0" in res.output, res.output  # 80-col runner
    assert (tmp_path / "rep" / "report.md").exists()
    bad = CliRunner().invoke(app, ["report", str(demo), "--band-low", "0.9", "--band-high", "0.1"])
    assert bad.exit_code != 0 and "--band-low" in str(bad.exception)


def test_too_few_base_samples_skip_frontier_with_a_note(tmp_path):
    recs = eval_records(_correct(5), seed=1, condition="b")
    write_run(tmp_path, "baseline", 1, recs, method="baseline", base_records=eval_records(_correct(5), seed=1,
                                                                                         condition="base"))
    write_run(tmp_path, "gold", 1, eval_records(_correct(9), seed=1, condition="gold"), condition="gold")
    text = write_report([tmp_path], opts=ReportOptions(n_boot=200, plots=False)).read_text()
    assert "frontier bands skipped: base solve rates need >= 16" in text and "### Frontier bands" not in text
    assert "| gold | 1 | +20.0 +/- 0.0 | — | +20.0 |" in text  # one seed: no t interval
