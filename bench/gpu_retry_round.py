"""One real retry round (sample -> verify -> retry with PI -> verify -> SFT -> eval) with each generation backend,
greedy, on the same model and problems; then the two run stores compared record by record.

    python bench/gpu_retry_round.py --model tiny --backends hf,vllm --problems 16
    python bench/gpu_retry_round.py --model /tmp/fb/qwen3-1.7b --backends hf,vllm --problems 8 --new-tokens 64
    python bench/gpu_retry_round.py --model /tmp/fb/qwen3-1.7b --release-check   # vLLM, then SFT in one process

Per backend: wall time of the round and its stages, records written. Compared: attempts with identical
completions and identical verdicts (greedy decoding: differences come from the backends' different kernels
breaking near-ties, and are counted, not hidden), eval pass@1. Resumability: the round is run a second time on
its finished store and must add no record. `--release-check` loads a vLLM engine holding
`--vllm-memory` of the GPU, generates, releases it, and fine-tunes the same model in the same process (full
fine-tuning: it does not fit in what the engine leaves).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))


def config(model: str, backend: str, a: argparse.Namespace):
    from formalpi.config import config_from_dict

    return config_from_dict(
        {
            "name": f"round_{backend}",
            "runs_dir": a.work,
            "condition": a.condition,
            "domain": "math",
            "model": {
                "path": model,
                "backend": backend,
                "dtype": "bfloat16",
                "vllm": {
                    "gpu_memory_utilization": a.vllm_memory,
                    "attention_backend": a.vllm_attention,
                    "enforce_eager": a.vllm_eager,
                },
            },
            "data": {"dataset": "arith", "train_limit": a.problems, "eval_limit": a.problems},
            "sampling": {"n": 2, "temperature": 0.0, "max_new_tokens": a.new_tokens, "batch_size": 64},
            "eval": {"n": 1, "temperature": 0.0, "max_new_tokens": a.new_tokens},
            "train": {
                "finetune": "lora",
                "lora_rank": 8,
                "lora_alpha": 16,
                "batch_size": 8,
                "max_length": 256,
                "lr": 1e-3,
            },
        }
    )


def counts(store) -> dict:
    from formalpi.records import Attempt, EvalRecord, Example, Judged

    return {
        "attempts": len(store.read("attempts", Attempt)),
        "verdicts": len(store.read("verdicts", Judged)),
        "examples": len(store.read("examples", Example)),
        "eval": len(store.read("eval", EvalRecord)),
    }


def run_round(model: str, backend: str, a: argparse.Namespace) -> dict:
    from formalpi.engine.experiment import run_experiment

    cfg = config(model, backend, a)
    t0 = time.perf_counter()
    res = run_experiment(cfg, 42)
    wall = time.perf_counter() - t0
    first = counts(res.store)
    t0 = time.perf_counter()
    again = run_experiment(cfg, 42)  # resume on a finished store: every stage is skipped
    rerun = time.perf_counter() - t0
    stages = {k: v.get("wall_s") for k, v in res.store.manifest().get("stages", {}).items()}
    return {
        "backend": backend,
        "wall_s": round(wall, 1),
        "records": first,
        "rerun_s": round(rerun, 1),
        "rerun_records": counts(again.store),
        "stages_wall_s": stages,
        "summary": res.summary,
    }


def compare(a: argparse.Namespace, backends: list[str]) -> dict:
    from formalpi.records import Attempt, EvalRecord, Judged
    from formalpi.runs import RunStore

    stores = {b: RunStore(Path(a.work) / f"round_{b}" / "42") for b in backends}
    att = {b: {x.id: x for x in s.read("attempts", Attempt)} for b, s in stores.items()}
    ver = {b: {j.attempt_id: j.verdict for j in s.read("verdicts", Judged)} for b, s in stores.items()}
    ev = {b: s.read("eval", EvalRecord) for b, s in stores.items()}
    x, y = backends
    first = [k for k in att[x] if k.endswith("|k0") and k in att[y]]
    same_text = sum(att[x][k].completion == att[y][k].completion for k in first)
    same_count = sum(att[x][k].completion_tokens == att[y][k].completion_tokens for k in first)
    same_verdict = sum(ver[x][k].status == ver[y][k].status for k in first if k in ver[x] and k in ver[y])
    return {
        "first_attempts_compared": len(first),
        "identical_completions": same_text,
        "identical_token_counts": same_count,
        "identical_verdicts": same_verdict,
        "passed": {b: sum(v.passed for v in ver[b].values()) for b in backends},
        "retries": {b: sum(1 for k in att[b] if not k.endswith("|k0")) for b in backends},
        "eval_records": {b: len(ev[b]) for b in backends},
    }


def release_check(model: str, a: argparse.Namespace) -> dict:
    import torch

    from formalpi.config import TrainConfig, VLLMConfig
    from formalpi.engine.backends import SamplingParams, VLLMGenerator, release
    from formalpi.engine.train import sft
    from formalpi.records import Example

    free0 = torch.cuda.mem_get_info()[0] / 2**30
    gen = VLLMGenerator(model, dtype="bfloat16", opts=VLLMConfig(gpu_memory_utilization=a.vllm_memory))
    out = gen.generate([gen.chat_prompt([("user", "What is 2 + 3?")])] * 4, SamplingParams(n=2, max_new_tokens=16))
    free_held = torch.cuda.mem_get_info()[0] / 2**30
    release(gen)
    free_after = torch.cuda.mem_get_info()[0] / 2**30
    exs = [
        Example(
            problem_id=f"p{i}",
            attempt_id=f"a{i}",
            condition="bench",
            round=0,
            seed=0,
            prompt="x" * 100,
            completion="y" * 900,
        )
        for i in range(32)
    ]
    t0 = time.perf_counter()
    res = sft(
        model,
        exs,
        TrainConfig(finetune="full", batch_size=8, max_length=1024, lr=1e-5),
        Path(a.work) / "rel",
        seed=0,
        dtype="bfloat16",
    )
    return {
        "free_gib_before_engine": round(free0, 1),
        "free_gib_engine_held": round(free_held, 1),
        "free_gib_after_release": round(free_after, 1),
        "generated": sum(len(c) for c in out),
        "sft_steps": res.steps,
        "sft_wall_s": round(time.perf_counter() - t0, 1),
        "sft_peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--backends", default="hf,vllm")
    ap.add_argument("--condition", default="gold")
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--vllm-memory", type=float, default=0.3)
    ap.add_argument("--vllm-attention", default=None, help="model.vllm.attention_backend (e.g. TRITON_ATTN)")
    ap.add_argument("--vllm-eager", action="store_true", help="model.vllm.enforce_eager (faster engine start)")
    ap.add_argument("--work", default="/tmp/formalpi-round")
    ap.add_argument("--compare-only", action="store_true", help="compare stores written by earlier invocations")
    ap.add_argument("--release-check", action="store_true")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    from formalpi.tiny import resolve_model_path

    model = resolve_model_path(a.model)
    backends = [b for b in a.backends.split(",") if b]
    out: dict = {"model": a.model}
    if a.release_check:
        out["release_check"] = release_check(model, a)
        print("release_check", json.dumps(out["release_check"]), flush=True)
    else:
        if not a.compare_only:
            out["rounds"] = []
            for b in backends:
                out["rounds"].append(run_round(model, b, a))
                print("round", json.dumps(out["rounds"][-1]), flush=True)
        if len(backends) == 2:
            out["compare"] = compare(a, backends)
            print("compare", json.dumps(out["compare"]), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
