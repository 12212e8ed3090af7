"""The report on a synthetic nested store (runs/demo/<condition>/<seed>/) with hand-computed rows."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from formalpi.analysis.report import NOT_RECORDED, ReportOptions, render_condition_table, teacher_sees, write_report
from formalpi.analysis.runs_index import discover_runs
from formalpi.analysis.synthetic import eval_records, synthetic_store, write_run
from formalpi.analysis.tables import row_keys
from formalpi.engine.conditions import get_condition
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
        write_run(
            root,
            "baseline",
            s,
            eval_records(_correct(BASE_SOLVED[s]), seed=s, condition="baseline", levels=[1, 2] * 5, completions=comps),
            method="baseline",
        )
        shown = {"name": "gold", "description": get_condition("gold", "math").description}  # as the engine records it
        write_run(
            root,
            "gold",
            s,
            eval_records(_correct(GOLD_SOLVED[s]), seed=s, condition="gold", levels=[1, 2] * 5, completions=comps),
            condition="gold",
            manifest_extra={"condition": shown},
        )
    return root


def test_condition_table_by_hand(demo):
    table = render_condition_table([demo], n_boot=200)
    lines = table.splitlines()
    assert lines[0] == "| Condition | Seeds | Mean +/- Std | 95% CI (t over seeds) | Individual |"
    assert lines[2].startswith("| baseline (pass@1) | 3 | 40.0 +/- 5.0 | [27.6, 52.4] | 40.0, 45.0, 35.0 |")
    # gains +10, +5, +10: mean 8.3, std 2.9, t(2) CI 8.33 +/- 4.303*2.887/sqrt(3)
    assert lines[3] == "| gold | 3 | +8.3 +/- 2.9 | [+1.2, +15.5] | +10.0, +5.0, +10.0 |"
    assert "- gold vs baseline: +8.3 pp, 95% paired-bootstrap CI [" in table
    assert table.rstrip().endswith("over 1): separated at 95%")


def test_write_report_files_and_sections(demo, tmp_path):
    path = write_report([demo], opts=ReportOptions(n_boot=200))
    assert path == demo / "report.md"
    text = path.read_text()
    for section in (
        "### Conditions",
        "### McNemar per seed",
        "### Per level",
        "### Inverted U (bins: level",
        "## Domain × model × method",
        "## What the teacher sees",
        "## Path diversity",
        "![gains](gains.png)",
    ):
        assert section in text
    assert "| gold | The failure bit and the gold final answer" in text
    assert "A seed varies sampling" in text and "the train and eval problems are the same for every seed" in text
    assert not (demo / "retries.png").exists()  # every row has K = 1: nothing to plot against K
    for png in ("gains", "inverted_u", "levels", "diversity"):
        data = (demo / f"{png}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        assert (demo / f"{png}.svg").read_text().lstrip().startswith("<?xml")
        assert (demo / f"{png}.pdf").read_bytes()[:5] == b"%PDF-"
    # correct solutions only, per condition: "x \boxed{1}" and "y \boxed{2}" differ in words but hold no
    # formula, so their paths are both empty: PD_path 0 while the surface control PD_lex is 1. Problems with 2
    # correct samples on some seed: gold 5 (10, 10, 9 solved of 20), baseline 4 (8, 9, 7)
    assert (
        "| math / tiny / arith | gold | 3 | 5 | 0.000 [0.000, 0.000] | +0.000 [+0.000, +0.000] (n=4) | "
        "1.000 [1.000, 1.000] |" in text
    )
    assert "| math / tiny / arith | baseline | 3 | 4 | 0.000 [0.000, 0.000] | — | 1.000 [1.000, 1.000] |" in text
    out = write_report([demo], tmp_path / "elsewhere", ReportOptions(n_boot=200, plots=False))
    assert out.exists() and not (tmp_path / "elsewhere" / "gains.png").exists()


def test_frontier_section_with_base_samples(tmp_path):
    synthetic_store(tmp_path / "runs", conditions=["gold", "try_again"], seeds=[1, 2], problems=60, n=4)
    text = write_report([tmp_path / "runs"], opts=ReportOptions(n_boot=200, plots=False)).read_text()
    assert "### Frontier bands" in text and "unsolved (n=" in text and "| try_again | pass@4 |" in text
    # base_eval samples: the inverted U is binned by base solve-rate band, with one contrast line per condition
    assert "### Inverted U (bins: base solve-rate band (rates from independent base samples (base_eval))" in text
    assert "- gold: middle (" in text and "- try_again: middle (" in text


def test_row_keys_tell_apart_same_condition(tmp_path):
    recs = eval_records(_correct(5), seed=1, condition="gold")
    write_run(tmp_path, "gold_k1", 1, recs, condition="gold", retries=1)
    write_run(tmp_path, "gold_k4", 1, recs, condition="gold", retries=4)
    write_run(tmp_path, "gold_opsd", 1, recs, condition="gold", method="opsd", retries=1)
    keys = sorted(row_keys(discover_runs([tmp_path])).values())
    assert keys == ["gold (opsd, K=0)", "gold (retry, K=1)", "gold (retry, K=4)"]  # OPSD makes no retries


def test_teacher_sees_what_the_runs_recorded_and_errors(tmp_path):
    """The report reads the description each run's manifest recorded; runs written before that record say so."""
    recorded = {"gold": "The failure bit and the gold final answer"}
    assert teacher_sees("gold", recorded) == recorded["gold"]
    assert teacher_sees("try_again", recorded) == NOT_RECORDED
    assert teacher_sees("baseline", {}).startswith("— (the base model")
    old = write_run(tmp_path / "old", "try", 1, eval_records(_correct(3), seed=1, condition="try_again"))
    assert "condition" not in old.manifest()  # a manifest from before the record
    assert (
        f"| try_again | {NOT_RECORDED} |"
        in write_report([tmp_path / "old"], opts=ReportOptions(n_boot=50, plots=False)).read_text()
    )
    with pytest.raises(RunStoreError, match="not a directory"):
        write_report([tmp_path / "missing"])


def test_cli_report_prints_table(demo, tmp_path):
    from formalpi.cli import app

    res = CliRunner().invoke(
        app, ["report", str(demo), "--out", str(tmp_path / "rep"), "--n-boot", "200", "--no-plots"]
    )
    assert res.exit_code == 0, res.output
    assert "baseline (pass@1)" in res.output and "40.0, 45.0, 35.0" in res.output, res.output  # 80-col runner
    assert (tmp_path / "rep" / "report.md").exists()
    bad = CliRunner().invoke(app, ["report", str(demo), "--band-low", "0.9", "--band-high", "0.1"])
    assert bad.exit_code != 0 and "--band-low" in str(bad.exception)


def test_too_few_base_samples_skip_frontier_with_a_note(tmp_path):
    recs = eval_records(_correct(5), seed=1, condition="b")
    write_run(
        tmp_path,
        "baseline",
        1,
        recs,
        method="baseline",
        base_records=eval_records(_correct(5), seed=1, condition="base"),
    )
    write_run(tmp_path, "gold", 1, eval_records(_correct(9), seed=1, condition="gold"), condition="gold")
    text = write_report([tmp_path], opts=ReportOptions(n_boot=200, plots=False)).read_text()
    assert "frontier bands skipped: base solve rates need >= 16" in text and "### Frontier bands" not in text
    assert "| gold | 1 | +20.0 +/- 0.0 | — | +20.0 |" in text  # one seed: no t interval


def test_results_json_and_csvs(demo, tmp_path):
    out = tmp_path / "rep"
    write_report([demo], out, ReportOptions(n_boot=200, plots=False))
    res = json.loads((out / "results.json").read_text())
    assert res["schema"] == "formalpi.results/1" and res["options"]["n_boot"] == 200
    [g] = res["groups"]
    rows = {r["key"]: r for r in g["rows"]}
    assert (
        rows["gold"]["values"] == pytest.approx([10.0, 5.0, 10.0])
        and rows["gold"]["ci_method"] == "student-t over seeds"
    )
    assert rows["gold"]["ci95"] == pytest.approx(
        [8.333 - 4.303 * 2.887 / 3**0.5, 8.333 + 4.303 * 2.887 / 3**0.5], abs=0.01
    )
    assert rows["baseline"]["metric"] == "pass@1 %" and rows["baseline"]["mean"] == pytest.approx(40.0)
    assert len(rows["gold"]["runs"]) == 3 and all(len(r["fingerprint"]) > 8 for r in rows["gold"]["runs"])
    assert set(rows["gold"]["budget_mean_per_seed"]) == {
        "samples",
        "completion_tokens",
        "train_tokens",
        "verifier_calls",
        "wall_s",
    }
    [c] = g["comparisons"]
    assert c["verdict"] == "separated" and c["ci_method"].startswith("paired bootstrap") and c["family_size"] == 1
    assert len(g["mcnemar"]) == 3 and {m["seed"] for m in g["mcnemar"]} == set(SEEDS)
    assert g["inverted_u"]["bins"] == "level" and len(g["inverted_u"]["points"]) == 2
    assert g["seed_varies"].startswith("A seed varies") and g["warnings"] == []
    assert {d["condition"] for d in res["path_diversity"]} == {"baseline", "gold"}
    with open(out / "conditions.csv") as f:
        cond = list(csv.DictReader(f))
    assert [r["row"] for r in cond] == ["baseline", "gold"]
    assert [float(v) for v in cond[1]["per_seed"].split()] == pytest.approx([10, 5, 10])
    assert float(cond[1]["ci95_low_t"]) == pytest.approx(rows["gold"]["ci95"][0])
    for name in ("comparisons", "mcnemar", "budget", "inverted_u", "rounds", "diversity"):
        assert (out / f"{name}.csv").read_text().splitlines()[0].startswith(("domain", "domain,"))


def test_unwritable_report_dir_names_the_out_flag(demo, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(RunStoreError, match="pass --out DIR"):
        write_report([demo], blocker / "report", ReportOptions(n_boot=200, plots=False))
    from formalpi.cli import app

    res = CliRunner().invoke(app, ["report", str(demo), "--out", str(blocker / "x"), "--n-boot", "200"])
    assert res.exit_code != 0 and "--out" in str(res.exception)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_run_dir_suggests_out(demo):
    demo.chmod(0o555)
    try:
        with pytest.raises(RunStoreError, match="read-only: pass --out DIR"):
            write_report([demo], opts=ReportOptions(n_boot=200, plots=False))
    finally:
        demo.chmod(0o755)


def test_read_only_run_dir_suggests_out_as_root_too(demo, monkeypatch):
    """Root ignores permission bits, so the read-only file system is simulated where the report first writes."""
    real = Path.write_text

    def read_only(self, *a, **kw):
        if self.parent == demo:
            raise PermissionError(30, "Read-only file system", str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "write_text", read_only)
    with pytest.raises(RunStoreError, match=r"Read-only file system\); the run directory may be read-only: pass --out"):
        write_report([demo], opts=ReportOptions(n_boot=200, plots=False))
    assert not (demo / "report.md").exists() and not (demo / "results.json").exists()


def test_warnings_for_train_on_eval_and_weak_sandbox_in_every_table(tmp_path):
    for s in (1, 2):
        write_run(tmp_path, "baseline", s, eval_records(_correct(8), seed=s, condition="b"), method="baseline")
        write_run(
            tmp_path,
            "gold",
            s,
            eval_records(_correct(10), seed=s, condition="gold"),
            condition="gold",
            train_split="test",
        )  # trains on the eval split
        write_run(
            tmp_path,
            "tests",
            s,
            eval_records(_correct(9), seed=s, condition="test_suite"),
            condition="gibberish",
            manifest_extra={"sandbox": {"mount_ns": True, "net_ns": False, "uid": False, "weak": True}},
        )  # the code domain's record
        # the engine's record of an overlap found at start (data.allow_train_on_eval = true let it run)
        write_run(
            tmp_path,
            "wrong",
            s,
            eval_records(_correct(9), seed=s, condition="wrong"),
            condition="wrong",
            manifest_extra={
                "data": {
                    "train_eval_overlap": 12,
                    "allow_train_on_eval": True,
                    "seed_varies": ["sampling", "sft_data_order", "lora_init"],
                }
            },
        )
    out = tmp_path / "rep"
    text = write_report([tmp_path], out, ReportOptions(n_boot=200, plots=False)).read_text()
    assert "| gold (!) | 2 |" in text and "| gibberish (!) | 2 |" in text and "| baseline (pass@1) | 2 |" in text
    eval_warning = "TRAINED ON EVAL: this run trained on split 'test' of 'arith'"
    weak = "WEAK SANDBOX: generated code ran without the full sandbox (missing layers: net_ns, uid)"
    # under the condition table, the McNemar, level/U tables, and the cross-group tables: every table says it
    assert text.count(eval_warning) >= 5 and text.count(weak) >= 5
    assert "[rows: gold]" in text and "[rows: gibberish]" in text
    assert "TRAINED ON EVAL: this run trained on 12 eval problems of 'arith'" in text and "| wrong (!) | 2 |" in text
    assert (
        "A seed varies sampling (first attempts, retries, eval samples), SFT data order, LoRA initialisation; "
        "the train and eval problems are the same for every seed." in text
    )
    for heading in ("## Domain × model × method", "## Budget", "## Path diversity"):
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        assert eval_warning in section and weak in section, heading
    g = json.loads((out / "results.json").read_text())["groups"][0]
    assert any(eval_warning in w for w in g["warnings"]) and any(weak in w for w in g["warnings"])
    from formalpi.cli import app

    res = CliRunner().invoke(
        app,
        ["report", str(tmp_path), "--out", str(tmp_path / "cli"), "--n-boot", "200", "--no-plots"],
        terminal_width=400,
    )
    assert res.exit_code == 0, res.output
    assert "WARNING (!): TRAINED ON EVAL" in res.output and "WARNING (!): WEAK SANDBOX" in res.output
    rows = {r["key"]: r for r in g["rows"]}
    assert rows["baseline"]["warnings"] == [] and eval_warning in rows["gold"]["warnings"][0]


def test_per_round_gains_for_iterative_rows(tmp_path):
    # baseline 40%; round 1 model 50% (+10), round 2 model 45% (+5), final = round 2
    for s in (1, 2):
        write_run(tmp_path, "baseline", s, eval_records(_correct(8), seed=s, condition="b"), method="baseline")
        r1, r2 = (
            eval_records(_correct(10), seed=s, condition="gold"),
            eval_records(_correct(9), seed=s, condition="gold"),
        )
        write_run(tmp_path, "gold", s, r2, condition="gold", round_records=[r1])  # eval_r0.jsonl, then eval.jsonl
    out = tmp_path / "rep"
    text = write_report([tmp_path], out, ReportOptions(n_boot=200, plots=False)).read_text()
    assert "### Per round" in text
    assert "| gold | R1 | 2 | +10.0 +/- 0.0 |" in text and "| gold | R2 | 2 | +5.0 +/- 0.0 |" in text
    g = json.loads((out / "results.json").read_text())["groups"][0]
    assert [r["round"] for r in g["rounds"]] == [1, 2]
    assert [r["mean"] for r in g["rounds"]] == pytest.approx([10.0, 5.0])


def test_run_results_json_by_hand(tmp_path):
    from formalpi.analysis.results import write_run_results

    recs = eval_records(np.array([[1, 0, 0, 0], [1, 1, 1, 1]], bool), seed=7, condition="gold", levels=[1, 2])
    store = write_run(tmp_path, "gold", 7, recs, condition="gold")
    store.add_budget("train_r0", train_tokens=1234, wall_s=2.5)
    path = write_run_results(store.root)
    res = json.loads(path.read_text())
    assert path == store.root / "results.json"
    assert res["seed"] == 7 and res["condition"] == "gold" and res["fingerprint"] == store.manifest()["fingerprint"]
    assert res["eval"]["pass@1"] == pytest.approx(100 * (0.25 + 1.0) / 2)
    assert res["eval"]["pass@1_per_level"] == {"1": 25.0, "2": 100.0}
    assert res["budget"]["train_tokens"] == 1234 and res["budget"]["wall_s"] == 2.5
    assert res["warnings"] == [] and res["rounds"] == {}


def test_report_builds_without_statsmodels(demo, tmp_path):
    """The report needs only core dependencies (scipy's exact binomial test for McNemar, Holm by hand): it is built
    in a fresh interpreter that refuses to import statsmodels."""
    import subprocess
    import sys

    code = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "statsmodels":
            raise ModuleNotFoundError("statsmodels blocked by the test", name=name)
sys.meta_path.insert(0, Block())
from formalpi.analysis.report import ReportOptions, write_report
print(write_report([{str(demo)!r}], {str(tmp_path / "rep")!r}, ReportOptions(n_boot=200, plots=False)))
assert "statsmodels" not in sys.modules
"""
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "### McNemar per seed" in text and "separated at 95%" in text
