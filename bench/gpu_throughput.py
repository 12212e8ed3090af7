"""GPU throughput of the project's own generation and SFT paths at real model sizes, random weights.

A model built from a published architecture config with random weights costs exactly the compute and memory of the
trained one, so "how fast, and does it fit" can be measured without downloading weights. Measured:

- generation with `HFGenerator` (formalpi/engine/backends.py): n samples x prompts x new tokens, KV cache on. Random
  weights would stop at a random EOS, so every sequence is forced to the full length (`min_new_tokens` on the
  model's generation config suppresses EOS); tokens/s counts sequences x new tokens;
- SFT with `formalpi.engine.train.sft` (TRL SFTTrainer): steady-state tokens/s (first steps excluded, timed with a
  trainer callback around each optimizer step, GPU synchronised), peak GPU memory, and model FLOPs utilisation:
  full fine-tuning 6 x params x tokens/s, LoRA 4 x params x tokens/s (no weight gradients for frozen weights; the
  adapter's own FLOPs are negligible), against a dense bf16 peak (990 TFLOP/s for the H100 SXM datasheet).

Which code is measured is whatever `formalpi` imports resolve to: run it once with PYTHONPATH pointing at an older
checkout to compare (see docs/performance.md).

    python bench/gpu_throughput.py --device cuda                       # the real sizes (GPU)
    python bench/gpu_throughput.py --device cpu --tiny                 # the tiny architecture, seconds, on a CPU
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import string
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))  # last: an older checkout on PYTHONPATH wins

H100_BF16_PEAK = 990e12  # dense bf16 FLOP/s, H100 SXM datasheet (the H200 SXM's is the same chip's: 989)
MEASURED_PEAK: float = 0.0  # --measure-peak: an 8192^3 bf16 matmul on this GPU (the reachable ceiling)


def measure_matmul_peak(n: int = 8192, reps: int = 10) -> float:
    """bf16 FLOP/s of an n^3 matmul on random data: mean of `reps` after 3 warm-ups, timed with CUDA events."""
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (start.elapsed_time(end) / 1e3)


@dataclass(frozen=True)
class Arch:
    """A published architecture's sizes (config.json of the released checkpoint)."""

    name: str
    family: str  # "qwen3" | "qwen2"
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    tie_word_embeddings: bool = True
    rope_theta: float = 1_000_000.0
    max_position_embeddings: int = 32768


ARCHS = {
    # Qwen/Qwen3-1.7B config.json
    "qwen3-1.7b": Arch("qwen3-1.7b", "qwen3", 2048, 6144, 28, 16, 8, 128, 151936),
    # Qwen/Qwen2.5-Coder-1.5B config.json (head_dim = 1536 / 12)
    "qwen2.5-coder-1.5b": Arch("qwen2.5-coder-1.5b", "qwen2", 1536, 8960, 28, 12, 2, 128, 151936),
    # Qwen/Qwen3-8B config.json (untied embeddings)
    "qwen3-8b": Arch("qwen3-8b", "qwen3", 4096, 12288, 36, 32, 8, 128, 151936, tie_word_embeddings=False),
    # formalpi.tiny.TinySpec sizes, for the CPU smoke run (vocab padded up like the real ones are not)
    "tiny": Arch("tiny", "qwen3", 96, 256, 4, 6, 2, 16, 512, rope_theta=10000.0, max_position_embeddings=4096),
}


@dataclass(frozen=True)
class Sizes:
    gen_prompts: int = 64
    gen_n: int = 8
    gen_new_tokens: int = 512
    gen_batch: int = 512
    seq_len: int = 1024
    warmup_steps: int = 2
    timed_steps: int = 4


TINY_SIZES = Sizes(gen_prompts=4, gen_n=2, gen_new_tokens=8, gen_batch=8, seq_len=64, warmup_steps=1, timed_steps=2)


@dataclass
class GenRow:
    arch: str
    batch: int
    sequences: int
    new_tokens: int
    wall_s: float
    tokens_per_s: float
    peak_gib: float
    min_completion_tokens: int  # completion tokens as the generator reports them (cut at a sampled pad)


@dataclass
class SFTRow:
    arch: str
    mode: str  # "lora" | "full"
    batch: int
    status: str  # "ok" | "oom"
    tokens_per_step: int = 0
    step_s: float = 0.0
    tokens_per_s: float = 0.0
    peak_gib: float = 0.0
    mfu: float = 0.0
    step_times: list[float] = field(default_factory=list)


def build_tokenizer(vocab_size: int):
    """The tiny model's char-level ChatML tokenizer, padded with filler tokens to the architecture's vocabulary."""
    from formalpi.tiny import build_tokenizer as tiny_tokenizer

    return tiny_tokenizer(vocab_size)


def build_model_dir(arch: Arch, out: Path, device: str) -> tuple[str, int]:
    """Random-init bf16 (fp32 on CPU) model of `arch` saved with its tokenizer; returns (path, parameter count)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    path = out / arch.name
    meta = path / "bench_params.json"
    if meta.exists():  # built by an earlier run of this script (the same seed gives the same weights)
        return str(path), json.loads(meta.read_text())["n_params"]
    tok = build_tokenizer(arch.vocab_size)
    Config, Model = (Qwen3Config, Qwen3ForCausalLM) if arch.family == "qwen3" else (Qwen2Config, Qwen2ForCausalLM)
    cfg = Config(
        vocab_size=arch.vocab_size,
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_hidden_layers,
        num_attention_heads=arch.num_attention_heads,
        num_key_value_heads=arch.num_key_value_heads,
        head_dim=arch.head_dim,
        max_position_embeddings=arch.max_position_embeddings,
        tie_word_embeddings=arch.tie_word_embeddings,
        rope_theta=arch.rope_theta,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        use_cache=True,
    )
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the GPU: a CPU init of 2B parameters takes tens of seconds
        model = Model(cfg).to(dtype)
    n_params = sum(p.numel() for p in model.parameters())  # tied embedding counted once
    model.save_pretrained(path)
    tok.save_pretrained(path)
    meta.write_text(json.dumps({"n_params": n_params}))
    del model
    _free(device)
    return str(path), n_params


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**30
    return 0.0


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + " +-*/=()") for _ in range(n))


def bench_generate(
    path: str, arch: Arch, device: str, sizes: Sizes, batch: int, cache: str = "", profile: bool = False
) -> GenRow:
    from formalpi.engine.backends import HFGenerator, SamplingParams

    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    gen = HFGenerator.from_pretrained(path, dtype=dtype, device=device, batch_size=batch)
    # random weights: suppress EOS so that every sequence runs to exactly gen_new_tokens
    gen.model.generation_config.min_new_tokens = sizes.gen_new_tokens
    if cache:  # exploration: a transformers cache implementation other than the default dynamic one
        gen.model.generation_config.cache_implementation = cache
    rng = random.Random(0)
    prompts = [gen.chat_prompt([("user", random_text(rng, rng.randint(64, 256)))]) for _ in range(sizes.gen_prompts)]
    gen.generate(prompts[:2], SamplingParams(n=1, max_new_tokens=8, seed=1))  # warm-up: kernels, allocator
    _sync(device)
    _reset_peak(device)
    params = SamplingParams(n=sizes.gen_n, temperature=1.0, top_p=1.0, max_new_tokens=sizes.gen_new_tokens, seed=0)
    t0 = time.perf_counter()
    out = gen.generate(prompts, params)
    _sync(device)
    wall = time.perf_counter() - t0
    seqs = sizes.gen_prompts * sizes.gen_n
    if profile and device.startswith("cuda"):
        # where a decode step's time goes: the top CUDA kernels over a short generate at the same batch
        from torch.profiler import ProfilerActivity, profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
            gen.generate(prompts, SamplingParams(n=sizes.gen_n, max_new_tokens=16, seed=2))
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=70), flush=True)
    row = GenRow(
        arch.name,
        batch,
        seqs,
        sizes.gen_new_tokens,
        wall,
        seqs * sizes.gen_new_tokens / wall,
        _peak_gib(device),
        min(c.completion_tokens for cs in out for c in cs),
    )
    del gen
    _free(device)
    return row


class StepTimer:
    """Trainer callback: wall time of each optimizer step, the GPU synchronised at both ends."""

    def __init__(self, device: str):
        self.device = device
        self.times: list[float] = []
        self._t0 = 0.0

    def on_step_begin(self, args, state, control, **kw):
        _sync(self.device)
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        _sync(self.device)
        self.times.append(time.perf_counter() - self._t0)

    def __getattr__(self, name):  # every other TrainerCallback event: no-op
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)


def _install_timer(timer: StepTimer) -> None:
    """Attach `timer` to the next SFTTrainer that trains: `sft` builds its trainer inside, and both the current and
    older versions of train.py must be measured the same way."""
    import trl

    cls = trl.SFTTrainer
    orig = cls.__dict__.get("_formalpi_orig_train") or cls.train

    def train(self, *a, **k):
        self.add_callback(timer)
        return orig(self, *a, **k)

    cls._formalpi_orig_train = orig
    cls.train = train


def sft_examples(sizes: Sizes, count: int, seed: int):
    """Prompt + completion longer than seq_len characters (one token each): every example is truncated to exactly
    seq_len tokens, so a batch has no padding and tokens/step = batch x seq_len."""
    from formalpi.records import Example

    rng = random.Random(seed)
    return [
        Example(
            problem_id=f"p{i}",
            attempt_id=f"a{i}",
            condition="bench",
            round=0,
            seed=seed,
            prompt=random_text(rng, min(128, sizes.seq_len // 4)),
            completion=random_text(rng, sizes.seq_len),
        )
        for i in range(count)
    ]


LIGER: bool | None = None  # --liger


def bench_sft(
    path: str, arch: Arch, n_params: int, mode: str, batch: int, device: str, sizes: Sizes, work: Path
) -> SFTRow:
    import torch

    from formalpi.config import TrainConfig
    from formalpi.engine.train import sft

    steps = sizes.warmup_steps + sizes.timed_steps
    cfg = TrainConfig(
        finetune=mode,
        lora_rank=32,
        lora_alpha=64,
        lr=1e-5,
        epochs=1,
        batch_size=batch,
        grad_accum=1,
        max_length=sizes.seq_len,
        liger_kernel=LIGER,
    )
    timer = StepTimer(device)
    _install_timer(timer)
    _reset_peak(device)
    row = SFTRow(arch.name, mode, batch, "ok")
    try:
        res = sft(
            path,
            sft_examples(sizes, batch * steps, seed=batch),
            cfg,
            work / f"sft-{mode}-{batch}",
            seed=0,
            device=device,
            dtype="bfloat16" if device.startswith("cuda") else "float32",
        )
    except torch.OutOfMemoryError:
        row.status = "oom"
    if row.status == "ok":
        timed = timer.times[sizes.warmup_steps :]
        row.step_times = [round(t, 4) for t in timer.times]
        row.tokens_per_step = res.train_tokens // max(1, res.steps)
        row.step_s = sum(timed) / len(timed)
        row.tokens_per_s = row.tokens_per_step / row.step_s
        row.mfu = (6 if mode == "full" else 4) * n_params * row.tokens_per_s / H100_BF16_PEAK
    row.peak_gib = _peak_gib(device)
    res = None
    _free(device)
    return row


def render(gen_rows: list[GenRow], sft_rows: list[SFTRow], label: str, n_params: dict[str, int]) -> str:
    lines = [
        f"### {label}",
        "",
        "| arch | params | generation batch | sequences x new tokens | wall s | tokens/s | peak GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in gen_rows:
        lines.append(
            f"| {g.arch} | {n_params[g.arch] / 1e9:.2f}B | {g.batch} | {g.sequences} x {g.new_tokens} "
            f"| {g.wall_s:.1f} | {g.tokens_per_s:,.0f} | {g.peak_gib:.1f} |"
        )
    measured = f" | MFU vs measured {MEASURED_PEAK / 1e12:.0f}" if MEASURED_PEAK else ""
    lines += [
        "",
        f"| arch | SFT | batch x seq | status | s/step | tokens/s | peak GiB | MFU vs 990{measured} |",
        "|---|---|---|---|---|---|---|---|" + ("---|" if MEASURED_PEAK else ""),
    ]
    for r in sft_rows:
        mfu = f"{r.mfu:.1%} ({'6N' if r.mode == 'full' else '4N'})" if r.status == "ok" else "-"
        if MEASURED_PEAK:
            mfu += f" | {r.mfu * H100_BF16_PEAK / MEASURED_PEAK:.1%}" if r.status == "ok" else " | -"
        lines.append(
            f"| {r.arch} | {r.mode} | {r.batch} x {r.tokens_per_step // max(1, r.batch) or '-'} "
            f"| {r.status} | {r.step_s:.3f} | {r.tokens_per_s:,.0f} | {r.peak_gib:.1f} | {mfu} |"
        )
    return "\n".join(lines)


def _ints(s: str) -> list[int]:
    try:
        return [int(x) for x in s.split(",") if x]
    except ValueError:
        raise SystemExit(f"expected comma-separated integers, got {s!r}") from None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda | cpu")
    ap.add_argument("--tiny", action="store_true", help="the tiny architecture and sizes (CPU smoke run)")
    ap.add_argument("--archs", default="qwen3-1.7b,qwen2.5-coder-1.5b")
    ap.add_argument("--gen-batches", default="", help="HFGenerator batch sizes to time (default: one, all sequences)")
    ap.add_argument("--no-gen", action="store_true")
    ap.add_argument("--gen-profile", action="store_true", help="print the top CUDA kernels of a short generate")
    ap.add_argument("--gen-cache", default="", help="force a transformers cache implementation (e.g. static)")
    ap.add_argument("--modes", default="lora,full")
    ap.add_argument("--lora-batches", default="8,16,32", help="ascending; stops at the first that does not fit")
    ap.add_argument("--full-batches", default="4,8,16")
    ap.add_argument("--label", default="this checkout")
    ap.add_argument("--work", default="/tmp/formalpi-bench")
    ap.add_argument(
        "--liger",
        choices=["auto", "on", "off"],
        default="auto",
        help="Liger kernels in SFT (auto: on for CUDA when liger-kernel is installed)",
    )
    ap.add_argument("--json", default="", help="write all rows here")
    ap.add_argument("--measure-peak", action="store_true", help="also report MFU against a measured bf16 matmul")
    a = ap.parse_args(argv)
    global LIGER, MEASURED_PEAK
    LIGER = {"auto": None, "on": True, "off": False}[a.liger]

    if a.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device visible (use --device cpu --tiny on a CPU machine)")
        if a.measure_peak:
            MEASURED_PEAK = measure_matmul_peak()
            print(f"measured bf16 matmul (8192^3): {MEASURED_PEAK / 1e12:.0f} TFLOP/s", flush=True)
    sizes = TINY_SIZES if a.tiny else Sizes()
    arch_names = ["tiny"] if a.tiny else [x for x in a.archs.split(",") if x]
    unknown = [x for x in arch_names if x not in ARCHS]
    if unknown:
        raise SystemExit(f"--archs: unknown {unknown}; known: {sorted(ARCHS)}")
    modes = [m for m in a.modes.split(",") if m]
    if any(m not in ("lora", "full") for m in modes):
        raise SystemExit(f"--modes: expected lora and/or full, got {a.modes!r}")
    batches = {"lora": _ints(a.lora_batches), "full": _ints(a.full_batches)}
    if a.tiny:
        batches = {"lora": [2], "full": [2]}
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)

    gen_rows: list[GenRow] = []
    sft_rows: list[SFTRow] = []
    n_params: dict[str, int] = {}
    for name in arch_names:
        arch = ARCHS[name]
        t0 = time.perf_counter()
        path, n_params[name] = build_model_dir(arch, work, a.device)
        print(
            f"[{a.label}] {name}: {n_params[name] / 1e9:.3f}B params, built in {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
        if not a.no_gen:
            for gb in _ints(a.gen_batches) or [sizes.gen_batch]:
                gen_rows.append(bench_generate(path, arch, a.device, sizes, gb, a.gen_cache, a.gen_profile))
                print(f"[{a.label}] gen {asdict(gen_rows[-1])}", flush=True)
        for mode in modes:
            for b in batches[mode]:
                row = bench_sft(path, arch, n_params[name], mode, b, a.device, sizes, work)
                sft_rows.append(row)
                print(f"[{a.label}] sft {asdict(row)}", flush=True)
                if row.status == "oom":
                    break
    table = render(gen_rows, sft_rows, a.label, n_params)
    print(table, flush=True)
    result = {
        "label": a.label,
        "device": a.device,
        "measured_peak": MEASURED_PEAK,
        "n_params": n_params,
        "generation": [asdict(g) for g in gen_rows],
        "sft": [asdict(r) for r in sft_rows],
        "table": table,
    }
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
