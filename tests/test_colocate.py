"""The colocated engine's guard on torch's process-wide numeric switches (CPU; the engine itself: test_colocate_gpu.py)."""

import os

import torch

from formalpi.engine.colocate import numeric_settings, restore_numeric_settings


def test_switches_changed_after_a_snapshot_are_set_back_and_named():
    before = numeric_settings()
    try:
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = not before[
            "cuda.matmul.allow_bf16_reduced_precision_reduction"
        ]
        torch.backends.cuda.enable_flash_sdp(not before["sdp.flash"])
        torch.set_default_dtype(torch.float64)
        changed = restore_numeric_settings(before)
        assert set(changed) == {"cuda.matmul.allow_bf16_reduced_precision_reduction", "sdp.flash", "default_dtype"}
        assert changed["default_dtype"] == (torch.float64, torch.float32)
        assert numeric_settings() == before
        assert restore_numeric_settings(before) == {}
    finally:
        torch.set_default_dtype(torch.float32)
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = before[
            "cuda.matmul.allow_bf16_reduced_precision_reduction"
        ]
        torch.backends.cuda.enable_flash_sdp(before["sdp.flash"])


def test_two_checkpoints_of_one_model_share_an_engine_and_another_architecture_does_not(tmp_path):
    """The key one process's engine is shared under (the GPU test runs the engine itself)."""
    import json

    from formalpi.engine.colocate import engine_key

    base = {"model_type": "qwen3", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 512}
    dirs = {}
    for name, cfg in {
        "base": base | {"_name_or_path": "base", "transformers_version": "5.17.0"},
        "trained": base | {"_name_or_path": "runs/x/checkpoint", "transformers_version": "5.16.0"},
        "wider": base | {"hidden_size": 128},
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(cfg))
        dirs[name] = str(tmp_path / name)
    settings = dict(dtype="bfloat16", gpu_memory_utilization=0.35, max_model_len=None, enforce_eager=False)
    assert engine_key(dirs["base"], **settings) == engine_key(dirs["trained"], **settings)
    assert engine_key(dirs["base"], **settings) != engine_key(dirs["wider"], **settings)
    assert engine_key(dirs["base"], **settings) != engine_key(dirs["base"], **(settings | {"dtype": "float16"}))


def test_a_run_asking_for_another_engine_in_the_process_is_refused_with_the_fix(tmp_path, monkeypatch):
    """vLLM's sleep mode allows one engine per process: a second run with other settings gets a ConfigError naming
    the settings and the fix, not vLLM's CuMem assertion (the engine held is a stand-in: no vLLM here)."""
    import pytest

    from formalpi.engine import colocate
    from formalpi.errors import ConfigError

    (tmp_path / "config.json").write_text('{"model_type": "qwen3"}')
    settings = dict(dtype="bfloat16", gpu_memory_utilization=0.35, max_model_len=None, enforce_eager=False)
    held = colocate.engine_key(str(tmp_path), **settings, max_num_seqs=None)

    class Held:
        asleep = False

        def ensure_asleep(self):
            self.asleep = True

    engine = Held()
    monkeypatch.setattr(colocate, "_ENGINE", (held, engine))
    assert colocate.colocated_engine(str(tmp_path), **settings) is engine and engine.asleep
    with pytest.raises(ConfigError, match=r"one engine per process.*separate `formalpi` commands"):
        colocate.colocated_engine(str(tmp_path), **(settings | {"gpu_memory_utilization": 0.5}))


def test_the_engines_process_wide_vllm_settings_are_set_back(monkeypatch):
    """The in-process engine sets VLLM_ENABLE_V1_MULTIPROCESSING=0 and freezes vLLM's environment reads for the
    process; both are undone so that the run's eval engine gets its own process (`envs`: a stand-in for
    `vllm.envs`, which records the cache being lifted; vLLM itself: test_colocate_gpu.py)."""
    from formalpi.engine.colocate import VLLM_PROCESS_ENV, restore_vllm_env

    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    before = {k: None for k in VLLM_PROCESS_ENV}
    lifted = []

    class Envs:
        def disable_envs_cache(self):
            lifted.append(True)

    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # what vllm/config/parallel.py does
    assert restore_vllm_env(before, Envs()) == {"VLLM_ENABLE_V1_MULTIPROCESSING": ("0", None)}
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ and lifted == [True]
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")  # a user's own setting is kept as it was
    assert restore_vllm_env({"VLLM_ENABLE_V1_MULTIPROCESSING": "1"}, object()) == {}


def test_an_iprs_engine_and_any_other_sleep_mode_engine_in_one_process_are_refused_with_the_fix(monkeypatch):
    """TRL's IPRS engine cannot be shared: a second IPRS run, an IPRS run after OPSD and an OPSD run after IPRS in
    one process get a ConfigError naming the fix instead of vLLM's CuMem assertion mid-run."""
    import pytest

    from formalpi.engine import colocate
    from formalpi.errors import ConfigError

    monkeypatch.setattr(colocate, "_ENGINE", None)
    monkeypatch.setattr(colocate, "_TRL_ENGINE", False)
    colocate.claim_engine_for_trl()  # the process's first engine: TRL's
    with pytest.raises(ConfigError, match="an earlier IPRS run already built one.*--seeds 42, then"):
        colocate.claim_engine_for_trl()
    with pytest.raises(ConfigError, match="an IPRS run already built one.*this OPSD run"):
        colocate.colocated_engine("tiny", dtype="bfloat16", gpu_memory_utilization=0.35, max_model_len=None)
    monkeypatch.setattr(colocate, "_TRL_ENGINE", False)
    monkeypatch.setattr(colocate, "_ENGINE", (("held",), object()))  # an OPSD run's engine
    with pytest.raises(ConfigError, match="an OPSD run already built one.*each IPRS run"):
        colocate.claim_engine_for_trl()
