"""train.lr_scheduler, train.report_to and the train.sft_args passthrough: config -> TRL's SFTConfig -> a real SFT."""

from pathlib import Path

import pytest
import torch

from formalpi.config import TrainConfig, config_from_dict
from formalpi.engine.train import sft, sft_args, tensorboard_dir
from formalpi.errors import ConfigError
from formalpi.records import Example
from formalpi.tiny import ensure_tiny_model


def _args(tmp_path: Path, **train):
    return sft_args(TrainConfig(**train), tmp_path, 7, False, torch.float32, 40)


def test_lr_scheduler_and_report_to_reach_sftconfig(tmp_path):
    args = _args(tmp_path, lr_scheduler="constant_with_warmup", report_to="tensorboard")
    assert args.lr_scheduler_type.value == "constant_with_warmup"
    assert args.report_to == ["tensorboard"]
    default = _args(tmp_path)
    assert default.lr_scheduler_type.value == "cosine" and default.report_to in ([], "none", ["none"])


def test_every_lr_scheduler_name_is_one_transformers_knows():
    from transformers import SchedulerType

    names = TrainConfig.model_fields["lr_scheduler"].annotation.__args__
    assert set(names) <= {s.value for s in SchedulerType}


def test_bad_lr_scheduler_names_the_key():
    with pytest.raises(ConfigError, match=r"x.toml: train.lr_scheduler: .*'cosine'"):
        config_from_dict({"name": "x", "train": {"lr_scheduler": "cosin"}}, "x.toml")


def test_passthrough_reaches_sftconfig(tmp_path):
    args = _args(tmp_path, sft_args={"max_grad_norm": 0.25, "logging_steps": 1, "adam_beta2": 0.95})
    assert args.max_grad_norm == 0.25 and args.logging_steps == 1 and args.adam_beta2 == 0.95


@pytest.mark.parametrize(
    "key, message",
    [
        ("max_grad_nrom", r"train.sft_args.max_grad_nrom: not a field of TRL's SFTConfig \(did you mean max_grad_norm"),
        ("learning_rate", r"train.sft_args.learning_rate: has its own key, use train.lr instead"),
        ("lr_scheduler_type", r"use train.lr_scheduler instead"),
        ("output_dir", r"train.sft_args.output_dir: set by formalpi"),
    ],
)
def test_passthrough_refuses_unknown_and_shadowing_keys(tmp_path, key, message):
    with pytest.raises(ConfigError, match=message):
        _args(tmp_path, sft_args={key: 1})


def test_report_to_does_not_change_the_fingerprint():
    a = config_from_dict({"name": "x"})
    b = config_from_dict({"name": "x", "train": {"report_to": ["tensorboard"]}})
    c = config_from_dict({"name": "x", "train": {"lr_scheduler": "linear"}})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_sft_writes_tensorboard_events_beside_the_checkpoint(tmp_path):
    pytest.importorskip("tensorboard", reason="the [tensorboard] extra (in [dev]) is not installed")
    torch.set_num_threads(1)
    model = str(ensure_tiny_model())
    examples = [
        Example(prompt=f"{i} + 1 =", completion=str(i + 1), problem_id=f"p{i}", attempt_id=f"a{i}", condition="gold")
        for i in range(8)
    ]
    cfg = TrainConfig(lora_rank=4, batch_size=4, report_to=["tensorboard"], sft_args={"logging_steps": 1})
    out = tmp_path / "42" / "checkpoint_r0"
    result = sft(model, examples, cfg, out, seed=42, device="cpu")
    assert result.steps == 2 and (out / "config.json").exists()
    events = list(tensorboard_dir(out).rglob("events.out.tfevents.*"))
    assert events, sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert tensorboard_dir(out) == tmp_path / "42" / "tensorboard" / "checkpoint_r0"
