"""`formalpi skeleton-opsd` and `formalpi minif2f eval` end to end against the REPL double (formalpi/lean/double.py)
on MiniF2F statements, with a tiny model standing in for the prover (its proofs fail; the pipeline must still run,
record and report)."""

import json
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from formalpi.cli import app
from formalpi.cli.lean_experiments import lean_row, skeleton_opsd_configs
from formalpi.errors import LeanUnavailable
from formalpi.records import EvalRecord
from formalpi.runs import RunStore
from formalpi.tiny import TinySpec, ensure_tiny_model
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parent.parent
DOUBLE = shlex.join(
    [
        sys.executable,
        "-m",
        "formalpi.lean.double",
        "--replies",
        str(ROOT / "formalpi" / "lean" / "canaries" / "replies.jsonl"),
    ]
)
# reference proofs for two MiniF2F valid problems (the skeleton parser reads their `have` lines)
CORPUS = [
    {
        "name": "aimeII_2001_p3",
        "proof": "  have h5 : x 5 = 267 := by\n    rw [h₆ 5 (by norm_num)]\n    simp [h₀, h₂, h₃, h₄]"
        "\n  have hper : ∀ n ≥ 1, x (n + 10) = x n := by\n    sorry\n  norm_num [hper, h5]",
    },
    {
        "name": "aime_1983_p9",
        "proof": "  have hx : 0 < x * Real.sin x := by\n    apply mul_pos h₀.1\n"
        "    exact Real.sin_pos_of_pos_of_lt_pi h₀.1 h₀.2\n  rw [le_div_iff₀ hx]\n  nlinarith",
    },
]


@pytest.fixture(scope="module")
def tiny_model() -> str:
    return str(ensure_tiny_model(TinySpec(steps=40, train_per_level=40)))


def test_without_lean_it_stops_at_once_with_the_doctor_checks(tmp_path):
    res = CliRunner().invoke(app, ["skeleton-opsd", "--seeds", "1", "--project-dir", str(tmp_path)])
    assert res.exit_code != 0 and isinstance(res.exception, LeanUnavailable)
    msg = str(res.exception)
    assert "formalpi lean doctor" in msg and "lean_project" in msg and "lakefile.toml" in msg
    assert "--repl-command" in msg
    res = CliRunner().invoke(app, ["skeleton-opsd", "--repl-command", " ", "--project-dir", str(tmp_path)])
    assert isinstance(res.exception, LeanUnavailable) and "--repl-command is empty" in str(res.exception)


def test_configs_are_a_baseline_and_the_trained_condition():
    row = lean_row(
        ROOT / "experiments" / "lean_opsd_skeleton.toml",
        {"condition": "skeleton+retry", "name": "so"},
        ["eval.temperature=0.5"],
    )
    b, t = skeleton_opsd_configs(row, "row", ["eval.temperature=0.5"])
    assert b.eval.temperature == t.eval.temperature == 0.5 and b.data.dataset == "minif2f"
    assert (b.name, b.method) == ("so/baseline", "baseline")
    assert (t.name, t.method, t.condition, t.domain) == ("so/skeleton+retry", "opsd", "skeleton+retry", "lean")


def test_skeleton_opsd_end_to_end_against_the_double(tiny_model, tmp_path):
    data = shared_path("data", "minif2f_lean4_v4.24.jsonl")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in CORPUS), encoding="utf-8")
    runs = tmp_path / "runs"
    sets = [
        "model.dtype=auto",
        f"data.path={data}",
        "data.train_limit=4",
        "data.eval_limit=3",
        "sampling.max_new_tokens=16",
        "eval.max_new_tokens=16",
        "train.lora_rank=4",
        "train.lora_alpha=8",
        "opsd.steps=2",
        "opsd.batch_size=4",
        "opsd.max_new_tokens=12",
        "opsd.save_every=1",
        "opsd.lr=1e-3",
    ]
    res = CliRunner().invoke(
        app,
        [
            "skeleton-opsd",
            "--seeds",
            "42",
            "--model",
            tiny_model,
            "--repl-command",
            DOUBLE,
            "--project-dir",
            str(ROOT),
            "--proof-corpus",
            str(corpus),
            "--samples",
            "1",
            "--eval-samples",
            "2",
            "--workers",
            "2",
            "--timeout",
            "10",
            "--runs-dir",
            str(runs),
            *[a for s in sets for a in ("--set", s)],
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "condition skeleton, method opsd" in res.output and "2 problems with corpus proofs" in res.output
    out = runs / "lean_opsd_skeleton"  # the default row's name
    for cond in ("baseline", "skeleton"):
        store = RunStore(out / cond / "42")
        evals = store.read("eval", EvalRecord)
        assert [e.problem_id for e in evals] == ["aime_1983_p1", "aime_1983_p2", "aime_1983_p3"]
        assert all(e.n == 2 and not any(e.correct) for e in evals)  # the tiny model proves nothing
        stages = store.manifest()["stages"]
        assert stages["eval"]["verifier_calls"] == 6 and stages["eval"]["samples"] == 6
    steps = [json.loads(x) for x in (out / "skeleton" / "42" / "opsd_steps.jsonl").read_text().splitlines()]
    assert len(steps) == 2
    # only the two problems with a corpus proof get skeleton PI: the others give the teacher nothing to add
    assert all(s["samples"] == 4 and s["trained_samples"] == 2 for s in steps)
    # the seed-style table and the report with its budget table
    # (!): the rows' eval is cut at 16 tokens, so the table flags their truncation
    assert (
        "| baseline (pass@1) (!) | 1 | 0.0 +/- 0.0" in res.output and "| skeleton (!) | 1 | +0.0 +/- 0.0" in res.output
    )
    report = (out / "report.md").read_text()
    assert "## Budget (mean per seed, all stages)" in report
    budget_rows = [ln for ln in report.splitlines() if ln.startswith("| lean |") and "| Seeds" not in ln]
    assert any("| baseline (!) | 1 | 6 |" in ln for ln in budget_rows), budget_rows


def test_minif2f_eval_prints_pass_at_1_and_k(tiny_model, tmp_path):
    data = shared_path("data", "minif2f_lean4_v4.24.jsonl")
    res = CliRunner().invoke(
        app,
        [
            "minif2f",
            "eval",
            "--model",
            tiny_model,
            "--samples",
            "2",
            "--repl-command",
            DOUBLE,
            "--project-dir",
            str(ROOT),
            "--workers",
            "2",
            "--runs-dir",
            str(tmp_path),
            "--set",
            f"data.path={data}",
            "--set",
            "data.eval_limit=2",
            "--set",
            "eval.max_new_tokens=12",
            "--set",
            "model.dtype=auto",
            "--seeds",
            "42",
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "MiniF2F test, seed 42, 2 problems, 2 samples: pass@1 = 0.0%, pass@2 = 0.0%" in res.output


def _lean_opsd_config(tiny_model: str, runs: Path, condition: str = "skeleton", **data):
    from formalpi.config import config_from_dict

    d = {
        "dataset": "minif2f",
        "path": str(shared_path("data", "minif2f_lean4_v4.24.jsonl")),
        "train_split": "valid",
        "eval_split": "test",
        "train_limit": 2,
        "eval_limit": 2,
        **data,
    }
    return config_from_dict(
        {
            "name": "lo",
            "domain": "lean",
            "method": "opsd",
            "condition": condition,
            "runs_dir": str(runs),
            "model": {"path": tiny_model},
            "data": d,
            "sampling": {"n": 1, "max_new_tokens": 16},
            "eval": {"n": 1, "max_new_tokens": 16},
            "train": {"lora_rank": 4, "lora_alpha": 8},
            "opsd": {"steps": 2, "batch_size": 2, "max_new_tokens": 12, "save_every": 1, "lr": 1e-3},
        }
    )


def test_skeleton_pi_declares_it_needs_reference_proofs():
    from formalpi.domains.lean import conditions as pi

    for fn in (pi.skeleton, pi.skeleton_retry):
        assert "reference_proofs" in fn.condition.needs
    assert "diagnosis_writer" in pi.diagnosis.condition.needs


def test_lean_opsd_skeleton_without_reference_proofs_stops_before_training(tiny_model, tmp_path):
    from formalpi.domains.lean.domain import LeanDomain
    from formalpi.engine.experiment import run_experiment
    from formalpi.errors import ConfigError
    from formalpi.lean.pool import LeanConfig

    cfg = _lean_opsd_config(tiny_model, tmp_path / "runs")
    pool = LeanConfig(project_dir=ROOT, repl_command=shlex.split(DOUBLE), workers=1, timeout_s=10)
    with LeanDomain(pool) as domain:
        # no corpus: the default source is the starting model's own verified proofs on the training split; the tiny
        # model proves nothing, so the row stops naming the missing input instead of "training" 2 steps on nothing
        with pytest.raises(ConfigError, match=r"no reference proofs.*data\.proof_corpus"):
            run_experiment(cfg, 5, domain=domain)
        store = RunStore(tmp_path / "runs" / "lo" / "5")
        assert not store.path("opsd_steps").exists() and not store.is_done("opsd")
        assert store.manifest()["stages"]["verify_r0"]["verifier_calls"] == 2  # the reference pass ran, budgeted
        # a corpus named in the toml is the source instead: the row trains
        corpus = tmp_path / "corpus.jsonl"
        corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in CORPUS), encoding="utf-8")
        named = _lean_opsd_config(tiny_model, tmp_path / "named", proof_corpus=str(corpus))
        store = run_experiment(named, 5, domain=domain).store
        steps = [json.loads(x) for x in store.path("opsd_steps").read_text().splitlines()]
        assert len(steps) == 2 and sum(s["trained_samples"] for s in steps) > 0
