"""What `formalpi skeleton-opsd` and `formalpi minif2f eval` hand the engine: the row's toml (its `[verify]` table
included), overridden only by the flags the user passed. The engine call is replaced by a recorder; the Lean pool is
the real LeanDomain built from the runs' `[verify]` table (it starts no REPL until a proof is verified)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from formalpi.cli import app
from formalpi.config import load_config
from formalpi.errors import ConfigError, LeanUnavailable

ROOT = Path(__file__).resolve().parent.parent
DOUBLE = [sys.executable, "-m", "formalpi.lean.double"]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """Each (config, seed, pool settings) the command runs, in order; the runs themselves do nothing."""
    import formalpi.analysis.report
    import formalpi.engine.experiment

    calls: list[dict[str, Any]] = []

    def run_experiment(cfg, seed, progress, domain=None, extras=None, model_path=None, placement=None):
        calls.append({"cfg": cfg, "seed": seed, "pool": domain._config, "extras": extras, "model_path": model_path})
        return SimpleNamespace(summary={"all": {"pass@1": 0.0, "problems": 1}})

    monkeypatch.setattr(formalpi.engine.experiment, "run_experiment", run_experiment)
    monkeypatch.setattr(formalpi.analysis.report, "render_condition_table", lambda dirs: "")
    monkeypatch.chdir(ROOT)  # the commands' default rows are experiments/*.toml of the checkout
    return calls


@pytest.fixture
def model(tmp_path: Path) -> str:
    """A directory that passes the model-path preflight (nothing loads it: the engine is recorded)."""
    d = tmp_path / "prover"
    d.mkdir()
    (d / "config.json").write_text("{}")
    return str(d)


def _row(tmp_path: Path, body: str) -> Path:
    """A toml over the seed's skeleton-OPSD row, with its own settings."""
    path = tmp_path / "row.toml"
    path.write_text(f'base = "{ROOT / "experiments" / "lean_opsd_skeleton.toml"}"\nname = "mine"\n{body}')
    return path


def _invoke(*args: str) -> Any:
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res


ROW = f"""
[verify]
timeout_s = 7.5
workers = 3
repl_command = {DOUBLE!r}
project_dir = "{ROOT}"

[train]
lora_rank = 16

[opsd]
lr = 3e-5

[sampling]
n = 5

[data]
eval_split = "valid"
""".replace("'", '"')


def test_the_toml_verify_and_train_settings_reach_the_runs_and_the_pool(engine, model, tmp_path):
    _invoke(
        "skeleton-opsd",
        "--config",
        str(_row(tmp_path, ROW)),
        "--model",
        model,
        "--seeds",
        "1",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--no-report",
    )
    assert [(c["cfg"].name, c["cfg"].method, c["seed"]) for c in engine] == [
        ("mine/baseline", "baseline", 1),
        ("mine/skeleton", "opsd", 1),
    ]
    for call in engine:
        cfg, pool = call["cfg"], call["pool"]
        assert cfg.sampling.n == 5 and cfg.data.eval_split == "valid"
        if cfg.trains:  # the baseline has no [train] / [opsd] (it reads neither)
            assert cfg.train.lora_rank == 16 and cfg.opsd.lr == 3e-5
        assert cfg.verify["timeout_s"] == 7.5 and cfg.verify["workers"] == 3
        # the pool is LeanConfig built from the same table (no `lean doctor` check: the row names its own REPL)
        assert (pool.timeout_s, pool.workers, pool.repl_command, Path(pool.project_dir)) == (7.5, 3, DOUBLE, ROOT)


def test_a_passed_flag_overrides_the_toml_and_an_unset_one_does_not(engine, model, tmp_path):
    _invoke(
        "skeleton-opsd",
        "--config",
        str(_row(tmp_path, ROW)),
        "--model",
        model,
        "--seeds",
        "1",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--no-report",
        "--timeout",
        "9",
        "--eval-samples",
        "3",
        "--train-split",
        "test",
        "--replay",
        "off",
        "--name",
        "other",
        "--set",
        "verify.workers=2",
    )
    baseline, trained = (c["cfg"] for c in engine)
    assert (baseline.name, trained.name) == ("other/baseline", "other/skeleton")
    for call in engine:
        cfg, pool = call["cfg"], call["pool"]
        assert cfg.verify["timeout_s"] == 9.0 and pool.timeout_s == 9.0  # --timeout
        assert cfg.verify["workers"] == 2 and pool.workers == 2  # --set, applied last
        assert cfg.verify["replay"] is False and pool.replay is False  # --replay off
        assert cfg.eval.n == 3 and cfg.data.train_split == "test"
        # flags left out keep the toml's values (the old flag defaults were sampling.n = 4, eval_split = test)
        assert cfg.sampling.n == 5 and cfg.data.eval_split == "valid"
        assert cfg.eval.ks == [1, 8, 32] and cfg.seeds == [42, 123, 456]
    assert trained.train.lora_rank == 16 and trained.opsd.lr == 3e-5 and trained.opsd.steps == 200
    # --set wins over a flag that sets the same key
    engine.clear()
    _invoke(
        "skeleton-opsd",
        "--config",
        str(_row(tmp_path, ROW)),
        "--model",
        model,
        "--seeds",
        "1",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--no-report",
        "--samples",
        "2",
        "--set",
        "sampling.n=6",
    )
    assert {c["cfg"].sampling.n for c in engine} == {6}


def test_the_default_row_is_the_seed_skeleton_opsd_toml(engine, model, tmp_path):
    double = shlex.join(DOUBLE)
    _invoke(
        "skeleton-opsd",
        "--model",
        model,
        "--repl-command",
        double,
        "--project-dir",
        str(ROOT),
        "--seeds",
        "1",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--no-report",
    )
    seed_row = load_config(
        ROOT / "experiments" / "lean_opsd_skeleton.toml",
        [
            f"model.path={model}",
            f"runs_dir={tmp_path / 'runs'}",
            f"verify.project_dir={ROOT}",
            "verify.repl_command=" + repr(DOUBLE).replace("'", '"'),
        ],
    )
    baseline, trained = (c["cfg"] for c in engine)
    assert seed_row.opsd.lr == 1e-4 and seed_row.opsd.steps == 200 and seed_row.sampling.max_new_tokens == 4096
    assert (trained.model.dtype, trained.train.lora_rank, trained.opsd.batch_size) == ("bfloat16", 32, 32)
    assert trained.model_dump(exclude={"name"}) == seed_row.model_dump(exclude={"name"})
    # the baseline: every setting the two methods share, none of the trained run's own sections
    shared = set(baseline.model_dump()) - {"name", "method"}
    assert shared == set(seed_row.model_dump()) - {"name", "method", "train", "opsd"}
    assert baseline.model_dump(include=shared) == seed_row.model_dump(include=shared)
    assert trained.name == "lean_opsd_skeleton/skeleton" and baseline.name == "lean_opsd_skeleton/baseline"


def test_a_row_without_its_own_repl_gets_the_doctor_check(engine, tmp_path):
    row = tmp_path / "row.toml"
    row.write_text(
        f'base = "{ROOT / "experiments" / "lean_opsd_skeleton.toml"}"\n'
        f'[verify]\nproject_dir = "{tmp_path / "nowhere"}"\nworkers = 2\n'
    )
    res = CliRunner().invoke(app, ["skeleton-opsd", "--config", str(row), "--seeds", "1"])
    assert isinstance(res.exception, LeanUnavailable), res.output
    # the doctor looked where the toml's [verify] says the Lake workspace is
    assert "formalpi lean doctor" in str(res.exception) and str(tmp_path / "nowhere") in str(res.exception)
    assert engine == []


def test_without_the_default_row_the_error_names_the_flag(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for argv in (["skeleton-opsd", "--seeds", "1"], ["minif2f", "eval"]):
        res = CliRunner().invoke(app, argv)
        assert isinstance(res.exception, ConfigError) and "--config" in str(res.exception), res.output


def test_a_trained_row_needs_a_training_method(engine, tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "skeleton-opsd",
            "--config",
            str(ROOT / "experiments" / "lean_baseline.toml"),
            "--repl-command",
            shlex.join(DOUBLE),
        ],
    )
    assert isinstance(res.exception, ConfigError) and "--method" in str(res.exception), res.output
    assert engine == []


def test_minif2f_eval_runs_the_baseline_row_with_the_flags_passed(engine, model, tmp_path):
    _invoke(
        "minif2f",
        "eval",
        "--model",
        model,
        "--repl-command",
        shlex.join(DOUBLE),
        "--project-dir",
        str(ROOT),
        "--seeds",
        "1",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--samples",
        "4",
        "--workers",
        "2",
    )
    (call,) = engine
    cfg, pool = call["cfg"], call["pool"]
    seed_row = load_config(ROOT / "experiments" / "lean_baseline.toml")
    assert cfg.name == "minif2f_eval/prover" and cfg.method == "baseline"
    assert cfg.eval.n == 4 and cfg.eval.ks == [1, 4, 8, 32]  # pass@N joins the row's ks
    assert cfg.model.dtype == seed_row.model.dtype and cfg.sampling == seed_row.sampling
    assert (cfg.data, cfg.eval.max_new_tokens) == (seed_row.data, seed_row.eval.max_new_tokens)
    assert pool.workers == 2 and pool.timeout_s == 60.0  # --workers; the toml sets no timeout: LeanConfig's
    # a toml's [verify] reaches the pool; --split and --name set their keys
    engine.clear()
    row = tmp_path / "eval.toml"
    row.write_text(
        f'base = "{ROOT / "experiments" / "lean_baseline.toml"}"\n[verify]\ntimeout_s = 5.0\n'
        f"repl_command = {DOUBLE!r}\n".replace("'", '"')
    )
    _invoke(
        "minif2f",
        "eval",
        "--config",
        str(row),
        "--model",
        model,
        "--seeds",
        "1",
        "--split",
        "valid",
        "--name",
        "ev",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    (call,) = engine
    assert call["pool"].timeout_s == 5.0 and call["cfg"].verify["timeout_s"] == 5.0
    assert (call["cfg"].name, call["cfg"].data.eval_split, call["cfg"].eval.n) == ("ev", "valid", 32)
