"""Multi-GPU SFT through formalpi's own launcher: `accelerate launch` of formalpi.engine.train_entry with the shipped
ZeRO-3 / FSDP configs, the same code on 1 and on N GPUs, one call.

For each strategy and GPU count: steady-state tokens/s (optimizer steps timed on every rank with the GPU
synchronised, warm-up steps excluded; tokens/step = GPUs x per-GPU batch x seq, every example exactly seq tokens),
scaling efficiency (tokens/s on N / (N x tokens/s on 1)), peak GPU memory per rank, and the checkpoint: saved as a
plain HF directory, reloaded, its weights changed by training. The model is a random-init bf16 architecture of
bench/gpu_throughput.py (same compute and memory as the trained one).

    python bench/gpu_scaleout.py --arch qwen3-1.7b --strategies zero3,fsdp --gpus 1,2
    python bench/gpu_scaleout.py --arch qwen3-8b --strategies zero3 --gpus 2 --batch 2 --checkpointing
    python bench/gpu_scaleout.py --device cpu --arch tiny --strategies ddp --gpus 1,2 --seq 64 --batch 2  # CPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))


def reload_check(base: str, ckpt: Path) -> dict:
    """The checkpoint loads as a plain model with the base's parameter count, and training changed its weights."""
    import torch
    from transformers import AutoModelForCausalLM

    a = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
    b = AutoModelForCausalLM.from_pretrained(str(ckpt), dtype=torch.bfloat16)
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    name = "model.layers.0.mlp.down_proj.weight"
    return {
        "reloaded": True,
        "same_shapes": all(pa[k].shape == pb[k].shape for k in pa) and pa.keys() == pb.keys(),
        "weights_changed": bool((pa[name] != pb[name]).any()),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--arch", default="qwen3-1.7b")
    ap.add_argument("--strategies", default="zero3,fsdp")
    ap.add_argument("--gpus", default="1,2")
    ap.add_argument("--mode", default="full", choices=["full", "lora"])
    ap.add_argument("--batch", type=int, default=8, help="per-GPU micro-batch")
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4, help="timed steps")
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--checkpointing", action="store_true", help="activation checkpointing (8B)")
    ap.add_argument("--no-reload", action="store_true")
    ap.add_argument(
        "--launch-timeout",
        type=float,
        default=None,
        help="each launch's limit in seconds (its log "
        "stays in <work>/ckpt/<tag>.launch/launch.log; set $FORMALPI_HANG_DUMP_S for stack dumps)",
    )
    ap.add_argument("--work", default="/tmp/formalpi-scaleout")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)

    from formalpi.config import TrainConfig
    from formalpi.engine.launch import LaunchSpec, Strategy, launch_sft
    from formalpi.engine.train_entry import STEP_STATS_ENV

    import gpu_throughput as bench  # bench/ is sys.path[0] when a script here runs

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    model, n_params = bench.build_model_dir(bench.ARCHS[a.arch], work, a.device)
    print(f"{a.arch}: {n_params / 1e9:.2f}B params", flush=True)
    sizes = bench.Sizes(seq_len=a.seq)
    cfg = TrainConfig(
        finetune=a.mode,
        lora_rank=32,
        lora_alpha=64,
        lr=a.lr,
        epochs=1,
        batch_size=a.batch,
        max_length=a.seq,
        gradient_checkpointing=a.checkpointing,
    )
    gpus_list = [int(x) for x in a.gpus.split(",") if x]
    rows = []
    for si, strategy in enumerate(s for s in a.strategies.split(",") if s):
        for g in gpus_list:
            steps = a.warmup + a.steps
            examples = bench.sft_examples(sizes, a.batch * g * steps, seed=g)
            tag = f"{strategy}-{g}gpu"
            prefix = work / "stats" / tag
            out = work / "ckpt" / tag
            t0 = time.perf_counter()
            row = {"strategy": strategy, "gpus": g, "batch_per_gpu": a.batch, "seq": a.seq}
            try:
                res = launch_sft(
                    LaunchSpec(
                        strategy=Strategy(strategy),
                        num_processes=g,
                        cpu=a.device == "cpu",
                        main_process_port=29500 + 10 * si + g,
                    ),
                    model,
                    examples,
                    cfg,
                    out,
                    seed=0,
                    dtype="bfloat16" if a.device != "cpu" else "auto",
                    env={STEP_STATS_ENV: str(prefix)},
                    timeout_s=a.launch_timeout,
                )
            except Exception as e:  # one failed launch must not lose the others' numbers
                row["error"] = str(e).splitlines()[0][:300]
                row["error_tail"] = str(e)[-3000:]
                print(f"[{tag}] FAILED: {e}"[-3000:], flush=True)
                rows.append(row)
                continue
            files = [Path(f"{prefix}.rank{r}.json") for r in range(g)]
            if not all(f.exists() for f in files):  # one plain process (no DeepSpeed/FSDP): sft() has no timer
                row["error"] = "no per-step timings (train_entry ran sft() in one plain process)"
                rows.append(row)
                continue
            ranks = [json.loads(f.read_text()) for f in files]
            step_s = [statistics.mean(rk["step_s"][a.warmup :]) for rk in ranks]
            row.update(
                steps=res.steps,
                launch_wall_s=round(time.perf_counter() - t0, 1),
                step_s=round(max(step_s), 4),
                tokens_per_s=g * a.batch * a.seq / max(step_s),
                peak_gib_per_gpu=[round(rk["peak_gib"], 1) for rk in ranks],
                final_loss=res.final_loss,
            )
            row["mfu_990"] = (6 if a.mode == "full" else 4) * n_params * row["tokens_per_s"] / (990e12 * g)
            if not a.no_reload and g == max(gpus_list):  # the sharded save is the one to check
                row.update(reload_check(model, out))
            rows.append(row)
            print(f"[{tag}] {row}", flush=True)
    base = {r["strategy"]: r["tokens_per_s"] for r in rows if r["gpus"] == 1 and "tokens_per_s" in r}
    lines = [
        f"{a.arch} ({n_params / 1e9:.2f}B), {a.mode} fine-tuning, {a.batch} x {a.seq} per GPU",
        "",
        "| strategy | GPUs | s/step | tokens/s | scaling efficiency | MFU/GPU (990) | peak GiB per GPU "
        "| checkpoint reloads, weights changed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['strategy']} | {r['gpus']} | failed: {r['error'][:80]} | | | | | |")
            continue
        eff = (
            f"{r['tokens_per_s'] / (r['gpus'] * base[r['strategy']]):.1%}"
            if r["strategy"] in base and r["gpus"] > 1
            else "-"
        )
        ck = f"{r.get('reloaded', '-')}, {r.get('weights_changed', '-')}"
        lines.append(
            f"| {r['strategy']} | {r['gpus']} | {r['step_s']:.3f} | {r['tokens_per_s']:,.0f} | {eff} "
            f"| {r['mfu_990']:.1%} | {', '.join(map(str, r['peak_gib_per_gpu']))} | {ck} |"
        )
    table = "\n".join(lines)
    print(table, flush=True)
    result = {"arch": a.arch, "n_params": n_params, "rows": rows, "table": table}
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
