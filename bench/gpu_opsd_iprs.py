"""OPSD and IPRS (GRPO) steps through formalpi's own code paths; prints one JSON line per timed step.

    python bench/gpu_opsd_iprs.py --method opsd --backend vllm --arch qwen3-1.7b --batch-size 32 --max-new-tokens 2048
    python bench/gpu_opsd_iprs.py --method opsd --backend hf   --arch qwen3-1.7b --batch-size 32 --max-new-tokens 2048
    python bench/gpu_opsd_iprs.py --method iprs --backend vllm --arch qwen3-1.7b --batch-size 16 --generations 8
    python bench/gpu_opsd_iprs.py --method sync-check              # tiny model: vLLM's log-probs after a step
    python bench/gpu_opsd_iprs.py --device cpu --arch tiny --batch-size 2 --max-new-tokens 8   # CPU smoke run

`--arch qwen3-1.7b` builds the Qwen3-1.7B architecture with random bf16 weights (bench/gpu_throughput.py; same
compute and memory as the checkpoint, no download); `--arch tiny` is the shipped tiny model. A random model almost
never samples EOS, so every completion runs to `--max-new-tokens`: the worst case of a step. OPSD runs the
`try_again` condition (retry-style teacher context) on arith problems; IPRS the same condition with shaping.

Per step: wall seconds, seconds spent sampling, tokens generated (and per second of sampling and of the whole step),
the trainer's torch peak (`torch.cuda.max_memory_allocated`) and the whole device's peak used memory read by NVML
every 50 ms (the colocated vLLM engine allocates outside torch's allocator).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402


class DevicePeak:
    """Whole-GPU used memory (NVML), sampled every 50 ms in a thread; `peak_gib()` since the last `reset()`."""

    def __init__(self, device: str):
        self.on = device.startswith("cuda")
        self.peak = 0
        if not self.on:
            return
        import pynvml

        pynvml.nvmlInit()
        self._nvml, self._h = pynvml, pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while True:
            self.peak = max(self.peak, self._nvml.nvmlDeviceGetMemoryInfo(self._h).used)
            time.sleep(0.05)

    def reset(self) -> None:
        self.peak = 0
        if self.on:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float:
        return round(self.peak / 2**30, 2)


def torch_peak_gib(device: str) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.startswith("cuda") else None


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class TimedSampler:
    """Wraps a sampler: seconds and tokens of the last `sample` call."""

    def __init__(self, inner, device: str):
        self.inner, self.device, self.seconds, self.tokens = inner, device, 0.0, 0

    def sample(self, model, tok, prompt_ids, **kw):
        sync(self.device)
        t0 = time.perf_counter()
        out = self.inner.sample(model, tok, prompt_ids, **kw)
        sync(self.device)
        self.seconds = time.perf_counter() - t0
        self.tokens = sum(len(c) for cs in out for c in cs)
        return out

    def close(self) -> None:
        self.inner.close()


def model_dir(arch: str, work: Path, device: str) -> str:
    if arch == "tiny":
        from formalpi.tiny import ensure_tiny_model

        return str(ensure_tiny_model())
    from gpu_throughput import ARCHS, build_model_dir

    return build_model_dir(ARCHS[arch], work, device)[0]


def config(args, path: str, dtype: str):
    from formalpi.config import config_from_dict, for_method

    method = args.method if args.method != "sync-check" else "opsd"
    return config_from_dict(
        for_method(
            {  # the method's own section of the two
                "name": "bench",
                "method": method,
                "condition": "try_again",
                "model": {
                    "path": path,
                    "device": args.device,
                    "dtype": dtype,
                    "backend": "hf" if args.backend == "none" else args.backend,
                    "vllm": {
                        "enforce_eager": args.eager,
                        **({"max_model_len": args.max_model_len} if args.max_model_len else {}),
                    },
                },
                "train": {"finetune": "lora", "lora_rank": args.lora_rank, "gradient_checkpointing": args.grad_ckpt},
                "opsd": {
                    "batch_size": args.batch_size,
                    "max_new_tokens": args.max_new_tokens,
                    "lr": args.lr,
                    "vllm_gpu_memory_utilization": args.vllm_memory,
                    **({"micro_batch_size": args.micro_batch} if args.micro_batch else {}),
                },
                "iprs": {
                    "batch_size": args.batch_size,
                    "num_generations": args.generations,
                    "max_new_tokens": args.max_new_tokens,
                    "steps": args.warmup + args.steps,
                    "save_every": 10_000,
                    "shaping_lambda": 0.1,
                    "lr": args.lr,
                    "vllm_gpu_memory_utilization": args.vllm_memory,
                    **({"per_device_train_batch_size": args.micro_batch} if args.micro_batch else {}),
                },
            },
            method,
        )
    )


class RandomSampler:
    """Completions of exactly `max_new_tokens` uniformly drawn non-special ids, without running the model: what
    the random-weight model samples anyway (it almost never draws EOS), so the update's work and memory are those
    of a real step while generation is left out (`--backend none`: the trainer measured alone)."""

    def sample(self, model, tok, prompt_ids, *, n: int, max_new_tokens: int, temperature: float, seed: int):
        g = torch.Generator().manual_seed(seed)
        special = torch.tensor(sorted(set(tok.all_special_ids)))
        vocab = len(tok)
        out = []
        for _ in prompt_ids:
            rows = []
            for _ in range(n):
                ids = torch.randint(0, vocab, (max_new_tokens,), generator=g)
                ids[torch.isin(ids, special)] = vocab - 1  # a filler token: no EOS, no pad
                rows.append(ids.tolist())
            out.append(rows)
        return out

    def close(self) -> None:
        pass


def opsd_session(cfg, path: str, domain, problems, device: str, dtype: str, backend: str = "hf"):
    from formalpi.engine.colocate import HFSampler, colocated_engine
    from formalpi.engine.conditions import get_condition
    from formalpi.engine.opsd import OPSDSession, Teacher, load_student

    student, tok = load_student(path, cfg.train, device, dtype, seed=0)
    teacher = Teacher(student, cfg.opsd.teacher)
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=cfg.opsd.lr, weight_decay=0.0)
    if backend == "none":
        inner = RandomSampler()
    elif cfg.model.backend == "vllm":
        inner = colocated_engine(
            path,
            dtype=dtype,
            gpu_memory_utilization=cfg.opsd.vllm_gpu_memory_utilization,
            max_model_len=cfg.model.vllm.max_model_len,
            enforce_eager=cfg.model.vllm.enforce_eager,
        )
    else:
        inner = HFSampler()
    sampler = TimedSampler(inner, device)
    session = OPSDSession(
        student, tok, teacher, opt, domain, get_condition("try_again", "math"), cfg.opsd, 0, problems, sampler=sampler
    )
    return session, sampler


class Stopwatch:
    """Wraps a callable: seconds spent in it since the last `reset()` (the step's parts besides sampling)."""

    def __init__(self, fn, device: str):
        self.fn, self.device, self.seconds = fn, device, 0.0

    def __call__(self, *a, **kw):
        t0 = time.perf_counter()
        out = self.fn(*a, **kw)
        sync(self.device)
        self.seconds += time.perf_counter() - t0
        return out


def run_opsd(args, cfg, path, domain, problems, dtype, peak: DevicePeak) -> None:
    t0 = time.perf_counter()
    session, sampler = opsd_session(cfg, path, domain, problems, args.device, dtype, args.backend)
    emit({"event": "loaded", "s": round(time.perf_counter() - t0, 1), "device_gib": peak.peak_gib()})
    verify = Stopwatch(domain.verify_many, args.device)
    update = Stopwatch(session._update, args.device)
    domain.verify_many, session._update = verify, update
    for t in range(args.warmup + args.steps):
        peak.reset()
        verify.seconds = update.seconds = 0.0
        t0 = time.perf_counter()
        rec = session.step(t)
        sync(args.device)
        dt = time.perf_counter() - t0
        emit(
            {
                "method": "opsd",
                "backend": args.backend,
                "step": t,
                "warmup": t < args.warmup,
                "s_step": round(dt, 2),
                "s_sample": round(sampler.seconds, 2),
                "s_verify": round(verify.seconds, 2),
                "s_update": round(update.seconds, 2),
                "generated_tokens": sampler.tokens,
                "tokens_per_s_sampling": round(sampler.tokens / max(sampler.seconds, 1e-9)),
                "tokens_per_s_step": round(sampler.tokens / dt),
                "samples": rec.samples,
                "trained_samples": rec.trained_samples,
                "loss_tokens": rec.tokens,
                "loss": round(rec.loss, 5),
                "teacher_pi_kl": rec.teacher_pi_kl,
                "torch_peak_gib": torch_peak_gib(args.device),
                "device_peak_gib": peak.peak_gib(),
            }
        )
    sampler.close()


def run_iprs(args, cfg, path, domain, problems, work: Path, peak: DevicePeak) -> None:
    from transformers import TrainerCallback

    from formalpi.engine.iprs import build_trainer

    # the step's parts: TRL's generation (vLLM wake, weight sync, sampling, sleep; or transformers' generate), the
    # reward functions (the shaping reward's two teacher forwards), and the rest (vLLM's importance-sampling forward
    # and the update)
    parts: dict[str, Stopwatch] = {}

    class Timer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            peak.reset()
            for watch in parts.values():
                watch.seconds = 0.0
            self.t0 = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            sync(args.device)
            self.dt = time.perf_counter() - self.t0

        def on_log(self, a, state, control, logs=None, **kw):
            if not logs or "loss" not in logs:
                return
            step = state.global_step - 1
            gen = args.batch_size * args.generations * logs.get("completions/mean_length", 0.0)
            emit(
                {
                    "method": "iprs",
                    "backend": args.backend,
                    "step": step,
                    "warmup": step < args.warmup,
                    "s_step": round(self.dt, 2),
                    **{f"s_{name}": round(w.seconds, 2) for name, w in parts.items()},
                    "s_rest": round(self.dt - sum(w.seconds for w in parts.values()), 2),
                    "generated_tokens": round(gen),
                    "tokens_per_s_step": round(gen / self.dt),
                    "completions": args.batch_size * args.generations,
                    "loss": logs["loss"],
                    "reward": logs.get("reward"),
                    "torch_peak_gib": torch_peak_gib(args.device),
                    "device_peak_gib": peak.peak_gib(),
                }
            )

    t0 = time.perf_counter()
    trainer, _ = build_trainer(cfg, 0, domain, path, problems, work / "iprs", callbacks=[Timer()])
    for name, method in (("generate", "_generate"), ("rewards", "_calculate_rewards")):  # TRL's own step methods
        parts[name] = Stopwatch(getattr(trainer, method), args.device)
        setattr(trainer, method, parts[name])
    emit({"event": "loaded", "s": round(time.perf_counter() - t0, 1), "device_gib": peak.peak_gib()})
    trainer.train()


def run_sync_check(args, cfg, path, domain, problems, dtype) -> None:
    """One OPSD step at a high learning rate with the colocated engine; then the log-probabilities of a fixed
    sequence under the trainer's weights, under the engine's pre-step weights (what an engine never synced would
    give) and under the engine after `sync`."""
    from formalpi.engine.losses import completion_hidden, lm_head, token_logprobs
    from formalpi.engine.opsd import pack

    session, sampler = opsd_session(cfg, path, domain, problems, args.device, dtype)
    engine, tok = sampler.inner, session.tokenizer
    prompt = tok(session.domain.prompt(problems[0]), add_special_tokens=False)["input_ids"]
    fixed = prompt + tok("The answer is 42. \\boxed{42}", add_special_tokens=False)["input_ids"]

    def trainer_logprobs() -> list[float]:
        packed = pack([fixed[:1]], [fixed[1:]], tok.pad_token_id, args.device)
        with torch.no_grad():
            h = completion_hidden(
                session.student, packed.input_ids, packed.attention_mask, packed.positions, packed.mask
            )
            return token_logprobs(h, torch.tensor(fixed[1:], device=args.device), lm_head(session.student)).tolist()

    def gap(a, b) -> float:
        return round(max(abs(x - y) for x, y in zip(a, b)), 4)

    before = trainer_logprobs()
    engine_before = engine.prompt_logprobs(session.student, fixed)
    rec = session.step(0)  # samples with the synced engine, then one update at args.lr
    after = trainer_logprobs()
    stale = engine_before  # what the engine gives without a sync: the pre-step weights
    synced = engine.prompt_logprobs(session.student, fixed)
    emit(
        {
            "method": "sync-check",
            "lr": args.lr,
            "tokens": len(fixed) - 1,
            "loss": rec.loss,
            "trainer_moved_max_abs": gap(before, after),
            "engine_vs_trainer_before_step_max_abs": gap(engine_before, before),
            "stale_engine_vs_trainer_max_abs": gap(stale, after),
            "synced_engine_vs_trainer_max_abs": gap(synced, after),
            "synced_mean_abs": round(sum(abs(x - y) for x, y in zip(synced, after)) / len(after), 5),
        }
    )
    sampler.close()


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", choices=["opsd", "iprs", "sync-check"], default="opsd")
    ap.add_argument(
        "--backend",
        choices=["hf", "vllm", "none"],
        default="hf",
        help="none: random full-length completions, no generation (the update measured alone)",
    )
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--arch", default="qwen3-1.7b", help="qwen3-1.7b (random weights) or tiny")
    ap.add_argument("--work", default=None, help="where the random model is built (kept between runs)")
    ap.add_argument("--batch-size", type=int, default=32, help="problems per step")
    ap.add_argument("--generations", type=int, default=8, help="GRPO completions per problem")
    ap.add_argument("--max-new-tokens", type=int, default=2048)
    ap.add_argument("--micro-batch", type=int, default=None, help="opsd.micro_batch_size / iprs per-device batch")
    ap.add_argument("--lora-rank", type=int, default=32)
    ap.add_argument("--grad-ckpt", action="store_true", help="train.gradient_checkpointing (activations recomputed)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--steps", type=int, default=2, help="timed steps")
    ap.add_argument("--vllm-memory", type=float, default=0.35)
    ap.add_argument("--max-model-len", type=int, default=None)
    ap.add_argument("--eager", action="store_true", help="vLLM without CUDA graphs (faster start)")
    args = ap.parse_args()
    if args.micro_batch is None and args.method != "iprs":
        args.micro_batch = 4
    dtype = "bfloat16" if args.device.startswith("cuda") else "float32"

    from formalpi.domains.math.domain import MathDomain

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-opsd-iprs-"))
    path = model_dir(args.arch, work, args.device)
    cfg = config(args, path, dtype)
    peak = DevicePeak(args.device)
    emit(
        {
            "event": "start",
            "args": vars(args),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        }
    )
    with MathDomain() as domain:
        problems = domain.problems("arith", "train", limit=256)
        if args.method == "opsd":
            run_opsd(args, cfg, path, domain, problems, dtype, peak)
        elif args.method == "iprs":
            run_iprs(args, cfg, path, domain, problems, work, peak)
        else:
            run_sync_check(args, cfg, path, domain, problems, dtype)


if __name__ == "__main__":
    main()
