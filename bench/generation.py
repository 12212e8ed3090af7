"""Generation throughput: HFGenerator vs VLLMGenerator on the same model, prompts and lengths.

A random-init bf16 model of a published architecture (bench/gpu_throughput.py builds it: same compute and memory
as the trained checkpoint) generates n samples for each of P chat-formatted prompts, every sequence forced to the
full length (`SamplingParams.min_new_tokens` suppresses the stop tokens in both backends). Each backend runs in its
own process (a clean GPU; vLLM keeps its memory until its process ends), one warm-up call first. Printed per
backend: load time, generation wall time, tokens/s (completion tokens / wall), the peak GPU memory in use (NVML,
whole device, against the idle reading before the backend started: vLLM reserves `--vllm-memory` of the GPU up
front), and the speed-up over the first backend.

    python bench/generation.py                                   # qwen3-1.7b, 64 prompts x n=8 x 512 tokens, hf,vllm
    python bench/generation.py --backends vllm --new-tokens 2048 # one backend, longer completions
    python bench/generation.py --device cpu --arch tiny --backends hf --prompts 4 --n 2 --new-tokens 8  # CPU smoke
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # last: a checkout on PYTHONPATH wins


class GpuMemoryPeak:
    """Peak used memory of the first visible GPU (NVML), sampled every 20 ms in a thread."""

    def __init__(self):
        self.peak = 0
        self.base = 0
        self._stop = threading.Event()
        self._handle = None
        try:
            import pynvml

            pynvml.nvmlInit()
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip() or "0"
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(int(visible) if visible.isdigit() else 0)
            self._pynvml = pynvml
        except Exception:  # no NVML (CPU machine): report 0
            self._handle = None

    def _used(self) -> int:
        return self._pynvml.nvmlDeviceGetMemoryInfo(self._handle).used if self._handle is not None else 0

    def __enter__(self):
        self.base = self.peak = self._used()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._used())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._used())

    @property
    def peak_gib(self) -> float:
        return (self.peak - self.base) / 2**30


def prompts_for(gen, count: int, seed: int = 0) -> list[str]:
    import gpu_throughput as bench  # bench/ is sys.path[0] when a script here runs

    rng = random.Random(seed)
    return [gen.chat_prompt([("user", bench.random_text(rng, rng.randint(64, 256)))]) for _ in range(count)]


def run_backend(backend: str, model: str, device: str, a: argparse.Namespace) -> dict:
    """One backend, in this process: load, warm up, time one generate over all prompts."""
    from formalpi.config import VLLMConfig
    from formalpi.engine.backends import SamplingParams, load_generator, release

    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    with GpuMemoryPeak() as mem:
        t0 = time.perf_counter()
        vopts = VLLMConfig(
            gpu_memory_utilization=a.vllm_memory, max_num_seqs=a.vllm_max_num_seqs, enforce_eager=a.vllm_eager
        )
        gen = load_generator(model, backend=backend, dtype=dtype, device=device, batch_size=a.hf_batch, vllm=vopts)
        load_s = time.perf_counter() - t0
        prompts = prompts_for(gen, a.prompts)
        gen.generate(prompts[:2], SamplingParams(n=1, max_new_tokens=8, seed=1))  # warm-up
        params = SamplingParams(
            n=a.n, temperature=1.0, top_p=1.0, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, seed=0
        )
        t0 = time.perf_counter()
        out = gen.generate(prompts, params)
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        release(gen)
    counts = [c.completion_tokens for cs in out for c in cs]
    return {
        "backend": backend,
        "sequences": len(counts),
        "new_tokens": a.new_tokens,
        "load_s": round(load_s, 2),
        "wall_s": round(wall, 3),
        "tokens": sum(counts),
        "tokens_per_s": sum(counts) / wall,
        "min_tokens": min(counts),
        "max_tokens": max(counts),
        "mean_prompt_tokens": round(sum(cs[0].prompt_tokens for cs in out) / len(out), 1),
        "peak_gib": round(mem.peak_gib, 1),
    }


def render(rows: list[dict], arch: str, a: argparse.Namespace) -> str:
    lines = [
        f"{arch}: {a.prompts} prompts x n={a.n} x {a.new_tokens} new tokens (EOS suppressed), temperature 1",
        "",
        "| backend | sequences | load s | wall s | tokens/s | peak GPU GiB | vs first |",
        "|---|---|---|---|---|---|---|",
    ]
    first = rows[0]["tokens_per_s"] if rows and "tokens_per_s" in rows[0] else None
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['backend']} | failed: {r['error']} | | | | | |")
            continue
        ratio = f"{r['tokens_per_s'] / first:.1f}x" if first else "-"
        lines.append(
            f"| {r['backend']} | {r['sequences']} | {r['load_s']:.1f} | {r['wall_s']:.1f} "
            f"| {r['tokens_per_s']:,.0f} | {r['peak_gib']:.1f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--arch", default="qwen3-1.7b", help="an architecture of bench/gpu_throughput.py (or tiny)")
    ap.add_argument("--model", default="", help="a local checkpoint instead of a random-init architecture")
    ap.add_argument("--backends", default="hf,vllm")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=512)
    ap.add_argument("--hf-batch", type=int, default=512, help="HFGenerator sequences per generate batch")
    ap.add_argument("--vllm-memory", type=float, default=0.85, help="model.vllm.gpu_memory_utilization")
    ap.add_argument("--vllm-max-num-seqs", type=int, default=None, help="model.vllm.max_num_seqs (None: vLLM's)")
    ap.add_argument("--vllm-eager", action="store_true", help="model.vllm.enforce_eager (no CUDA graphs)")
    ap.add_argument("--work", default="/tmp/formalpi-bench")
    ap.add_argument("--json", default="")
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)  # internal: run one backend, print JSON
    a = ap.parse_args(argv)
    backends = [b for b in a.backends.split(",") if b]
    if any(b not in ("hf", "vllm") for b in backends):
        raise SystemExit(f"--backends: expected hf and/or vllm, got {a.backends!r}")
    if a.worker:
        print("RESULT " + json.dumps(run_backend(a.worker, a.model, a.device, a)), flush=True)
        return {}

    import gpu_throughput as bench  # bench/ is sys.path[0] when a script here runs

    if a.model:
        model, arch = a.model, Path(a.model).name
    else:
        if a.arch not in bench.ARCHS:
            raise SystemExit(f"--arch: unknown {a.arch!r}; known: {sorted(bench.ARCHS)}")
        Path(a.work).mkdir(parents=True, exist_ok=True)
        model, n_params = bench.build_model_dir(bench.ARCHS[a.arch], Path(a.work), a.device)
        arch = f"{a.arch} ({n_params / 1e9:.2f}B params, random init)"
    rows = []
    for b in backends:  # each in a fresh process: a clean GPU, and vLLM's memory goes with the process
        args = [sys.executable, __file__, "--worker", b, "--model", model, *_forward(argv)]
        proc = subprocess.run(args, capture_output=True, text=True)
        result = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not result:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
            print(f"[{b}] failed (exit {proc.returncode}):\n" + "\n".join(tail), flush=True)
            rows.append({"backend": b, "error": f"exit {proc.returncode}"})
            continue
        rows.append(json.loads(result[-1][len("RESULT ") :]))
        print(f"[{b}] {rows[-1]}", flush=True)
    table = render(rows, arch, a)
    print(table, flush=True)
    out = {"arch": arch, "rows": rows, "table": table}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return out


def _forward(argv: list[str] | None) -> list[str]:
    """The caller's flags for the worker (minus --model/--json, which the parent owns)."""
    args = list(sys.argv[1:] if argv is None else argv)
    out, skip = [], False
    for x in args:
        if skip:
            skip = False
            continue
        if x in ("--model", "--json", "--worker"):
            skip = True
            continue
        if x.startswith(("--model=", "--json=", "--worker=")):
            continue
        out.append(x)
    return out


if __name__ == "__main__":
    main()
