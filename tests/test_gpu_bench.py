"""bench/gpu_throughput.py on the CPU with the tiny architecture: the same code paths as the GPU run, seconds."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "gpu_throughput.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("gpu_throughput", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gpu_throughput"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_tiny_cpu_run_measures_generation_and_sft(tmp_path):
    bench = load_bench()
    out = bench.main(
        [
            "--device",
            "cpu",
            "--tiny",
            "--modes",
            "lora,full",
            "--work",
            str(tmp_path),
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    sizes = bench.TINY_SIZES
    (g,) = out["generation"]
    # EOS suppressed: every sequence ran to the full length
    assert g["sequences"] == sizes.gen_prompts * sizes.gen_n and g["min_completion_tokens"] == sizes.gen_new_tokens
    assert g["tokens_per_s"] > 0
    rows = {(r["mode"], r["batch"]): r for r in out["sft"]}
    assert set(rows) == {("lora", 2), ("full", 2)}
    for (mode, batch), r in rows.items():
        assert r["status"] == "ok"
        # examples are longer than seq_len, so every one is truncated to exactly seq_len: no padding in a batch
        assert r["tokens_per_step"] == batch * sizes.seq_len
        assert len(r["step_times"]) == sizes.warmup_steps + sizes.timed_steps and r["tokens_per_s"] > 0
        n = out["n_params"]["tiny"]
        assert r["mfu"] == pytest.approx((6 if mode == "full" else 4) * n * r["tokens_per_s"] / 990e12)
    assert (tmp_path / "r.json").exists() and "| tiny | full | 2 x 64 | ok |" in out["table"]


def test_bad_flags_name_the_flag(tmp_path):
    bench = load_bench()
    with pytest.raises(SystemExit, match="--archs: unknown"):
        bench.main(["--device", "cpu", "--archs", "llama-7b", "--work", str(tmp_path)])
    with pytest.raises(SystemExit, match="--modes"):
        bench.main(["--device", "cpu", "--tiny", "--modes", "qlora", "--work", str(tmp_path)])
