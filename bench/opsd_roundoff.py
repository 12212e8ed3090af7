"""How far OPSD's step losses move under round-off alone, on the shipped tiny model (CPU, ~20 s on 2 cores).

    .venv/bin/python bench/opsd_roundoff.py [--steps 2] [--micro-batches 4,1,2,8]

The setup of `tests/test_colocate_gpu.py` (tiny model, LoRA rank 8, 8 arith problems per step, greedy, 24 tokens,
`try_again`, lr 2e-3), run once per (dtype, opsd.micro_batch_size). The micro-batch changes padding and kernel
shapes, not the mathematics (`tests/test_losses.py`: equal in fp32), so the spread within one dtype is round-off,
and fp32 vs bf16 is the whole of bf16's rounding. It bounds what a GPU test comparing two paths of the same step
(transformers vs colocated vLLM generation) can ask of the loss: the loss is a KL between two nearly equal
distributions (~0.01 nats), which round-off in the logits moves by percent, not by 1e-3.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402


def run(path: str, domain, problems, dtype: str, micro_batch: int, steps: int):
    from formalpi.config import OPSDConfig, TrainConfig
    from formalpi.engine.colocate import HFSampler
    from formalpi.engine.conditions import get_condition
    from formalpi.engine.opsd import OPSDSession, Teacher, load_student

    student, tok = load_student(path, TrainConfig(finetune="lora", lora_rank=8), "cpu", dtype, seed=0)
    teacher = Teacher(student, "base")
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=2e-3, weight_decay=0.0)
    cfg = OPSDConfig(batch_size=8, max_new_tokens=24, micro_batch_size=micro_batch).model_copy(
        update={"temperature": 0.0}
    )
    calls: list = []

    class Recorder(HFSampler):
        def sample(self, *a, **kw):
            out = super().sample(*a, **kw)
            calls.append(out)
            return out

    session = OPSDSession(
        student, tok, teacher, opt, domain, get_condition("try_again", "math"), cfg, 0, problems, sampler=Recorder()
    )
    return [session.step(t) for t in range(steps)], calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--micro-batches", default="4,1,2,8")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from formalpi.domains.math.domain import MathDomain
    from formalpi.tiny import ensure_tiny_model

    path, domain = str(ensure_tiny_model()), MathDomain()
    problems = domain.problems("arith", "train", limit=32)
    first: dict[str, float] = {}  # dtype -> step-0 loss at the reference micro-batch
    print("| dtype | micro-batch | step | loss | rel. diff vs micro-batch 4 | samples identical to micro-batch 4 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for dtype in ("float32", "bfloat16"):
        ref = None
        for mb in (int(x) for x in args.micro_batches.split(",")):
            recs, calls = run(path, domain, problems, dtype, mb, args.steps)
            ref = ref or (recs, calls)
            for t, (r, c) in enumerate(zip(recs, calls)):
                r0, c0 = ref[0][t], ref[1][t]
                same = sum(a == b for x, y in zip(c, c0) for a, b in zip(x, y))
                total = sum(len(x) for x in c0)
                rel = abs(r.loss - r0.loss) / abs(r0.loss)
                print(f"| {dtype} | {mb} | {t} | {r.loss:.6g} | {rel:.2e} | {same} of {total} |", flush=True)
        first[dtype] = ref[0][0].loss
    bf16, fp32 = first["bfloat16"], first["float32"]
    print(
        f"\nstep-0 loss, bf16 vs fp32 (same weights, same samples): {bf16:.6g} vs {fp32:.6g}, {abs(bf16 - fp32) / fp32:.1%} apart"
    )


if __name__ == "__main__":
    main()
