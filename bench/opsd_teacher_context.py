"""OPSD teacher context on the tiny model: trained samples per step and the teacher-PI KL.

Runs `steps` OPSD steps (LoRA, one scored sample per problem, base teacher) directly through `OPSDSession` for
each condition and prints, per condition: samples drawn per step, samples in the loss per step, and the mean
teacher-PI KL (KL of the PI teacher from the plain teacher over the trained tokens). Run from a checkout's root,
or with PYTHONPATH pointing at another checkout to measure that code:

    PYTHONPATH=. python bench/opsd_teacher_context.py --steps 8 --batch 16   # bench/ is sys.path[0], not the cwd
"""

from __future__ import annotations

import argparse
import statistics

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--conditions", default="try_again,gold,gibberish")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from formalpi.domains.math.domain import MathDomain
    from formalpi.config import OPSDConfig, TrainConfig
    from formalpi.engine.conditions import get_condition
    from formalpi.engine.opsd import OPSDSession, Teacher, load_student
    from formalpi.tiny import ensure_tiny_model

    model = str(ensure_tiny_model())
    with MathDomain() as domain:
        problems = domain.problems("arith", "train", limit=200)
        for name in args.conditions.split(","):
            student, tok = load_student(model, TrainConfig(lora_rank=8), "cpu", "float32", seed=0)
            o = OPSDConfig(
                steps=args.steps,
                batch_size=args.batch,
                samples_per_problem=1,
                max_new_tokens=args.max_new_tokens,
                lr=1e-4,
            )
            opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=o.lr)
            session = OPSDSession(
                student,
                tok,
                Teacher(student, "base"),
                opt,
                domain,
                get_condition(name, domain),
                o,
                0,
                problems,
                problems,
            )
            steps = [session.step(t) for t in range(args.steps)]
            kls = [s.teacher_pi_kl for s in steps if s.teacher_pi_kl is not None]
            print(
                f"{name:10s} drawn/step {statistics.mean(s.samples for s in steps):5.1f}  "
                f"trained/step {statistics.mean(s.trained_samples for s in steps):5.2f}  "
                f"solved/step {statistics.mean(s.solved for s in steps):5.2f}  "
                f"teacher-PI KL {statistics.mean(kls) if kls else float('nan'):.4f} (over {len(kls)} steps)"
            )


if __name__ == "__main__":
    main()
