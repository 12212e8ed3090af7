"""Experiment config: TOML in, typed config out; unknown keys and bad values name the key and the file."""

from pathlib import Path

import pytest

from formalpi.config import load_config
from formalpi.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


def test_minimal_config_gets_defaults_and_name_from_file(tmp_path):
    cfg = load_config(write(tmp_path, 'condition = "gold"\n[train]\nlr = 1e-4\n'))
    assert cfg.name == "exp" and cfg.condition == "gold" and cfg.train.lr == 1e-4
    assert cfg.sampling.n == 4 and cfg.retry.filter == "binary"


def test_unknown_key_names_key_and_file(tmp_path):
    p = write(tmp_path, "[train]\nlearning_rate = 1e-4\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert str(p) in msg and "unknown key 'train.learning_rate'" in msg and "lr" in msg


def test_negative_learning_rate_is_rejected(tmp_path):
    p = write(tmp_path, "[train]\nlr = -0.1\n")
    with pytest.raises(ConfigError, match=r"exp.toml: train.lr: Input should be greater than 0 \(got -0.1\)"):
        load_config(p)


def test_bad_enum_value(tmp_path):
    with pytest.raises(ConfigError, match="retry.filter"):
        load_config(write(tmp_path, '[retry]\nfilter = "soft"\n'))


def test_overrides_are_typed_and_validated(tmp_path):
    p = write(tmp_path, "")
    cfg = load_config(p, ["train.lr=5e-4", "eval.ks=[1, 8]", "model.path=/ckpt/qwen", "retry.k=3"])
    assert cfg.train.lr == 5e-4 and cfg.eval.ks == [1, 8] and cfg.model.path == "/ckpt/qwen" and cfg.retry.k == 3
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(p, ["train.lr"])
    with pytest.raises(ConfigError, match="unknown key 'trian'"):
        load_config(p, ["trian.lr=1"])


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[train\n"))


def test_shipped_experiments_and_demo_config_validate():
    from formalpi.demo import demo_config

    assert demo_config().data.dataset == "arith"
    for p in sorted((ROOT / "experiments").glob("*.toml")):
        load_config(p)


def test_base_chain_merges_tables_key_by_key_and_overrides_apply_last(tmp_path):
    (tmp_path / "root.toml").write_text('name = "root"\ncondition = "gold"\nseeds = [1, 2]\n'
                                        '[train]\nlr = 1e-4\nlora_rank = 32\n[sampling]\nn = 8\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mid.toml").write_text('base = "../root.toml"\n[train]\nlora_rank = 64\n')
    leaf = tmp_path / "sub" / "leaf.toml"
    leaf.write_text('base = "mid.toml"\ncondition = "wrong"\n[train]\nepochs = 2\n')
    cfg = load_config(leaf, ["train.lr=3e-4"])
    assert cfg.name == "leaf"  # never inherited from a base
    assert cfg.condition == "wrong" and cfg.seeds == [1, 2] and cfg.sampling.n == 8
    assert (cfg.train.lr, cfg.train.lora_rank, cfg.train.epochs) == (3e-4, 64, 2)
    # an unknown key inherited from a base is still an error, named at the file that was loaded
    (tmp_path / "root.toml").write_text('[train]\nlearning_rate = 1e-4\n')
    with pytest.raises(ConfigError, match="unknown key 'train.learning_rate'"):
        load_config(leaf)


def test_base_cycle_and_missing_base_name_the_files(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text('base = "b.toml"\n')
    b.write_text('base = "a.toml"\n')
    with pytest.raises(ConfigError, match="loops back") as e:
        load_config(a)
    assert "a.toml" in str(e.value) and "b.toml" in str(e.value)
    a.write_text('base = "a.toml"\n')
    with pytest.raises(ConfigError, match="loops back"):
        load_config(a)
    a.write_text('base = "gone.toml"\n')
    with pytest.raises(ConfigError, match=r"gone.toml: no such config file \(the base of .*a.toml\)"):
        load_config(a)
    a.write_text('base = 3\n')
    with pytest.raises(ConfigError, match="base: must be a file name"):
        load_config(a)


def test_every_method_the_config_accepts_is_registered():
    import typing

    from formalpi.config import ExperimentConfig
    from formalpi.engine.methods import METHODS, get_method

    assert set(typing.get_args(ExperimentConfig.model_fields["method"].annotation)) == set(METHODS)
    with pytest.raises(ConfigError, match="not a method .*baseline, retry, opsd, grpo"):
        get_method("ppo")
    assert [m.name for m in METHODS.values() if not m.trains] == ["baseline"]
    assert [m.name for m in METHODS.values() if m.sft_rounds] == ["retry"]
    for m in METHODS.values():  # every trainer named by the registry exists
        if m.trainer:
            import importlib

            module, _, function = m.trainer.partition(":")
            assert callable(getattr(importlib.import_module(module), function)), m.trainer
