"""Errors named before any work: seeds, conditions, model paths, `--set` typos, resume mismatches, read-only runs.

Each check must fire before the run directory exists (nothing half-written to clean up) and say the fix in one line.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from formalpi.config import config_from_dict, load_config
from formalpi.engine.preflight import check_model_path
from formalpi.engine.experiment import run_experiment
from formalpi.errors import ConfigError, RunStoreError
from formalpi.runs import RunStore


def _cfg(tmp_path: Path, **extra):
    d = {
        "name": "p/x",
        "method": "baseline",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"dataset": "arith", "eval_limit": 3},
        "eval": {"n": 1, "max_new_tokens": 8},
    }
    d.update(extra)
    return config_from_dict(d)


def _cli(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    from formalpi.cli import main

    monkeypatch.setattr(sys, "argv", ["formalpi", *argv])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as e:
        main()
    out = capsys.readouterr()
    return e.value.code, out.out + out.err


# ---- seeds ------------------------------------------------------------------------------------------------------


def test_negative_seed_flag_is_refused_before_the_run_dir_exists(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "x.toml"
    cfg.write_text(f'name = "x"\nruns_dir = "{tmp_path / "runs"}"\n')
    code, out = _cli(monkeypatch, capsys, "run", str(cfg), "--seeds", "42,-1")
    assert code == 2 and "--seeds: seed -1 is not an integer in 0..4294967295" in out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out
    assert not (tmp_path / "runs").exists()


def test_negative_seed_in_the_toml_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"x.toml: seeds.1: .*greater than or equal to 0"):
        config_from_dict({"name": "x", "seeds": [42, -1]}, "x.toml")


def test_negative_seed_through_the_python_api(tmp_path):
    with pytest.raises(ConfigError, match="seed -3"):
        run_experiment(_cfg(tmp_path), -3)
    assert not (tmp_path / "runs").exists()


# ---- conditions -------------------------------------------------------------------------------------------------


def test_unknown_condition_is_refused_before_the_run_dir_exists(tmp_path):
    cfg = _cfg(tmp_path, method="retry", condition="gold_answer")
    with pytest.raises(ConfigError, match=r"unknown condition 'gold_answer'.*known: .*gold"):
        run_experiment(cfg, 42)
    assert not (tmp_path / "runs").exists()


# ---- model paths ------------------------------------------------------------------------------------------------


def test_missing_local_model_dir_says_set_model_path(tmp_path):
    with pytest.raises(ConfigError, match=r"model.path=\./no/such/ckpt: no such directory.*set model.path="):
        check_model_path("./no/such/ckpt")
    with pytest.raises(ConfigError, match="has no config.json"):
        check_model_path(str(tmp_path))


def test_offline_hub_id_fails_at_once_without_retries(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    import huggingface_hub

    def no_network(*a, **kw):  # offline means no request at all (transformers retries the hub for ~80 s here)
        raise AssertionError("the hub was contacted while HF_HUB_OFFLINE is set")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_network)
    with pytest.raises(ConfigError, match=r"model.path=Qwen/Qwen3-1.7B: .*HF_HUB_OFFLINE.*set model.path="):
        run_experiment(_cfg(tmp_path, model={"path": "Qwen/Qwen3-1.7B"}), 42)
    assert not (tmp_path / "runs").exists()


def test_cached_hub_id_passes_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    snap = tmp_path / "cache" / "models--org--m" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (tmp_path / "cache" / "models--org--m" / "refs").mkdir()
    (tmp_path / "cache" / "models--org--m" / "refs" / "main").write_text("abc")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check_model_path("org/m")  # no error


def test_unreachable_hub_is_one_line(monkeypatch, tmp_path):
    import huggingface_hub
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def unreachable(self, repo_id, **kw):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", unreachable)
    with pytest.raises(ConfigError, match=r"--model=org/m: .*hub is unreachable \(ConnectionError\); set --model="):
        check_model_path("org/m", "--model")


# ---- --set typos ------------------------------------------------------------------------------------------------


def test_set_typo_is_blamed_on_the_flag_and_file_typo_on_the_file(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text('name = "x"\n[train]\nlr = 1e-4\n')
    with pytest.raises(ConfigError) as e:
        load_config(f, ["train.lrr=1e-3"])
    assert str(e.value).startswith("--set train.lrr=1e-3: unknown key 'train.lrr'") and str(f) not in str(e.value)
    with pytest.raises(ConfigError, match=r"^--set eval.n=0: eval.n: .*greater than 0"):
        load_config(f, ["eval.n=0"])
    f.write_text('name = "x"\n[train]\nlrr = 1e-4\n')
    with pytest.raises(ConfigError, match=rf"^{f}: unknown key 'train.lrr'"):
        load_config(f, ["eval.n=2"])


# ---- resume mismatches ------------------------------------------------------------------------------------------


def test_resume_mismatch_names_the_keys_that_differ(tmp_path):
    a = _cfg(tmp_path, method="retry")
    b = config_from_dict(
        {**a.model_dump(), "train": {**a.train.model_dump(), "lr": 1e-4}, "eval": {**a.eval.model_dump(), "n": 2}}
    )
    store = RunStore.open(a.runs_dir, a.name, 42, a.model_dump(mode="json"), a.fingerprint())
    store.path("eval").write_text('{"x": 1}\n')
    with pytest.raises(RunStoreError) as e:
        RunStore.open(b.runs_dir, b.name, 42, b.model_dump(mode="json"), b.fingerprint())
    assert "eval.n: 1 there, 2 now" in str(e.value) and "train.lr: 0.001 there, 0.0001 now" in str(e.value)


# ---- finished runs on read-only directories ---------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, tuple[float, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def test_rerunning_a_finished_run_writes_nothing(tmp_path):
    """What makes a re-run on a read-only directory work: not a single byte is written (root ignores chmod here)."""
    import torch

    torch.set_num_threads(1)
    from formalpi.tiny import resolve_model_path

    cfg = _cfg(tmp_path)
    tiny = resolve_model_path("tiny")  # the caller resolves the built-in model, as `formalpi run` does
    first = run_experiment(cfg, 42, model_path=tiny)
    before = _snapshot(tmp_path / "runs")
    assert any(p.endswith("manifest.json") for p in before)
    time.sleep(0.01)
    again = run_experiment(cfg, 42, model_path=tiny)
    assert again.summary == first.summary
    assert _snapshot(tmp_path / "runs") == before


def test_cli_rerun_of_a_finished_run_writes_nothing(tmp_path, monkeypatch, capsys):
    """`formalpi run` again on a finished run (results.json included) touches no file."""
    import torch

    torch.set_num_threads(1)
    cfg = tmp_path / "x.toml"
    cfg.write_text(
        f'name = "x"\nmethod = "baseline"\nruns_dir = "{tmp_path / "runs"}"\n'
        '[data]\ndataset = "arith"\neval_limit = 3\n[eval]\nn = 1\nmax_new_tokens = 8\n'
    )
    code, _ = _cli(monkeypatch, capsys, "run", str(cfg), "--seeds", "42")
    before = _snapshot(tmp_path / "runs")
    assert code == 0 and any(p.endswith("results.json") for p in before)
    time.sleep(0.01)
    code, out = _cli(monkeypatch, capsys, "run", str(cfg), "--seeds", "42")
    assert code == 0, out
    assert _snapshot(tmp_path / "runs") == before


def test_unfinished_run_in_an_unwritable_dir_says_choose_a_writable_runs_dir(tmp_path):
    cfg = _cfg(tmp_path)
    store = RunStore.open(cfg.runs_dir, cfg.name, 42, cfg.model_dump(mode="json"), cfg.fingerprint())
    (store.root / "manifest.json.tmp").mkdir()  # the next manifest write fails with a real OSError, even as root
    again = RunStore.open(cfg.runs_dir, cfg.name, 42, cfg.model_dump(mode="json"), cfg.fingerprint())
    with pytest.raises(RunStoreError, match=r"cannot write the run store .*writable runs_dir \(--runs-dir"):
        again.mark_done("eval")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; the test above covers the error path")
def test_new_run_under_a_read_only_dir_is_refused_before_work(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="read-only"):
            run_experiment(_cfg(tmp_path, runs_dir=str(ro / "runs")), 42)
    finally:
        ro.chmod(0o755)


def test_the_engine_does_not_resolve_the_tiny_model_itself(tmp_path):
    """`model.path = "tiny"` is resolved by the caller (formalpi run, the demo): the engine imports no formalpi.tiny
    and says how, instead of handing "tiny" to transformers as a hub id."""
    from formalpi.engine.experiment import resolved_start_model

    with pytest.raises(ConfigError, match=r"resolved by the caller.*model_path=formalpi\.tiny\.resolve_model_path"):
        resolved_start_model(_cfg(tmp_path), 42)
    assert resolved_start_model(_cfg(tmp_path, model={"path": "Qwen/Qwen3-1.7B"}), 42) == "Qwen/Qwen3-1.7B"


def test_iprs_with_vllm_over_several_seeds_is_refused_before_any_work(tmp_path):
    """TRL's colocated engine is one per process (vLLM's sleep mode): the second seed would stop mid-command."""
    from formalpi.engine.preflight import preflight

    cfg = _cfg(tmp_path, method="iprs", condition="try_again", model={"backend": "vllm"})
    with pytest.raises(ConfigError, match=r"one seed per command.*--seeds 42, then --seeds 123"):
        preflight(cfg, [42, 123])
    assert not (tmp_path / "runs").exists()
    from formalpi.engine.preflight import check_engines_per_process

    check_engines_per_process(cfg, [42])  # one seed: allowed
    check_engines_per_process(_cfg(tmp_path, method="iprs", condition="try_again"), [42, 123])  # transformers
    check_engines_per_process(_cfg(tmp_path, method="opsd", condition="try_again", model={"backend": "vllm"}), [1, 2])
