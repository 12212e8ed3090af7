"""Generation backends: the vLLM mapping (checked without vLLM: it needs a GPU; the real engine runs in
bench/generation.py and bench/gpu_retry_round.py), stop tokens, the thinking switch, and GPU memory handed back
before training."""

import importlib.util
import sys
from pathlib import Path

import pytest

from formalpi.config import VLLMConfig, config_from_dict
from formalpi.engine.backends import (
    HFGenerator,
    SamplingParams,
    VLLMGenerator,
    render_chat,
    release,
    request_seed,
    stop_token_ids,
    until_stop,
    vllm_engine_kwargs,
    vllm_sampling_kwargs,
)
from formalpi.errors import ConfigError
from formalpi.tiny import TinySpec, build_tokenizer, ensure_tiny_model

ROOT = Path(__file__).resolve().parent.parent
NO_VLLM = pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")


@pytest.fixture(scope="module")
def tiny_model() -> str:
    return str(ensure_tiny_model(TinySpec(steps=40, train_per_level=40)))  # cached: shared with other test files


def test_sampling_params_map_onto_vllm_names_with_every_knob_explicit():
    p = SamplingParams(n=8, temperature=0.7, top_p=0.95, max_new_tokens=512, seed=123)
    kw = vllm_sampling_kwargs(p, stops=[5, 2], index=3)
    assert kw == {
        "n": 8,
        "temperature": 0.7,
        "top_p": 0.95,
        "top_k": 0,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "max_tokens": 512,
        "min_tokens": 0,
        "stop_token_ids": [5, 2],
        "seed": request_seed(123, 3),
        "detokenize": False,
    }


def test_greedy_maps_to_temperature_zero_and_no_nucleus():
    kw = vllm_sampling_kwargs(SamplingParams(temperature=0.0, top_p=0.5, max_new_tokens=4, min_new_tokens=4))
    assert (kw["temperature"], kw["top_p"], kw["min_tokens"]) == (0.0, 1.0, 4)


def test_request_seeds_are_per_prompt_deterministic_and_distinct():
    seeds = [request_seed(42, i) for i in range(1000)]
    assert seeds == [request_seed(42, i) for i in range(1000)]  # a resumed chunk draws the same samples
    assert len(set(seeds)) == 1000
    assert request_seed(43, 0) != request_seed(42, 0)
    # vLLM gives the k-th of n samples seed + k: the values stay well inside its 32-bit seed range
    assert all(0 <= s < 2**30 for s in seeds)


def test_engine_kwargs_carry_the_config_section():
    kw = vllm_engine_kwargs(
        "/ckpt",
        VLLMConfig(
            tensor_parallel_size=2,
            gpu_memory_utilization=0.5,
            max_model_len=4096,
            max_num_seqs=512,
            enable_prefix_caching=False,
        ),
        dtype="bfloat16",
    )
    assert kw["model"] == kw["tokenizer"] == "/ckpt"
    assert (
        kw["tensor_parallel_size"],
        kw["gpu_memory_utilization"],
        kw["max_model_len"],
        kw["max_num_seqs"],
        kw["enable_prefix_caching"],
        kw["dtype"],
    ) == (2, 0.5, 4096, 512, False, "bfloat16")
    assert kw["generation_config"] == "vllm"  # the checkpoint's sampling defaults never leak in
    default = vllm_engine_kwargs("/ckpt", None)
    assert "max_model_len" not in default and "max_num_seqs" not in default
    assert default["gpu_memory_utilization"] == 0.85 and default["enable_prefix_caching"] is True


def test_vllm_section_is_validated_with_the_key_named():
    with pytest.raises(ConfigError, match=r"model\.vllm\.gpu_memory_utilization"):
        config_from_dict({"name": "x", "model": {"vllm": {"gpu_memory_utilization": 1.5}}})
    with pytest.raises(ConfigError, match=r"unknown key 'model\.vllm\.tp'"):
        config_from_dict({"name": "x", "model": {"vllm": {"tp": 2}}})
    cfg = config_from_dict(
        {"name": "x", "model": {"backend": "vllm", "enable_thinking": False, "vllm": {"tensor_parallel_size": 2}}}
    )
    assert cfg.model.vllm.tensor_parallel_size == 2 and cfg.model.enable_thinking is False


def test_fingerprint_ignores_settings_a_run_does_not_use():
    base = config_from_dict({"name": "x"})
    assert "vllm" not in base.fingerprint() and "enable_thinking" not in base.fingerprint()
    hf_tuned = config_from_dict({"name": "x", "model": {"vllm": {"gpu_memory_utilization": 0.5}}})
    assert hf_tuned.fingerprint() == base.fingerprint()  # the hf backend never reads model.vllm
    v1 = config_from_dict({"name": "x", "model": {"backend": "vllm"}})
    v2 = config_from_dict({"name": "x", "model": {"backend": "vllm", "vllm": {"tensor_parallel_size": 2}}})
    assert v1.fingerprint() != v2.fingerprint()
    thinking = config_from_dict({"name": "x", "model": {"enable_thinking": False}})
    assert thinking.fingerprint() != base.fingerprint()


def test_stop_tokens_end_a_completion_and_are_not_counted():
    tok = build_tokenizer()
    stops = stop_token_ids(tok)
    assert stops == sorted({tok.eos_token_id, tok.pad_token_id})
    assert until_stop([7, 8, tok.eos_token_id, 9], stops) == [7, 8]
    assert until_stop([7, tok.pad_token_id, 9], stops) == [7]
    assert until_stop([7, 8], stops) == [7, 8]


@NO_VLLM
def test_vllm_generator_without_vllm_says_how_to_install_it():
    with pytest.raises(ConfigError, match=r"pip install 'formalpi\[vllm\]'"):
        VLLMGenerator("/some/checkpoint")


@NO_VLLM
def test_cli_prints_the_extra_name_rich_would_swallow(tiny_model, tmp_path, monkeypatch, capsys):
    from formalpi.cli import main

    sets = [
        f"model.path={tiny_model}",
        f"runs_dir={tmp_path}",
        "data.dataset=arith",
        "data.train_limit=2",
        "data.eval_limit=2",
        "model.backend=vllm",
    ]
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "formalpi",
            "run",
            str(ROOT / "experiments" / "math_gold.toml"),
            "--seeds",
            "42",
            *[a for s in sets for a in ("--set", s)],
        ],
    )
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "pip install 'formalpi[vllm]'" in out


class _NoTemplate:
    chat_template = None


def test_chat_rendering_without_a_template_is_plain_turns():
    text = render_chat(_NoTemplate(), [("user", "What is 1+1?"), ("assistant", "3"), ("user", "Try again.")])
    assert text == "user: What is 1+1?\nassistant: 3\nuser: Try again.\nassistant: "


QWEN3_THINK_TAIL = (
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
)


def test_enable_thinking_reaches_the_chat_template():
    tok = build_tokenizer()
    tok.chat_template = (
        "{%- for m in messages %}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
        "'<|im_end|>\\n' }}{%- endfor %}" + QWEN3_THINK_TAIL
    )  # Qwen3's switch, verbatim logic
    turns = [("user", "1+1?")]
    assert render_chat(tok, turns).endswith("<|im_start|>assistant\n")
    assert render_chat(tok, turns, enable_thinking=True).endswith("<|im_start|>assistant\n")
    assert render_chat(tok, turns, enable_thinking=False).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_min_new_tokens_runs_every_sequence_to_the_limit(tiny_model):
    gen = HFGenerator.from_pretrained(tiny_model, device="cpu", batch_size=8)
    prompts = [gen.chat_prompt([("user", f"What is {i} + {i}?")]) for i in range(3)]
    free = gen.generate(prompts, SamplingParams(n=2, max_new_tokens=24, seed=1))
    assert min(c.completion_tokens for cs in free for c in cs) < 24  # the trained tiny model stops by itself
    full = gen.generate(prompts, SamplingParams(n=2, max_new_tokens=24, min_new_tokens=24, seed=1))
    assert all(c.completion_tokens == 24 for cs in full for c in cs)


def test_release_hands_the_model_back(tiny_model):
    gen = HFGenerator.from_pretrained(tiny_model, device="cpu")
    release(gen)
    assert gen.model is None
    release(object())  # a generator without close() is left alone


def test_retry_round_releases_the_generator_before_training(tiny_model, tmp_path, monkeypatch):
    import formalpi.engine.experiment as run_mod
    from formalpi.engine.experiment import run_experiment

    events = []

    class Recording(HFGenerator):
        def close(self):
            events.append("close")
            super().close()

    import formalpi.engine.launch as launch_mod  # local training: Placement.train -> sft

    real_sft = launch_mod.sft
    monkeypatch.setattr(run_mod, "make_generator", lambda cfg, path: Recording.from_pretrained(path, device="cpu"))
    monkeypatch.setattr(launch_mod, "sft", lambda *a, **k: (events.append("sft"), real_sft(*a, **k))[1])
    cfg = config_from_dict(
        {
            "name": "rel",
            "runs_dir": str(tmp_path),
            "condition": "gold",
            "model": {"path": tiny_model},
            "data": {"train_limit": 3, "eval_limit": 2},
            "sampling": {"n": 2, "max_new_tokens": 12},
            "eval": {"n": 1, "max_new_tokens": 12},
            "train": {"batch_size": 2, "max_length": 96, "lora_rank": 2, "lora_alpha": 4},
        }
    )
    run_experiment(cfg, 42)
    assert events == ["close", "sft", "close"]  # the round's generator, then training, then the eval generator


class _StandInVLLM:
    """A stand-in for the `vllm` module with the real engine's request rules (vLLM needs a GPU; the real engine
    ran on an H200: bench/results/h200x2-2026-11-29/). It enforces what vLLM 0.26 enforces — greedy requests
    must have n == 1 — and answers each request with `n` outputs whose tokens are [prompt length, 7, EOS, 9]."""

    def __init__(self, tokenizer):
        import types

        self.requests = []
        self.shutdowns = 0
        outer = self

        class SamplingParams:
            def __init__(self, **kw):
                if kw["temperature"] == 0 and kw["n"] > 1:
                    raise ValueError(f"n must be 1 when using greedy sampling, got {kw['n']}.")
                self.kw = kw

        class LLM:
            def __init__(self, **kw):
                self.llm_engine = types.SimpleNamespace(engine_core=types.SimpleNamespace(shutdown=self._shutdown))

            def _shutdown(self):
                outer.shutdowns += 1

            def get_tokenizer(self):
                return tokenizer

            def generate(self, prompts, sps, use_tqdm=False):
                outer.requests += [(p["prompt_token_ids"], sp.kw) for p, sp in zip(prompts, sps)]
                return [
                    types.SimpleNamespace(
                        outputs=[
                            types.SimpleNamespace(
                                index=k, token_ids=[len(p["prompt_token_ids"]), 7, tokenizer.eos_token_id, 9]
                            )
                            for k in range(sp.kw["n"])
                        ]
                    )
                    for p, sp in zip(prompts, sps)
                ]

        self.module = types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams)


def test_vllm_generator_wiring_greedy_n_seeds_stops_and_release(monkeypatch):
    tok = build_tokenizer()
    stand_in = _StandInVLLM(tok)
    monkeypatch.setitem(sys.modules, "vllm", stand_in.module)
    gen = VLLMGenerator("/ckpt")
    prompts = [gen.chat_prompt([("user", "1+1?")]), gen.chat_prompt([("user", "12+30?")])]
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    out = gen.generate(prompts, SamplingParams(n=3, temperature=0.0, max_new_tokens=8, seed=5))
    # greedy n=3 goes out as 3 requests of n=1 per prompt, each prompt with its own seed
    assert [len(r[0]) for r in stand_in.requests] == [len(ids[0])] * 3 + [len(ids[1])] * 3
    assert [r[1]["seed"] for r in stand_in.requests] == [request_seed(5, 0)] * 3 + [request_seed(5, 1)] * 3
    assert all(r[1]["n"] == 1 and r[1]["stop_token_ids"] == stop_token_ids(tok) for r in stand_in.requests)
    assert [len(cs) for cs in out] == [3, 3]
    for prompt_ids, cs in zip(ids, out):
        for c in cs:  # cut before EOS; prompt counted without special tokens added
            assert (c.prompt_tokens, c.completion_tokens) == (len(prompt_ids), 2)
            assert c.text == tok.decode([len(prompt_ids), 7], skip_special_tokens=True)
    sampled = gen.generate(prompts[:1], SamplingParams(n=3, temperature=1.0, max_new_tokens=8, seed=5))
    assert stand_in.requests[-1][1]["n"] == 3 and len(sampled[0]) == 3  # sampling keeps vLLM's own n
    release(gen)
    assert stand_in.shutdowns == 1 and gen.llm is None
    release(gen)  # twice is harmless
    assert stand_in.shutdowns == 1


def test_vllm_outside_the_run_tested_range_warns_once_and_never_refuses(monkeypatch):
    import warnings

    from formalpi.engine import backends

    assert backends.vllm_version_note("0.26.0") is None
    assert backends.vllm_version_note("0.26.1+cu130") is None
    newer = backends.vllm_version_note("0.33.1")
    assert newer.startswith("vLLM 0.33.1 is untested") and "checked against vLLM's current documented API" in newer
    assert "older than the supported range" in backends.vllm_version_note("0.25.2")
    monkeypatch.setattr(backends, "_vllm_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backends.warn_vllm_version("0.33.1")
        backends.warn_vllm_version("0.33.1")
        backends.warn_vllm_version("0.26.0")
    assert [str(w.message) for w in caught] == [newer]
    assert caught[0].category is backends.VLLMVersionWarning


def test_vllm_extra_has_no_upper_pin():
    import tomllib

    from tests.conftest import ROOT

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["vllm"]
    assert extra == ["vllm>=0.26"]
