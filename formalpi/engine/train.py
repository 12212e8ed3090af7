"""Supervised fine-tuning on verified examples: TRL's SFTTrainer, LoRA (peft) or full fine-tuning.

Examples are prompt-completion pairs in TRL's conversational format, so the model's chat template is applied
and the loss covers the completion only. A LoRA adapter is merged into the saved checkpoint, so every later
stage (generation, the next round, vLLM) loads a plain model directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formalpi.config import TrainConfig
from formalpi.records import Example


@dataclass(frozen=True)
class SFTResult:
    path: Path
    examples: int
    steps: int
    train_tokens: int  # prompt + completion tokens seen, summed over epochs
    wall_s: float
    final_loss: float | None


def _warmup_kwargs(ratio: float) -> dict:
    """transformers 5.2x dropped `warmup_ratio`; there a `warmup_steps` below 1 is the ratio."""
    from trl import SFTConfig

    if "warmup_ratio" in SFTConfig.__dataclass_fields__:
        return {"warmup_ratio": ratio}
    return {"warmup_steps": ratio}


def to_dataset(examples: list[Example], enable_thinking: bool | None = None):
    """Prompt-completion conversations; `enable_thinking` (model.enable_thinking) goes to the chat template of every
    row (TRL's per-row `chat_template_kwargs`), as the generators render the prompts they sample from."""
    from datasets import Dataset

    extra = {} if enable_thinking is None else {"chat_template_kwargs": {"enable_thinking": enable_thinking}}
    return Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": ex.prompt}],
                "completion": [{"role": "assistant", "content": ex.completion}],
                **extra,
            }
            for ex in examples
        ]
    )


# SFTConfig fields that have their own `train.*` key (a passthrough of them would make two sources of truth), and
# those formalpi sets itself for the run store's sake
_SFT_FIELDS_WITH_KEY = {
    "learning_rate": "lr",
    "num_train_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "gradient_accumulation_steps": "grad_accum",
    "max_length": "max_length",
    "warmup_ratio": "warmup_ratio",
    "warmup_steps": "warmup_ratio",
    "weight_decay": "weight_decay",
    "lr_scheduler_type": "lr_scheduler",
    "report_to": "report_to",
    "use_liger_kernel": "liger_kernel",
    "gradient_checkpointing": "gradient_checkpointing",
    "activation_checkpointing": "gradient_checkpointing",
}
_SFT_FIELDS_OWNED = {"output_dir", "seed", "data_seed", "use_cpu", "disable_tqdm", "completion_only_loss"}


def check_sft_passthrough(cfg: TrainConfig, source: str = "train.sft_args") -> None:
    """ConfigError naming the key unless every `train.sft_args` key is a settable SFTConfig field."""
    from trl import SFTConfig

    from formalpi.errors import ConfigError

    fields = SFTConfig.__dataclass_fields__
    for key in cfg.sft_args:
        if key in _SFT_FIELDS_WITH_KEY:
            raise ConfigError(f"{source}.{key}: has its own key, use train.{_SFT_FIELDS_WITH_KEY[key]} instead")
        if key in _SFT_FIELDS_OWNED:
            raise ConfigError(f"{source}.{key}: set by formalpi (the run store decides it); remove it")
        if key not in fields or not fields[key].init:
            import difflib

            near = difflib.get_close_matches(key, list(fields), n=3)
            raise ConfigError(
                f"{source}.{key}: not a field of TRL's SFTConfig"
                + (f" (did you mean {', '.join(near)}?)" if near else "")
                + "; see https://huggingface.co/docs/trl/sft_trainer"
            )


def tensorboard_dir(out_dir: Path) -> Path:
    """Where a training's TensorBoard event files are kept: <run>/<seed>/tensorboard/<checkpoint name>/."""
    return Path(out_dir).parent / "tensorboard" / Path(out_dir).name


def keep_logs(trainer_dir: Path, out_dir: Path) -> None:
    """Move the trainer's logging dir (transformers writes `<output_dir>/runs/`) out of the scratch dir."""
    runs = Path(trainer_dir) / "runs"
    if runs.is_dir():
        dest = tensorboard_dir(out_dir)
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(runs), str(dest))


def sft_args(cfg: TrainConfig, output_dir: Path, seed: int, on_gpu: bool, torch_dtype, n_examples: int, **extra):
    """TRL SFTConfig from our TrainConfig; shared by `sft` and the multi-process entry point (train_entry.py)."""
    import torch
    from trl import SFTConfig

    check_sft_passthrough(cfg)
    kwargs = dict(
        output_dir=str(output_dir),
        seed=seed,
        data_seed=seed,
        learning_rate=cfg.lr,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        max_length=cfg.max_length,
        **_warmup_kwargs(cfg.warmup_ratio),
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.lr_scheduler,
        logging_steps=max(1, n_examples // 8),
        save_strategy="no",
        report_to=list(cfg.report_to) or "none",
        use_cpu=not on_gpu,
        bf16=on_gpu and torch_dtype == torch.bfloat16,
        disable_tqdm=True,
        dataloader_num_workers=0,
        completion_only_loss=True,
        # TRL turns activation checkpointing on by default: a third more compute for memory that a 1.5-2B model
        # does not need on one 80 GB GPU (bench/gpu_throughput.py); `train.gradient_checkpointing` turns it back on
        use_liger_kernel=use_liger(cfg, on_gpu),
        **_checkpointing_kwargs(SFTConfig, cfg.gradient_checkpointing),
        **extra,
    )
    kwargs.update(cfg.sft_args)  # the passthrough has the last word on every field without a train.* key
    return SFTConfig(**kwargs)


def use_liger(cfg: TrainConfig, on_gpu: bool) -> bool:
    """Liger kernels (fused norms, SwiGLU, RoPE and a linear+cross-entropy that never materialises the logits)
    when asked, or by default on CUDA when `liger-kernel` is installed (`pip install 'formalpi[gpu]'`)."""
    import importlib.util

    if cfg.liger_kernel is not None:
        return cfg.liger_kernel
    return on_gpu and importlib.util.find_spec("liger_kernel") is not None


def _checkpointing_kwargs(config_cls, on: bool) -> dict:
    """transformers 5.x renamed gradient_checkpointing to activation_checkpointing (the old name warns)."""
    fields = getattr(config_cls, "__dataclass_fields__", {})
    return {"activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing": on}


def lora_config(cfg: TrainConfig):
    """peft LoRA on every linear layer, or None for full fine-tuning."""
    from peft import LoraConfig

    if cfg.finetune != "lora":
        return None
    return LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def step_progress_callback(progress, label: str):
    """A TrainerCallback that opens a progress stage of `max_steps` when training starts and advances it per step.
    `progress`: (description, total) -> advance(n), the engine's ProgressFactory."""
    from transformers import TrainerCallback

    class StepProgress(TrainerCallback):
        advance = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.advance = progress(label, state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if self.advance is not None:
                self.advance(1)

    return StepProgress()


def sft(
    model_path: str,
    examples: list[Example],
    cfg: TrainConfig,
    out_dir: Path,
    seed: int,
    device: str = "auto",
    dtype: str = "auto",
    progress=None,
    label: str = "fine-tuning (SFT steps)",
    enable_thinking: bool | None = None,
) -> SFTResult:
    """Fine-tune `model_path` on `examples` and save the (merged) model + tokenizer to `out_dir`.

    With no examples the base model is copied unchanged (a condition that produced no verified retry trains on
    nothing, and the comparison must still include it). `progress` (the engine's ProgressFactory) gets one stage
    named `label` advanced per optimizer step.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTTrainer

    from formalpi.engine.backends import resolve_device

    t0 = time.perf_counter()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(model_path)
    if not examples:
        shutil.copytree(model_path, tmp)
        os.replace(tmp, out_dir) if not out_dir.exists() else shutil.rmtree(tmp)
        return SFTResult(out_dir, 0, 0, 0, time.perf_counter() - t0, None)

    device = resolve_device(device)
    on_gpu = device.startswith("cuda")
    torch_dtype = (torch.bfloat16 if on_gpu else torch.float32) if dtype == "auto" else getattr(torch, dtype)
    # straight onto the device: the Trainer would otherwise copy it there after a CPU load
    model: Any = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype, attn_implementation="sdpa")
    model = model.to(device)
    args = sft_args(
        cfg,
        tmp / "trainer",
        seed,
        on_gpu,
        torch_dtype,
        len(examples),
        # one fused kernel for the whole AdamW update instead of a few per parameter group (CUDA only)
        optim="adamw_torch_fused" if on_gpu else "adamw_torch",
    )
    peft_config = lora_config(cfg)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    # TRL still calls transformers' deprecated `is_gradient_checkpointing`: its FutureWarning is not ours to fix
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    # LoRA's init is seeded in-process: TRL's SFTTrainer calls set_seed(args.seed) before it wraps the model
    # (tests/test_run_settings.py guards it)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=to_dataset(examples, enable_thinking),
        processing_class=tok,
        peft_config=peft_config,
    )
    trainer.remove_callback(PrinterCallback)  # losses stay in trainer.state; the CLI shows its own progress
    if progress is not None:
        trainer.add_callback(step_progress_callback(progress, label))
    out = trainer.train()
    dataset: Any = trainer.train_dataset  # the tokenized examples (a datasets.Dataset)
    n_tokens = sum(len(x["input_ids"]) for x in dataset) * cfg.epochs
    if cfg.max_steps:  # cycled data: tokens seen = the mean example length x examples drawn
        n_tokens = n_tokens / cfg.epochs / len(dataset) * out.global_step * cfg.batch_size * cfg.grad_accum
    trained: Any = trainer.model
    if peft_config is not None:
        trained = trained.merge_and_unload()
    trained.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    keep_logs(tmp / "trainer", out_dir)
    shutil.rmtree(tmp / "trainer", ignore_errors=True)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)  # atomic: a checkpoint directory is complete or absent
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return SFTResult(
        out_dir, len(examples), out.global_step, int(n_tokens), time.perf_counter() - t0, losses[-1] if losses else None
    )
