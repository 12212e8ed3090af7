"""A rank killed mid-training: the launch must fail cleanly, and the rerun must commit the checkpoint.

    python bench/gpu_kill_rank.py --arch qwen3-1.7b --strategy zero2 --gpus 2 --kill-rank 1 --after-s 8

Launches `formalpi.engine.launch.launch_sft` (the `accelerate launch ... -m formalpi.engine.train_entry` of
`formalpi run --launcher accelerate`) in a thread, waits until every rank has logged `train start` in launch.log
plus `--after-s` seconds, SIGKILLs the process of rank `--kill-rank`, and records: how the launch failed (its
LaunchError), how long after the kill, whether any rank process outlived it, whether a checkpoint directory
appeared (it must not: the checkpoint is committed by one rename after a complete save), what was left behind.
Then the same launch is run again into the same directory and must commit a checkpoint that reloads.

"Resume" for a training stage means: the stage restarts from the round's start model (nothing of a killed
training is kept but its scratch directory, which the rerun deletes); what the run had committed before the stage
(attempts, verdicts, examples, earlier rounds' checkpoints) is read back, not regenerated (formalpi/runs.py).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))


def rank_pids(launcher_pid: int) -> dict[int, int]:
    """RANK -> pid of the launcher's descendants that carry a RANK in their environment (accelerate's workers)."""
    import psutil

    out = {}
    try:
        kids = psutil.Process(launcher_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return out
    for k in kids:
        try:
            env = k.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "RANK" in env and "LOCAL_RANK" in env:
            out[int(env["RANK"])] = k.pid
    return out


def alive(pids) -> list[int]:
    import psutil

    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--arch", default="qwen3-1.7b")
    ap.add_argument("--strategy", default="zero2")
    ap.add_argument("--gpus", type=int, default=2)
    ap.add_argument("--kill-rank", type=int, default=1)
    ap.add_argument("--after-s", type=float, default=8.0, help="seconds after every rank logged `train start`")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=240.0, help="each launch's limit (launch_sft timeout_s)")
    ap.add_argument("--work", default="/tmp/formalpi-kill")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)

    import psutil

    from formalpi.config import TrainConfig
    from formalpi.engine.launch import EntryFiles, LaunchError, LaunchSpec, Strategy, launch_sft

    import gpu_throughput as bench  # bench/ is sys.path[0] when a script here runs

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    model, _ = bench.build_model_dir(bench.ARCHS[a.arch], work, a.device)
    examples = bench.sft_examples(bench.Sizes(seq_len=a.seq), a.batch * a.gpus * a.steps, seed=1)
    cfg = TrainConfig(finetune="full", lr=1e-5, epochs=1, batch_size=a.batch, max_length=a.seq)
    out = work / "ckpt" / "killed"
    files = EntryFiles.beside(out)
    log = files.result.parent / "launch.log"
    spec = LaunchSpec(
        strategy=Strategy(a.strategy), num_processes=a.gpus, cpu=a.device == "cpu", main_process_port=29650
    )
    outcome: dict = {}

    def first_launch():
        t0 = time.perf_counter()
        try:
            launch_sft(spec, model, examples, cfg, out, seed=0, timeout_s=a.timeout)
            outcome["error"] = None
        except LaunchError as e:
            outcome["error"] = str(e).splitlines()[0]
        outcome["returned_at"] = time.perf_counter()
        outcome["wall_s"] = outcome["returned_at"] - t0

    me = psutil.Process(os.getpid())
    th = threading.Thread(target=first_launch)
    th.start()
    pids: dict[int, int] = {}
    deadline = time.time() + a.timeout
    while time.time() < deadline and th.is_alive():  # every rank in training (phase lines in launch.log)
        text = log.read_text(errors="replace") if log.exists() else ""
        if text.count("] train start") >= a.gpus:
            break
        time.sleep(0.5)
    time.sleep(a.after_s)
    launcher = [c for c in me.children() if "accelerate" in " ".join(c.cmdline())]
    if launcher:
        pids = rank_pids(launcher[0].pid)
    row = {"strategy": a.strategy, "gpus": a.gpus, "kill_rank": a.kill_rank, "rank_pids": pids}
    if a.kill_rank not in pids:
        row["error"] = f"rank {a.kill_rank} not found among the launcher's processes: {pids}"
        th.join()
    else:
        t_kill = time.perf_counter()
        os.kill(pids[a.kill_rank], signal.SIGKILL)
        th.join()
        text = log.read_text(errors="replace")
        row.update(
            launch_error=outcome["error"],
            failed_s_after_kill=round(outcome["returned_at"] - t_kill, 1),
            first_launch_wall_s=round(outcome["wall_s"], 1),
            ranks_alive_after=alive(pids.values()),
            checkpoint_dir_exists=out.exists(),
            left_behind=sorted(p.name for p in out.parent.iterdir()),
            phases_logged=[ln.split("] ", 1)[1] for ln in text.splitlines() if ln.startswith("[train_entry")],
        )
        t0 = time.perf_counter()
        try:
            res = launch_sft(spec, model, examples, cfg, out, seed=0, timeout_s=a.timeout)
            row.update(
                rerun_ok=True,
                rerun_steps=res.steps,
                rerun_wall_s=round(time.perf_counter() - t0, 1),
                rerun_left=sorted(p.name for p in out.parent.iterdir()),
            )
            from transformers import AutoModelForCausalLM

            AutoModelForCausalLM.from_pretrained(str(out))
            row["rerun_checkpoint_reloads"] = True
        except Exception as e:  # noqa: BLE001 - recorded, not hidden
            row.update(rerun_ok=False, rerun_error=str(e)[-1500:])
    print(json.dumps(row, indent=1), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(row, indent=1))
    return row


if __name__ == "__main__":
    main()
