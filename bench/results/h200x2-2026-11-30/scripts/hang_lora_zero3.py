"""LoRA + ZeRO-3 on 2 GPUs, tiny Qwen3 architecture: the launch of train_entry from the tree on PYTHONPATH
(old: main before the fix; new: branch gpu18), its output streamed to a file. If it has not finished after
LIMIT s, each rank gets SIGABRT (PYTHONFAULTHANDLER=1: Python prints every thread's stack) and the group is
killed. Usage: python3 hang_lora_zero3.py TREE LOG LIMIT_S PORT"""
import importlib.util, json, os, signal, subprocess, sys, time
from pathlib import Path
tree, log_path, limit, port = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
spec = importlib.util.spec_from_file_location("gpu_throughput", f"{tree}/bench/gpu_throughput.py")
bench = importlib.util.module_from_spec(spec); sys.modules["gpu_throughput"] = bench; spec.loader.exec_module(bench)
import psutil
from formalpi.config import TrainConfig
from formalpi.engine.launch import EntryFiles, LaunchSpec, Strategy, accelerate_command, train_entry_args, write_entry_inputs
import formalpi; print("formalpi from", formalpi.__file__, flush=True)
work = Path(f"/tmp/hang-{port}"); work.mkdir(parents=True, exist_ok=True)
model, n = bench.build_model_dir(bench.ARCHS["tiny"], work, "cuda")
examples = bench.sft_examples(bench.Sizes(seq_len=256), 2 * 2 * 4, seed=0)
cfg = TrainConfig(finetune="lora", lora_rank=8, lora_alpha=16, lr=1e-4, epochs=1, batch_size=2, max_length=256)
out = work / "ckpt"; files = EntryFiles.beside(out); write_entry_inputs(files, examples, cfg)
cmd = accelerate_command(LaunchSpec(Strategy.ZERO3, 2, main_process_port=port), train_entry_args(model, files, out, 0))
t0 = time.perf_counter()
with open(log_path, "w") as log:
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONFAULTHANDLER="1"),
                         start_new_session=True)
    try:
        rc = p.wait(timeout=limit); hung = False
    except subprocess.TimeoutExpired:
        rc, hung = None, True
        ranks = [c for c in psutil.Process(p.pid).children(recursive=True) if "RANK" in c.environ()]
        for c in ranks:
            os.kill(c.pid, signal.SIGABRT)
        time.sleep(5)
        os.killpg(p.pid, signal.SIGKILL); p.wait()
print(json.dumps({"tree": tree, "finished": not hung, "rc": rc, "wall_s": round(time.perf_counter() - t0, 1),
                  "checkpoint_committed": (out / "config.json").exists(), "result_written": files.result.exists()}),
      flush=True)
