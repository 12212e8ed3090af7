"""SFT arguments: what TRL is asked to do for each TrainConfig (no training here; tests/test_engine.py trains)."""

from pathlib import Path

import torch

from formalpi.config import TrainConfig
from formalpi.engine.train import lora_config, sft_args, use_liger


def test_cpu_defaults_no_liger_no_checkpointing_completion_only(tmp_path: Path):
    args = sft_args(TrainConfig(lr=5e-4, batch_size=8, epochs=2), tmp_path, 7, False, torch.float32, 40)
    assert args.learning_rate == 5e-4 and args.per_device_train_batch_size == 8 and args.num_train_epochs == 2
    assert args.seed == 7 and args.use_cpu and not args.bf16 and args.completion_only_loss
    assert not args.use_liger_kernel and args.logging_steps == 5


def test_liger_is_auto_on_gpu_only_when_installed_and_can_be_forced():
    assert use_liger(TrainConfig(), on_gpu=False) is False
    assert use_liger(TrainConfig(liger_kernel=True), on_gpu=False) is True
    assert use_liger(TrainConfig(liger_kernel=False), on_gpu=True) is False


def test_lora_config_only_for_lora():
    assert lora_config(TrainConfig(finetune="full")) is None
    lc = lora_config(TrainConfig(finetune="lora", lora_rank=32, lora_alpha=64))
    assert lc.r == 32 and lc.lora_alpha == 64 and lc.target_modules == "all-linear"
