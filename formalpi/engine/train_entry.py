"""SFT as a process entry point, for `accelerate launch`:

    accelerate launch --config_file formalpi/configs/accelerate/zero3.yaml --num_processes 8 \\
        -m formalpi.engine.train_entry --model M --examples E.jsonl --config train.json --out D --seed S \\
        [--device auto] [--dtype auto] [--result R.json] [--enable-thinking true|false]

One process (no DeepSpeed/FSDP, world size 1) runs `formalpi.engine.train.sft` unchanged. Under DeepSpeed, FSDP
or several processes, `sft_sharded` runs instead: the same SFTConfig, but the model is built by the trainer (so
ZeRO-3 can create it already sharded) and saved with `trainer.save_model`, which gathers sharded weights; the main
process then merges LoRA and moves the checkpoint into place. `--result` gets the SFTResult as JSON (main process).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from pydantic import ValidationError

from formalpi.config import TrainConfig
from formalpi.engine.train import SFTResult, keep_logs, lora_config, sft, sft_args, to_dataset
from formalpi.errors import ConfigError, DataError, FormalpiError
from formalpi.records import Example


def read_examples(path: Path) -> list[Example]:
    if not path.is_file():
        raise DataError(f"--examples {path}: no such file (one Example JSON object per line)")
    out = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Example.model_validate_json(line))
        except ValidationError as e:
            raise DataError(
                f"--examples {path}:{i}: not an Example record: {e.errors()[0]['msg']} "
                f"(field {'.'.join(map(str, e.errors()[0]['loc'])) or '?'})"
            ) from None
    return out


def read_train_config(path: Path) -> TrainConfig:
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file (a JSON object of the [train] section's keys)")
    try:
        return TrainConfig.model_validate_json(path.read_text())
    except ValidationError as e:
        first = e.errors()[0]
        raise ConfigError(f"--config {path}: train.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


STEP_STATS_ENV = "FORMALPI_STEP_STATS"  # benchmarks: each rank writes <prefix>.rank<i>.json (step times, peak memory)
HANG_DUMP_ENV = "FORMALPI_HANG_DUMP_S"  # diagnosis: every rank dumps all its threads' stacks every N seconds


def runs_sharded(env: dict[str, str] | None = None) -> bool:
    """True when accelerate launched us with DeepSpeed or FSDP, or with more than one process — or when a benchmark
    asks for step timings ($FORMALPI_STEP_STATS): then one process runs the same code as N, so 1-vs-N compares
    like with like (DDP on one GPU would otherwise run plain `sft`, which has no step timer)."""
    seen: Mapping[str, str] = os.environ if env is None else env
    return (
        seen.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
        or seen.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
        or int(seen.get("WORLD_SIZE", "1")) > 1
        or bool(seen.get(STEP_STATS_ENV))
    )


def phase(name: str) -> None:
    """One line per training phase on stderr (launch.log): where a hung or killed launch stopped, per rank."""
    print(
        f"[train_entry rank {os.environ.get('RANK', '0')} {time.strftime('%H:%M:%S')}] {name}",
        file=sys.stderr,
        flush=True,
    )


def arm_hang_dump(env: dict[str, str] | None = None) -> float | None:
    """With $FORMALPI_HANG_DUMP_S=N, dump every thread's stack to stderr every N seconds (faulthandler, no cost
    until then): a launch that hangs shows, per rank, the line it waits in."""
    import faulthandler

    raw = (os.environ if env is None else env).get(HANG_DUMP_ENV)
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(f"${HANG_DUMP_ENV}={raw!r}: give a number of seconds") from None
    if seconds <= 0:
        raise ConfigError(f"${HANG_DUMP_ENV}={raw!r}: give a number of seconds > 0")
    faulthandler.dump_traceback_later(seconds, repeat=True, file=sys.stderr)
    return seconds


def merge_lora(adapter_dir: Path, out_dir: Path, torch_dtype) -> None:
    """Load base + adapter as one plain model, merge, save (the main process alone, after training).

    Loading must not go through ZeRO-3's partitioned init: while the trainer's DeepSpeed config is registered,
    `from_pretrained` builds the model inside `deepspeed.zero.Init`, whose collectives need every rank — with the
    other ranks waiting at the barrier after this, one rank alone deadlocks (LoRA + ZeRO-3 hung on 2 GPUs). The
    registration is a transformers global; training is over, so it is dropped first."""
    from peft import AutoPeftModelForCausalLM
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()
    merged = AutoPeftModelForCausalLM.from_pretrained(str(adapter_dir), dtype=torch_dtype).merge_and_unload()
    merged.save_pretrained(out_dir)


class StepStats:
    """Trainer callback (benchmarks): wall time of each optimizer step with the GPU synchronised, and this rank's
    peak GPU memory, written to `<prefix>.rank<i>.json` when training ends."""

    def __init__(self, prefix: Path, rank: int):
        self.path = Path(f"{prefix}.rank{rank}.json")
        self.times: list[float] = []
        self._t0 = 0.0

    @staticmethod
    def _sync() -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kw):
        self._sync()
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self._sync()
        self.times.append(time.perf_counter() - self._t0)

    def on_train_end(self, args, state, control, **kw):
        import torch

        peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"step_s": self.times, "peak_gib": peak}))

    def __getattr__(self, name):  # every other TrainerCallback event: nothing to do
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)


def sharded_trainer(
    model_path: str,
    examples: list[Example],
    cfg: TrainConfig,
    tmp: Path,
    seed: int,
    on_gpu: bool,
    torch_dtype,
    enable_thinking: bool | None = None,
):
    """(SFTTrainer, tokenizer, LoRA config or None) for `sft_sharded`: the trainer builds the model itself, so under
    ZeRO-3 its init is sharded. `enable_thinking` (model.enable_thinking) goes to every row's chat template."""
    from transformers import AutoTokenizer, set_seed
    from trl import SFTTrainer

    tok = AutoTokenizer.from_pretrained(model_path)
    args = sft_args(
        cfg, tmp / "trainer", seed, on_gpu, torch_dtype, len(examples), model_init_kwargs={"dtype": torch_dtype}
    )
    peft_config = lora_config(cfg)
    set_seed(seed)  # LoRA's init draws from the global RNG before the trainer seeds it
    trainer = SFTTrainer(
        model=model_path,
        args=args,
        train_dataset=to_dataset(examples, enable_thinking),
        processing_class=tok,
        peft_config=peft_config,
    )
    return trainer, tok, peft_config


def sft_sharded(
    model_path: str,
    examples: list[Example],
    cfg: TrainConfig,
    out_dir: Path,
    seed: int,
    device: str = "auto",
    dtype: str = "auto",
    enable_thinking: bool | None = None,
) -> SFTResult:
    """`sft` for several processes (DDP, ZeRO-2/3, FSDP): every rank trains, the main process writes."""
    import torch
    from accelerate import PartialState

    from formalpi.engine.backends import resolve_device

    state = PartialState()
    t0 = time.perf_counter()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if state.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    state.wait_for_everyone()
    if not examples:  # same contract as sft(): the base model, unchanged
        if state.is_main_process:
            shutil.copytree(model_path, tmp)
            os.replace(tmp, out_dir) if not out_dir.exists() else shutil.rmtree(tmp)
        state.wait_for_everyone()
        return SFTResult(out_dir, 0, 0, 0, time.perf_counter() - t0, None)

    on_gpu = resolve_device(device).startswith("cuda")
    torch_dtype = (torch.bfloat16 if on_gpu else torch.float32) if dtype == "auto" else getattr(torch, dtype)
    trainer, tok, peft_config = sharded_trainer(
        model_path, examples, cfg, tmp, seed, on_gpu, torch_dtype, enable_thinking
    )
    stats_prefix = os.environ.get(STEP_STATS_ENV)
    if stats_prefix:
        trainer.add_callback(StepStats(Path(stats_prefix), state.process_index))
    phase(f"train start: {len(examples)} examples, {state.num_processes} processes")
    out = trainer.train()
    phase(f"train done: {out.global_step} steps")
    n_tokens = sum(len(x["input_ids"]) for x in trainer.train_dataset) * cfg.epochs
    saved = tmp / "saved"
    trainer.save_model(str(saved))  # collective: gathers ZeRO-3 / FSDP shards; the main process writes
    phase("saved")
    state.wait_for_everyone()
    if state.is_main_process:
        if peft_config is not None:  # saved holds the adapter only: merge it into the base weights
            merge_lora(saved, tmp, torch_dtype)
            phase("LoRA merged")
        else:
            for f in saved.iterdir():
                if f.name != "training_args.bin":
                    os.replace(f, tmp / f.name)
        tok.save_pretrained(tmp)
        shutil.rmtree(saved, ignore_errors=True)
        keep_logs(tmp / "trainer", out_dir)  # TensorBoard event files (train.report_to)
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)  # the commit point: a checkpoint directory exists only once complete
        phase(f"checkpoint committed: {out_dir}")
    state.wait_for_everyone()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return SFTResult(
        out_dir, len(examples), out.global_step, int(n_tokens), time.perf_counter() - t0, losses[-1] if losses else None
    )


def _flag(raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"{raw!r}: give true or false")
    return raw.lower() == "true"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m formalpi.engine.train_entry", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="base checkpoint directory")
    p.add_argument("--examples", required=True, type=Path, help="JSONL of Example records")
    p.add_argument("--config", required=True, type=Path, help="JSON of the [train] section (TrainConfig)")
    p.add_argument("--out", required=True, type=Path, help="checkpoint directory to write")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--result", type=Path, default=None, help="where the SFTResult JSON is written")
    p.add_argument(
        "--enable-thinking",
        default=None,
        type=_flag,
        metavar="{true,false}",
        help="model.enable_thinking: passed to the chat template of every training row (default: unset)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        arm_hang_dump()
        if not Path(a.model).is_dir():
            raise ConfigError(f"--model {a.model}: not a checkpoint directory (give a local HF model dir)")
        examples = read_examples(a.examples)
        cfg = read_train_config(a.config)
        train = sft_sharded if runs_sharded() else sft
        result = train(
            a.model,
            examples,
            cfg,
            a.out,
            seed=a.seed,
            device=a.device,
            dtype=a.dtype,
            enable_thinking=a.enable_thinking,
        )
    except FormalpiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.result is not None and int(os.environ.get("RANK", "0")) == 0:
        a.result.parent.mkdir(parents=True, exist_ok=True)
        a.result.write_text(json.dumps({**asdict(result), "path": str(result.path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
