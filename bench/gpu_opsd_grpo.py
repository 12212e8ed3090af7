"""One OPSD step and one IPRS (GRPO) step on the tiny model architecture; prints time per step, peak memory, loss.

    python bench/gpu_opsd_grpo.py                       # cuda, bf16 (the GPU machine)
    python bench/gpu_opsd_grpo.py --device cpu          # CPU, float32
    python bench/gpu_opsd_grpo.py --model PATH          # a local checkpoint instead of the tiny architecture

Without --model the tiny Qwen3 architecture (formalpi.tiny.TinySpec) is built with random weights (no training:
the timing does not depend on what the weights know). Each method runs a warm-up step, then `--steps` timed steps.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402


def build_tiny(out: Path) -> str:
    from formalpi.tiny import TinySpec, build_model, build_tokenizer

    tok = build_tokenizer()
    model = build_model(TinySpec(), len(tok), tok.eos_token_id, tok.pad_token_id, tok.bos_token_id)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; process peak RSS


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default=None, help="default: bfloat16 on cuda, float32 on cpu")
    ap.add_argument("--model", default=None)
    ap.add_argument("--batch-size", type=int, default=8, help="problems per step")
    ap.add_argument("--generations", type=int, default=4, help="GRPO completions per problem")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--steps", type=int, default=1, help="timed steps per method (after one warm-up step)")
    ap.add_argument("--methods", default="opsd,grpo", help="which of opsd, grpo to time")
    args = ap.parse_args()
    methods = set(args.methods.split(","))
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")

    from formalpi.domains.math.domain import MathDomain
    from formalpi.config import config_from_dict
    from formalpi.engine.conditions import get_condition
    from formalpi.engine.grpo import build_trainer
    from formalpi.engine.opsd import OPSDSession, Teacher, load_student

    tmp = Path(tempfile.mkdtemp(prefix="bench-opsd-grpo-"))
    model_path = args.model or build_tiny(tmp / "tiny")
    cfg = config_from_dict({
        "name": "bench", "method": "opsd", "condition": "gold",
        "model": {"path": model_path, "device": args.device, "dtype": dtype},
        "train": {"finetune": "lora", "lora_rank": 8},
        "opsd": {"batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens, "lr": 1e-4},
        "grpo": {"batch_size": args.batch_size, "num_generations": args.generations,
                 "max_new_tokens": args.max_new_tokens, "steps": 1 + args.steps, "save_every": 10_000,
                 "shaping_lambda": 0.1}})
    print(f"device={args.device} dtype={dtype} model={'tiny architecture (random init)' if not args.model else model_path} "
          f"torch={torch.__version__}")
    with MathDomain() as domain:
        problems = domain.problems("arith", "train", limit=64)

        if "opsd" in methods:
            student, tok = load_student(model_path, cfg.train, args.device, dtype, seed=0)
            teacher = Teacher(student, cfg.opsd.teacher)
            opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=cfg.opsd.lr)
            session = OPSDSession(student, tok, teacher, opt, domain, get_condition("gold", "math"), cfg.opsd, 0,
                                  problems)
            session.step(0)  # warm-up
            reset_peak(args.device)
            for t in range(1, 1 + args.steps):
                t0 = time.perf_counter()
                rec = session.step(t)
                sync(args.device)
                dt = time.perf_counter() - t0
                print(f"opsd  step {t}: {dt:.3f} s/step  loss={rec.loss:.4f}  teacher_pi_kl={rec.teacher_pi_kl}  "
                      f"tokens={rec.tokens}  samples={rec.samples}  peak_mem={peak_memory_mb(args.device):.1f} MiB")
            del session, student, teacher, opt
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()

        if "grpo" in methods:
            from transformers import TrainerCallback

            times: list[float] = []

            class Timer(TrainerCallback):
                def on_step_begin(self, a, state, control, **kw):
                    sync(args.device)
                    self.t0 = time.perf_counter()
                    if state.global_step == 1:
                        reset_peak(args.device)

                def on_step_end(self, a, state, control, **kw):
                    sync(args.device)
                    times.append(time.perf_counter() - self.t0)

            gcfg = cfg.model_copy(update={"method": "grpo"})
            trainer, _ = build_trainer(gcfg, 0, domain, model_path, problems, tmp / "grpo", callbacks=[Timer()])
            trainer.train()
            losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
            rewards = [h.get("reward") for h in trainer.state.log_history if "loss" in h]
            for t in range(1, len(times)):
                print(f"grpo  step {t}: {times[t]:.3f} s/step  loss={losses[t]:.4f}  reward={rewards[t]:.4f}  "
                      f"completions={args.batch_size * args.generations}  peak_mem={peak_memory_mb(args.device):.1f} MiB")
    what = "torch.cuda.max_memory_allocated" if args.device.startswith("cuda") else "process peak RSS"
    print(f"(warm-up steps excluded; peak memory is {what})")


if __name__ == "__main__":
    main()
