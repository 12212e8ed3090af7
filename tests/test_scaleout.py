"""Scale-out seams on CPU: the accelerate launcher (real `accelerate launch --cpu`, real 2-process gloo DDP via
torchrun), the shipped DeepSpeed/FSDP configs (parsed by accelerate itself; DeepSpeed cannot run here), and
sharded generation (2 real worker processes on the tiny model) against a single-process run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from formalpi.config import TrainConfig, config_from_dict
from formalpi.engine.backends import HFGenerator
from formalpi.engine.evaluate import evaluate
from formalpi.engine.launch import (
    ACCELERATE_CONFIG_DIR,
    TRAIN_ENTRY_MODULE,
    EntryFiles,
    LaunchError,
    LaunchSpec,
    Strategy,
    accelerate_command,
    accelerate_config_path,
    launch_sft,
    train_entry_args,
    write_entry_inputs,
)
from formalpi.engine.retry import sample_attempts
from formalpi.engine.shard import GenStage, ShardError, pending_chunks, run_sharded, split_shards
from formalpi.engine.train_entry import main as train_entry_main
from formalpi.engine.train_entry import runs_sharded
from formalpi.records import Attempt, EvalRecord, Example
from formalpi.runs import RunStore
from formalpi.tiny import TinySpec, train_tiny
from formalpi.domains.math.domain import MathDomain


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return str(train_tiny(TinySpec(steps=40, train_per_level=40), tmp_path_factory.mktemp("tiny") / "m"))


def _examples(k: int = 8) -> list[Example]:
    return [
        Example(
            prompt=f"What is {i}+1?",
            completion=f"The answer is \\boxed{{{i + 1}}}",
            problem_id=f"p{i}",
            attempt_id=f"p{i}|r0|s0|k1",
            condition="gold",
        )
        for i in range(k)
    ]


def _weights(path: str | Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


# ---- shipped accelerate configs -------------------------------------------------------------------------------


def test_shipped_configs_parse_with_accelerate_and_name_the_right_keys() -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    assert sorted(p.stem for p in ACCELERATE_CONFIG_DIR.glob("*.yaml")) == sorted(s.value for s in Strategy)
    raw = {s: yaml.safe_load(accelerate_config_path(s).read_text()) for s in Strategy}
    z2, z3, fsdp = raw[Strategy.ZERO2], raw[Strategy.ZERO3], raw[Strategy.FSDP]
    assert z2["distributed_type"] == "DEEPSPEED" and z2["deepspeed_config"]["zero_stage"] == 2
    assert z3["distributed_type"] == "DEEPSPEED" and z3["deepspeed_config"]["zero_stage"] == 3
    # ZeRO-3: build the model sharded, and gather full 16-bit weights on save (a loadable HF checkpoint)
    assert z3["deepspeed_config"]["zero3_init_flag"] is True and z3["deepspeed_config"]["zero3_save_16bit_model"]
    assert fsdp["distributed_type"] == "FSDP" and fsdp["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert fsdp["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert raw[Strategy.DDP]["distributed_type"] == "MULTI_GPU"
    for s in Strategy:  # accelerate's own loader accepts every key (it raises on unknown ones)
        cluster = load_config_from_file(str(accelerate_config_path(s)))
        assert cluster.distributed_type.value == raw[s]["distributed_type"]
    assert load_config_from_file(str(accelerate_config_path(Strategy.ZERO3))).deepspeed_config["zero_stage"] == 3


@pytest.mark.parametrize("strategy", [Strategy.ZERO2, Strategy.ZERO3, Strategy.FSDP])
def test_accelerate_command_for_each_strategy_is_what_accelerate_launch_parses(strategy, tmp_path) -> None:
    from accelerate.commands.launch import launch_command_parser

    files = EntryFiles.beside(tmp_path / "ckpt")
    entry = train_entry_args("/m/qwen3-8b", files, tmp_path / "ckpt", 7, device="auto", dtype="bfloat16")
    cmd = accelerate_command(
        LaunchSpec(strategy=strategy, num_processes=8, main_process_port=29555), entry, python="/venv/bin/python"
    )
    assert cmd[:3] == ["/venv/bin/python", "-m", "accelerate.commands.launch"]
    args = launch_command_parser().parse_args(cmd[3:])
    assert args.config_file == str(ACCELERATE_CONFIG_DIR / f"{strategy.value}.yaml")
    assert args.num_processes == 8 and args.num_machines == 1 and args.main_process_port == 29555
    assert not args.cpu and args.module and args.training_script == TRAIN_ENTRY_MODULE
    assert args.training_script_args == [
        "--model",
        "/m/qwen3-8b",
        "--examples",
        str(files.examples),
        "--config",
        str(files.config),
        "--out",
        str(tmp_path / "ckpt"),
        "--seed",
        "7",
        "--device",
        "auto",
        "--dtype",
        "bfloat16",
        "--result",
        str(files.result),
    ]


def test_launch_spec_and_entry_point_refuse_bad_input_with_the_flag_named(tmp_path, tiny_model, capsys) -> None:
    with pytest.raises(LaunchError, match="--num-gpus 0"):
        LaunchSpec(num_processes=0)
    with pytest.raises(LaunchError, match="no such file"):
        LaunchSpec(config_file=tmp_path / "nope.yaml")
    files = EntryFiles.beside(tmp_path / "c")
    write_entry_inputs(files, _examples(2), TrainConfig())
    base = train_entry_args(tiny_model, files, tmp_path / "c", 1)
    assert train_entry_main([*base[:2], "--examples", str(tmp_path / "missing.jsonl"), *base[4:]]) == 2
    assert "--examples" in capsys.readouterr().err
    files.config.write_text('{"lr": -1}')
    assert train_entry_main(base) == 2
    err = capsys.readouterr().err
    assert "--config" in err and "train.lr" in err
    files.examples.write_text('{"prompt": "x"}\n')
    assert train_entry_main(base) == 2 and f"{files.examples}:1" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    assert runs_sharded({"WORLD_SIZE": "2"}) and runs_sharded({"ACCELERATE_USE_DEEPSPEED": "true"})
    assert runs_sharded({"ACCELERATE_USE_FSDP": "true"}) and not runs_sharded({"WORLD_SIZE": "1"})


# ---- real launches on CPU -------------------------------------------------------------------------------------


def test_accelerate_launch_on_cpu_trains_the_tiny_model(tiny_model, tmp_path) -> None:
    out = tmp_path / "ckpt"
    res = launch_sft(
        LaunchSpec(strategy=Strategy.DDP, num_processes=1, cpu=True),
        tiny_model,
        _examples(8),
        TrainConfig(lora_rank=4, batch_size=4, lr=1e-2),
        out,
        seed=3,
        device="cpu",
        timeout_s=280,
    )
    assert res.path == out and res.examples == 8 and res.steps == 2 and res.final_loss is not None
    assert res.train_tokens > 8 * 10
    before, after = _weights(tiny_model), _weights(out)
    assert before.keys() == after.keys()  # LoRA merged away: a plain checkpoint with the base's tensors
    assert any(not torch.equal(before[k], after[k]) for k in before)
    HFGenerator.from_pretrained(str(out), device="cpu")  # loads as the next stage would


@pytest.mark.slow
def test_two_process_gloo_ddp_runs_the_sharded_sft_path(tiny_model, tmp_path) -> None:
    """accelerate's launcher needs mpirun for multi-CPU; torchrun gives the same env (WORLD_SIZE=2, gloo)."""
    files = EntryFiles.beside(tmp_path / "ckpt")
    write_entry_inputs(files, _examples(8), TrainConfig(lora_rank=4, batch_size=4, lr=1e-2))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29617",
        "-m",
        TRAIN_ENTRY_MODULE,
        *train_entry_args(tiny_model, files, tmp_path / "ckpt", 3, device="cpu"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    res = json.loads(files.result.read_text())
    assert res["examples"] == 8 and res["steps"] == 1  # 8 examples / (2 processes x batch 4)
    before, after = _weights(tiny_model), _weights(tmp_path / "ckpt")
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)
    assert not (tmp_path / "ckpt.tmp").exists()


# ---- sharded generation ---------------------------------------------------------------------------------------


def test_split_shards_cuts_at_chunk_boundaries() -> None:
    items = list(range(10))
    assert split_shards(items, 2, 4) == [[0, 1, 2, 3, 4, 5, 6, 7], [8, 9]]
    assert split_shards(items, 3, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert split_shards(items, 8, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]  # never an empty shard
    assert split_shards(items, 1, 32) == [items] and split_shards([], 2, 4) == []
    assert pending_chunks(items, str, {"0", "1", "2", "3", "8"}, 4) == [4, 5, 6, 7, 8, 9]
    with pytest.raises(ShardError, match="num_shards"):
        split_shards(items, 0, 4)


def _cfg(model: str, runs: Path, name: str):
    return config_from_dict(
        {
            "name": name,
            "runs_dir": str(runs),
            "model": {"path": model, "device": "cpu"},
            "data": {"dataset": "arith", "train_limit": 10, "eval_limit": 10},
            "sampling": {"n": 2, "max_new_tokens": 12, "batch_size": 8},
            "eval": {"n": 2, "max_new_tokens": 12},
        }
    )


def test_two_workers_merge_to_the_single_process_records(tiny_model, tmp_path) -> None:
    domain = MathDomain()
    cfg = _cfg(tiny_model, tmp_path, "shard")
    problems = domain.problems("arith", "test", limit=10)
    gen = HFGenerator.from_pretrained(tiny_model, device="cpu", batch_size=8)

    single = RunStore.open(tmp_path, "single", 5, {})
    ref_eval = evaluate(
        gen,
        domain,
        problems,
        n=2,
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=12,
        seed=5,
        condition=cfg.condition,
        store=single,
        chunk_size=4,
    )
    ref_att = sample_attempts(gen, domain, problems, n=2, cfg=cfg, seed=5, round_=0, store=single)

    sharded = RunStore.open(tmp_path, "sharded", 5, {})
    # resume at the run-store level: the first chunk is already there, so only chunks 2-3 go to the workers
    sharded.append("eval", ref_eval[:4])
    got_eval = run_sharded(GenStage.EVAL, cfg, 5, tiny_model, problems, sharded, 2, chunk_size=4, timeout_s=280)
    got_att = run_sharded(GenStage.ATTEMPTS, cfg, 5, tiny_model, problems, sharded, 2, n=2, timeout_s=280)

    assert [r.model_dump() for r in got_eval] == [r.model_dump() for r in ref_eval]
    assert [r.model_dump() for r in sharded.read("eval", EvalRecord)] == [r.model_dump() for r in ref_eval]
    assert [a.model_dump() for a in got_att] == [a.model_dump() for a in ref_att]
    assert len({a.id for a in sharded.read("attempts", Attempt)}) == 20
    m_single, m_sharded = single.manifest()["stages"], sharded.manifest()["stages"]
    assert m_sharded["attempts_r0"]["samples"] == m_single["attempts_r0"]["samples"] == 20
    assert m_sharded["eval"]["samples"] == 12  # 6 problems x 2 generated by the workers (4 were resumed)
    assert not (sharded.root / "shards").exists()
    # rerun: everything is in the store, no worker starts, nothing is appended twice
    again = run_sharded(GenStage.EVAL, cfg, 5, tiny_model, problems, sharded, 2, chunk_size=4)
    assert len(again) == 10 and len(sharded.read("eval", EvalRecord)) == 10


def test_a_failing_worker_raises_a_typed_error_with_its_log(tiny_model, tmp_path) -> None:
    cfg = _cfg(str(tmp_path / "no-such-model"), tmp_path, "bad")
    problems = MathDomain().problems("arith", "test", limit=2)
    store = RunStore.open(tmp_path, "bad", 1, {})
    with pytest.raises(ShardError, match="generation shard 0 exited"):
        run_sharded(
            GenStage.EVAL, cfg, 1, str(tmp_path / "no-such-model"), problems, store, 2, chunk_size=1, timeout_s=120
        )
    assert store.read("eval", EvalRecord) == []


def test_run_flags_map_to_scale_out_with_named_errors() -> None:
    from formalpi.errors import ConfigError
    from formalpi.engine.launch import Launcher
    from formalpi.scaleout.cli_options import scale_from_flags
    from formalpi.scaleout.ray_executor import Executor

    assert scale_from_flags() is None  # defaults: the engine runs exactly as before
    s = scale_from_flags("accelerate", 8, "zero2", "ray", "auto")
    assert (s.launcher, s.num_gpus, s.strategy, s.executor, s.ray_address) == (
        Launcher.ACCELERATE,
        8,
        Strategy.ZERO2,
        Executor.RAY,
        "auto",
    )
    with pytest.raises(ConfigError, match="--executor 'rey': choose one of local, ray"):
        scale_from_flags(executor="rey")
    with pytest.raises(ConfigError, match="--strategy"):
        scale_from_flags(strategy="zero4")
    with pytest.raises(ConfigError, match="--num-gpus 0"):
        scale_from_flags(num_gpus=0)


def test_retry_round_shards_first_attempts_before_loading_its_own_generator(tiny_model, tmp_path, monkeypatch) -> None:
    import formalpi.engine.experiment as run_mod
    from formalpi.engine.launch import Placement

    events = []
    real_make, real_shard = run_mod.make_generator, run_mod.run_sharded

    def make(cfg, path):
        events.append("parent generator")
        return real_make(cfg, path)

    def shard(stage, *a, **k):
        events.append(f"shards {stage.value}")
        return real_shard(stage, *a, **k)

    monkeypatch.setattr(run_mod, "make_generator", make)
    monkeypatch.setattr(run_mod, "run_sharded", shard)
    cfg = config_from_dict(
        {
            "name": "rr",
            "runs_dir": str(tmp_path / "one"),
            "condition": "gold",
            "model": {"path": tiny_model, "device": "cpu"},
            "data": {"dataset": "arith", "train_limit": 8, "eval_limit": 4},
            "sampling": {"n": 2, "max_new_tokens": 12, "batch_size": 4},
            "eval": {"n": 1, "max_new_tokens": 12},
            "train": {"batch_size": 4, "max_length": 96, "lora_rank": 2, "lora_alpha": 4},
        }
    )
    one = run_mod.run_experiment(cfg, 5)
    assert events == ["parent generator", "parent generator"]  # the round's, then the final eval's
    events.clear()
    two = run_mod.run_experiment(
        cfg.model_copy(update={"runs_dir": str(tmp_path / "two")}), 5, placement=Placement(num_gpus=2)
    )
    # the workers sample first attempts with the machine to themselves; the parent loads a generator only for
    # the retries, after them
    assert events == ["shards attempts", "parent generator", "shards eval"]
    ref = [a.model_dump() for a in one.store.read("attempts", Attempt)]
    got = [a.model_dump() for a in two.store.read("attempts", Attempt)]
    assert sorted(got, key=lambda a: a["id"]) == sorted(ref, key=lambda a: a["id"]) and any(a["retry"] for a in ref)
    assert [r.model_dump() for r in two.store.read("eval", EvalRecord)] == [
        r.model_dump() for r in one.store.read("eval", EvalRecord)
    ]


# ---- found on two H200s (docs/scaleout.md, bench/results/h200x2-2026-11-30/) ----------------------------------


def test_lora_merge_loads_the_model_outside_zero3_partitioned_init(tiny_model, tmp_path) -> None:
    """LoRA + ZeRO-3 hung on 2 GPUs: the main process alone loaded base + adapter while the trainer's ZeRO-3
    config was still registered, so `from_pretrained` ran inside `deepspeed.zero.Init` (a collective) while the
    other rank sat at the barrier. Here the registration is real (transformers' own global); DeepSpeed is not
    installed, so a load that still goes through ZeRO-3 init fails at once instead of hanging."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.integrations.deepspeed import (
        is_deepspeed_zero3_enabled,
        set_hf_deepspeed_config,
        unset_hf_deepspeed_config,
    )

    from formalpi.engine.train_entry import merge_lora

    peft_model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model),
        LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]),
    )
    peft_model.save_pretrained(tmp_path / "adapter")

    class Zero3Registered:  # what TrainingArguments registers under a ZeRO-3 accelerate config
        config = {"zero_optimization": {"stage": 3}}

        def is_zero3(self) -> bool:
            return True

    registered = Zero3Registered()
    set_hf_deepspeed_config(registered)
    try:
        assert is_deepspeed_zero3_enabled()
        merge_lora(tmp_path / "adapter", tmp_path / "merged", torch.float32)
    finally:
        unset_hf_deepspeed_config()
    assert _weights(tmp_path / "merged").keys() == _weights(tiny_model).keys()  # a plain, merged checkpoint


def test_a_launch_past_its_timeout_is_stopped_with_its_log_kept(tiny_model, tmp_path) -> None:
    """A hung launch used to lose everything: the output was held in memory and subprocess.run's TimeoutExpired
    escaped untyped. Now the log is written as it comes, the launcher's whole process group is stopped, and the
    error is a LaunchError naming the log. (1 s is far less than the launcher needs to start training.)"""
    import psutil

    out = tmp_path / "ckpt"
    with pytest.raises(LaunchError, match=r"timed out after 1\.0 s") as e:
        launch_sft(
            LaunchSpec(strategy=Strategy.DDP, num_processes=1, cpu=True),
            tiny_model,
            _examples(4),
            TrainConfig(lora_rank=2, batch_size=4),
            out,
            seed=1,
            device="cpu",
            timeout_s=1.0,
        )
    log = EntryFiles.beside(out).result.parent / "launch.log"
    assert str(log) in str(e.value) and log.exists()
    survivors = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if str(out) in " ".join(p.info["cmdline"] or []) and p.status() != psutil.STATUS_ZOMBIE:
                survivors.append(p.pid)
        except psutil.Error:
            continue
    assert survivors == [] and not out.exists()


def test_the_parent_never_touches_cuda_so_its_vllm_engine_can_fork(monkeypatch) -> None:
    """On two H200s the retry loop's own vLLM engine (started after the sharded first attempts) died with 'Cannot
    re-initialize CUDA in forked subprocess': `Placement.gpus()` had called torch.cuda.is_available() in the
    parent, which poisons fork for CUDA while torch.cuda.is_initialized() stays False, so vLLM still forked."""
    import formalpi.engine.launch as launch
    from formalpi.engine.launch import Launcher, Placement, visible_gpu_count

    def touched(*a, **k):
        raise AssertionError("CUDA asked in the parent process")

    monkeypatch.setattr(torch.cuda, "is_available", touched)
    monkeypatch.setattr(torch.cuda, "device_count", touched)
    visible_gpu_count.cache_clear()
    assert Placement(num_gpus=2).gpus() is None  # counted by a child process: no GPU on this machine
    specs = []
    monkeypatch.setattr(launch, "launch_sft", lambda spec, *a, **k: specs.append(spec))
    Placement(launcher=Launcher.ACCELERATE, num_gpus=2).train("m", [], config_from_dict({"name": "x"}), Path("o"), 1)
    assert specs[0].cpu and specs[0].num_processes == 2


def test_deterministic_vllm_means_batch_invariant_kernels_and_no_prefix_cache(monkeypatch) -> None:
    """Measured on H200s: records of a sharded eval equal the one-engine run's only with vLLM's batch-invariant
    kernels and without the prefix cache (either alone left 1-2 of 64 records different when repeated)."""
    import types

    from formalpi.config import VLLMConfig
    from formalpi.engine.backends import BATCH_INVARIANT_ENV, VLLMGenerator, vllm_engine_kwargs
    from formalpi.tiny import build_tokenizer

    assert vllm_engine_kwargs("/m", VLLMConfig())["enable_prefix_caching"] is True
    assert vllm_engine_kwargs("/m", VLLMConfig(deterministic=True))["enable_prefix_caching"] is False
    assert (
        vllm_engine_kwargs("/m", VLLMConfig(deterministic=True, enable_prefix_caching=False))["enable_prefix_caching"]
        is False
    )
    seen = []
    tok = build_tokenizer()

    class LLM:  # the engine reads the switch from the environment its engine-core process inherits
        def __init__(self, **kw):
            seen.append((os.environ.get(BATCH_INVARIANT_ENV), kw["enable_prefix_caching"]))

        def get_tokenizer(self):
            return tok

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=dict))
    monkeypatch.delenv(BATCH_INVARIANT_ENV, raising=False)
    VLLMGenerator("/m", opts=VLLMConfig())
    VLLMGenerator("/m", opts=VLLMConfig(deterministic=True))
    assert seen == [(None, True), ("1", False)]


def test_step_timings_and_hang_dumps_are_switched_by_environment() -> None:
    import faulthandler

    from formalpi.engine.train_entry import HANG_DUMP_ENV, STEP_STATS_ENV, arm_hang_dump
    from formalpi.errors import ConfigError

    # a benchmark times the same sharded code on one process as on N (DDP on one GPU would run plain sft)
    assert runs_sharded({STEP_STATS_ENV: "/tmp/stats"}) and not runs_sharded({STEP_STATS_ENV: ""})
    assert arm_hang_dump({}) is None
    for bad in ("soon", "0", "-5"):
        with pytest.raises(ConfigError, match=HANG_DUMP_ENV):
            arm_hang_dump({HANG_DUMP_ENV: bad})
    assert arm_hang_dump({HANG_DUMP_ENV: "600"}) == 600.0
    faulthandler.cancel_dump_traceback_later()
