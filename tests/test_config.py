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
    (tmp_path / "root.toml").write_text(
        'name = "root"\ncondition = "gold"\nseeds = [1, 2]\n[train]\nlr = 1e-4\nlora_rank = 32\n[sampling]\nn = 8\n'
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mid.toml").write_text('base = "../root.toml"\n[train]\nlora_rank = 64\n')
    leaf = tmp_path / "sub" / "leaf.toml"
    leaf.write_text('base = "mid.toml"\ncondition = "wrong"\n[train]\nepochs = 2\n')
    cfg = load_config(leaf, ["train.lr=3e-4"])
    assert cfg.name == "leaf"  # never inherited from a base
    assert cfg.condition == "wrong" and cfg.seeds == [1, 2] and cfg.sampling.n == 8
    assert (cfg.train.lr, cfg.train.lora_rank, cfg.train.epochs) == (3e-4, 64, 2)
    # an unknown key inherited from a base is still an error, named at the file that was loaded
    (tmp_path / "root.toml").write_text("[train]\nlearning_rate = 1e-4\n")
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
    a.write_text("base = 3\n")
    with pytest.raises(ConfigError, match="base: must be a file name"):
        load_config(a)


def test_every_method_the_config_accepts_is_registered():
    import typing

    from formalpi.config import EXPERIMENTS, MethodName
    from formalpi.engine.methods import METHODS, get_method

    assert set(typing.get_args(MethodName)) == set(METHODS) == set(EXPERIMENTS)
    assert all(METHODS[name].config is EXPERIMENTS[name] for name in METHODS)  # the registry names each class
    with pytest.raises(ConfigError, match="not a method .*baseline, retry, opsd, iprs"):
        get_method("ppo")
    assert [m.name for m in METHODS.values() if not m.trains] == ["baseline"]
    assert [m.name for m in METHODS.values() if m.sft_rounds] == ["retry"]
    for m in METHODS.values():  # every trainer named by the registry exists
        if m.trainer:
            import importlib

            module, _, function = m.trainer.partition(":")
            assert callable(getattr(importlib.import_module(module), function)), m.trainer


def test_a_section_of_another_method_is_refused_naming_file_key_and_fix(tmp_path):
    p = write(tmp_path, 'method = "retry"\n[opsd]\nlr = 1e-4\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: opsd: method 'retry' has no [opsd] section (remove it, or set method = \"opsd\")"
    base = write(tmp_path, 'method = "baseline"\n[train]\nlora_rank = 4\n')
    with pytest.raises(
        ConfigError,
        match=r"train: method 'baseline' has no \[train\] section \(remove it, or set "
        r"method = \"retry\" or method = \"opsd\" or method = \"iprs\"\)",
    ):
        load_config(base)
    # a key only another method's version of a shared section has: OPSD reads only [train]'s finetune/LoRA keys
    opsd = write(tmp_path, 'method = "opsd"\n[train]\nlr = 1e-4\n')
    with pytest.raises(ConfigError, match=r"train.lr: method 'opsd' does not read it .*opsd's own setting is opsd.lr"):
        load_config(opsd)
    # set from the command line: the flag is blamed, not the file
    ok = write(tmp_path, 'method = "retry"\n')
    with pytest.raises(ConfigError, match=r"^--set opsd.steps=3: opsd: method 'retry' has no \[opsd\] section"):
        load_config(ok, ["opsd.steps=3"])


def test_each_method_gets_its_own_class_and_a_retry_fingerprint_knows_no_other_method():
    from formalpi.config import (
        BaselineExperiment,
        IPRSExperiment,
        OPSDExperiment,
        RetryExperiment,
        config_from_dict,
        with_method,
    )

    rows = {m: config_from_dict({"name": "x", "method": m}) for m in ("baseline", "retry", "opsd", "iprs")}
    assert [type(c) for c in rows.values()] == [BaselineExperiment, RetryExperiment, OPSDExperiment, IPRSExperiment]
    assert type(config_from_dict({"name": "x"})) is RetryExperiment  # the default method
    assert not hasattr(rows["baseline"], "train") and not hasattr(rows["retry"], "opsd")
    assert set(type(rows["opsd"].train).model_fields) == {
        "finetune",
        "lora_rank",
        "lora_alpha",
        "lora_dropout",
        "gradient_checkpointing",
    }
    # a retry row's fingerprint holds its own sections only: what an OPSD/IPRS section would say cannot reach it
    retry = load_config(ROOT / "experiments" / "math_try_again.toml")
    fp = __import__("json").loads(retry.fingerprint())
    assert {"retry", "train"} <= set(fp) and not {"opsd", "iprs", "grpo"} & set(fp)
    # switching method re-validates through the union: the new class, the shared settings kept
    b = with_method(retry, "baseline", name="b")
    assert type(b) is BaselineExperiment and b.name == "b" and b.model == retry.model and b.eval == retry.eval
    o = with_method(retry, "opsd", condition="gold")
    assert type(o) is OPSDExperiment and o.train.lora_rank == retry.train.lora_rank == 32
    assert o.opsd.max_new_tokens == retry.sampling.max_new_tokens


def test_the_grpo_method_is_refused_with_the_rename_to_iprs(tmp_path):
    p = write(tmp_path, 'method = "grpo"\n[grpo]\nsteps = 3\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == (
        f"{p}: method: 'grpo' was renamed to 'iprs': set method = \"iprs\" (and rename the [grpo] section to [iprs])"
    )
    q = write(tmp_path, 'method = "iprs"\n[grpo]\nsteps = 3\n')
    with pytest.raises(ConfigError, match=r"grpo: the \[grpo\] section was renamed to \[iprs\]"):
        load_config(q)
    assert load_config(write(tmp_path, 'method = "iprs"\n[iprs]\nsteps = 3\n')).iprs.steps == 3


def test_a_base_lends_each_row_only_the_sections_its_method_reads(tmp_path):
    (tmp_path / "defaults.toml").write_text("[retry]\nk = 2\n[train]\nlora_rank = 4\nlr = 0.5\n[eval]\nn = 3\n")
    row = tmp_path / "row.toml"
    row.write_text('base = "defaults.toml"\nmethod = "opsd"\n')
    cfg = load_config(row)
    assert cfg.train.lora_rank == 4 and cfg.eval.n == 3 and not hasattr(cfg, "retry")
    row.write_text('base = "defaults.toml"\nmethod = "baseline"\n')
    assert load_config(row).eval.n == 3
    (tmp_path / "defaults.toml").write_text("[train]\nlora_rnk = 4\n")  # a typo in a base is still refused
    row.write_text('base = "defaults.toml"\nmethod = "opsd"\n')
    with pytest.raises(ConfigError, match="unknown key 'train.lora_rnk'"):
        load_config(row)


def test_recorded_configs_of_older_runs_still_read():
    """Run manifests written before each method had its own class hold every section; IPRS was "grpo"."""
    from formalpi.config import IPRSExperiment, RetryExperiment, recorded_config

    old = {
        "name": "x",
        "method": "grpo",
        "retry": {"k": 1},
        "train": {"lr": 1e-3, "lora_rank": 4},
        "opsd": {"steps": 2},
        "grpo": {"steps": 7},
    }
    cfg = recorded_config(old, "manifest.json")
    assert type(cfg) is IPRSExperiment and cfg.iprs.steps == 7 and cfg.train.lora_rank == 4
    assert type(recorded_config({**old, "method": "retry"}, "m")) is RetryExperiment


def test_run_directories_fingerprinted_before_the_per_method_classes_still_resume(tmp_path):
    """tests/data/legacy_fingerprints.json: fingerprints written by the single-class config (97f32f8) for one
    config dict under each method; every method's old sections were part of them."""
    import json

    from formalpi.config import config_from_dict, for_method
    from formalpi.errors import RunStoreError
    from formalpi.runs import RunStore

    legacy = json.loads((ROOT / "tests" / "data" / "legacy_fingerprints.json").read_text())
    for method, rec in legacy["fingerprints"].items():
        new_method = {"grpo": "iprs"}.get(method, method)
        sections = {{"grpo": "iprs"}.get(k, k): v for k, v in rec["sections"].items()}
        cfg = config_from_dict(for_method({**legacy["config"], **sections, "method": new_method}, new_method))
        old = RunStore.open(tmp_path, method, 1, {}, rec["fingerprint"])  # a run made before, with records
        old.path("eval").write_text('{"x": 1}\n')
        # retry rows kept their fingerprints; the stage IPRS records under was "grpo": such a run does not resume
        assert (cfg.fingerprint() == rec["fingerprint"]) == (method == "retry"), method
        assert cfg.resumes(rec["fingerprint"]) == (method != "grpo"), method
        if method != "retry":
            with pytest.raises(RunStoreError, match="made with a different config"):
                RunStore.open(tmp_path, method, 1, {}, cfg.fingerprint())
        if method != "grpo":
            assert RunStore.open(tmp_path, method, 1, {}, cfg.fingerprint(), resumes=cfg.resumes).root == old.root
    # a real difference is still refused
    changed = config_from_dict({**for_method(legacy["config"], "opsd"), "method": "opsd", "opsd": {"steps": 4}})
    assert not changed.resumes(legacy["fingerprints"]["opsd"]["fingerprint"])


def test_shipped_opsd_rows_keep_a_micro_batch_that_fits_one_80gb_gpu():
    """The measured fit (docs/performance.md, "OPSD and IPRS", one H100 80GB, Qwen3-1.7B architecture): 4 x 2,048
    and 2 x 4,096 completion tokens per forward/backward peaked at 43-44 GiB, 4 x 4,096 ran out of memory."""
    for p in sorted((ROOT / "experiments").glob("*.toml")):
        cfg = load_config(p)
        if cfg.method != "opsd" or cfg.train.gradient_checkpointing:
            continue
        tokens = cfg.opsd.max_new_tokens or cfg.sampling.max_new_tokens
        assert cfg.opsd.micro_batch_size * tokens <= 8192, (p.name, cfg.opsd.micro_batch_size, tokens)
