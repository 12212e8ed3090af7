"""IPRS (GRPO with PI reward shaping) on a (barely trained) tiny Qwen3: the shaping term on hand-made log-probs,
the teacher really being the adapter-disabled base, an end-to-end run through TRL's GRPOTrainer, and resume."""

from pathlib import Path

import pytest
import torch

from formalpi.domains.math.domain import MathDomain
from formalpi.config import config_from_dict
from formalpi.engine.conditions import get_condition
from formalpi.engine.iprs import IPRSStep, IPRSRewards, shaping_values, token_logprobs
from formalpi.engine.opsd import TeacherContext, completion_logits, load_student, pack, render
from formalpi.engine.experiment import run_experiment
from formalpi.errors import ConfigError
from formalpi.records import EvalRecord
from formalpi.runs import RunStore
from formalpi.tiny import TinySpec, ensure_tiny_model


@pytest.fixture(scope="module")
def tiny_model() -> str:
    return str(ensure_tiny_model(TinySpec(steps=40, train_per_level=40)))


@pytest.fixture(scope="module")
def domain():
    with MathDomain() as d:
        yield d


def cfg(model: str, runs: Path, condition: str = "gold", **iprs) -> object:
    g = {
        "steps": 2,
        "batch_size": 2,
        "num_generations": 2,
        "max_new_tokens": 10,
        "shaping_lambda": 0.5,
        "save_every": 1,
        "lr": 1e-3,
    }
    g.update(iprs)
    return config_from_dict(
        {
            "name": f"g/{condition}",
            "method": "iprs",
            "condition": condition,
            "runs_dir": str(runs),
            "model": {"path": model},
            "data": {"dataset": "arith", "train_limit": 4, "eval_limit": 3},
            "eval": {"n": 1, "max_new_tokens": 10},
            "train": {"finetune": "lora", "lora_rank": 4},
            "iprs": g,
        }
    )


def test_shaping_is_the_clipped_mean_log_ratio_over_completion_tokens():
    lp_pi = torch.tensor([[-1.0, -2.0, -9.0], [-0.5, -0.5, -0.5], [-0.1, 0.0, 0.0]])
    lp_plain = torch.tensor([[-2.0, -2.5, 5.0], [-3.5, -4.5, -6.5], [-0.1, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    got = shaping_values(lp_pi, lp_plain, mask, clip=2.0)
    # row 0: mean(1.0, 0.5) over the 2 real tokens (the padded third is ignored); row 1: mean 4.0 clipped to 2;
    # row 2: no completion tokens -> 0
    assert got.tolist() == pytest.approx([0.75, 2.0, 0.0])
    assert shaping_values(torch.full_like(lp_pi, -5.0), torch.zeros_like(lp_plain), mask, 1.0).tolist()[:2] == [
        -1.0,
        -1.0,
    ]
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]]))
    assert token_logprobs(logits, torch.tensor([[1, 2]])).exp()[0].tolist() == pytest.approx([0.25, 0.8])


def test_shaping_teacher_is_the_adapter_disabled_base(tiny_model, domain):
    from transformers import AutoModelForCausalLM

    from formalpi.config import FinetuneConfig, IPRSConfig

    policy, tok = load_student(tiny_model, FinetuneConfig(lora_rank=4), "cpu", "float32", seed=0)
    with torch.no_grad():  # a moved adapter: the policy is no longer the base
        for n, p in policy.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    problems = domain.problems("arith", "train", limit=2)
    p = problems[0]
    rewards = IPRSRewards(
        domain,
        get_condition("gold", "math"),
        TeacherContext.RETRY,
        problems,
        policy,
        tok,
        IPRSConfig(clip=100.0),
        seed=0,
    )
    # a group of three completions of one prompt: two different failures and a pass
    texts = ["\\boxed{-1}", "\\boxed{-2}", f"\\boxed{{{p.gold}}}"]  # arith answers are non-negative
    ids = [tok(t + "<|im_end|>", add_special_tokens=False)["input_ids"] for t in texts]
    comps = [[{"role": "assistant", "content": t}] for t in texts]
    pids = [p.id] * 3
    assert rewards.verifier([None] * 3, comps, ids, pids) == [0.0, 0.0, 1.0]
    got = rewards.shaping([None] * 3, comps, ids, pids)
    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    prompt = domain.prompt(p)

    def shown(failure: str):  # the teacher's retry conversation after the failed completion `failure`
        return [
            ("user", prompt),
            ("assistant", failure),
            ("user", f"Your answer is incorrect. The correct answer is {p.gold}. Try again."),
        ]

    def mean_logp(model, turns, scored):
        packed = pack([render(tok, turns)], [scored], tok.pad_token_id)
        with torch.no_grad():
            return token_logprobs(completion_logits(model, packed), torch.tensor([scored])).mean().item()

    def want(model, i, failure):
        return mean_logp(model, shown(failure), ids[i]) - mean_logp(model, [("user", prompt)], ids[i])

    # each completion is scored after ANOTHER failure of its group, never after itself (a teacher copies its
    # context); the passed one too, after the group's first failure
    expected = [want(base, 0, texts[1]), want(base, 1, texts[0]), want(base, 2, texts[0])]
    assert got == pytest.approx(expected, rel=1e-3, abs=1e-6) and all(g != 0.0 for g in got)
    assert abs(got[0] - want(base, 0, texts[0])) > 1e-5  # the self-shown context would have given another value
    assert abs(want(policy, 0, texts[1]) - expected[0]) > 1e-5  # the adapter would have given another value
    # a failure with no other failure in its group has nothing to be shown: shaping 0
    assert rewards.verifier([None] * 2, comps[1:], ids[1:], pids[1:]) == [0.0, 1.0]
    assert rewards.shaping([None] * 2, comps[1:], ids[1:], pids[1:])[0] == 0.0


def test_iprs_runs_end_to_end_through_trl_and_logs_each_step(tiny_model, domain, tmp_path):
    result = run_experiment(cfg(tiny_model, tmp_path), 2, domain=domain)
    store = result.store
    steps = store.read("iprs_steps", IPRSStep)
    assert [s.step for s in steps] == [1, 2]
    for s in steps:
        assert s.verifier is not None and s.shaping is not None
        assert s.reward == pytest.approx(s.verifier + 0.5 * s.shaping, abs=1e-4)
    assert any(s.shaping != 0 for s in steps)
    m = store.manifest()["stages"]
    assert m["iprs"]["done"] and m["iprs"]["steps"] == 2 and m["eval"]["done"]
    # the budget IPRS spent: 2 steps x 2 prompts x 2 generations, each verified; trained = prompt + completion
    g = m["iprs"]
    assert g["samples"] == g["verifier_calls"] == 8 and 0 < g["completion_tokens"] <= 8 * 10
    assert g["train_tokens"] > g["completion_tokens"] and g["wall_s"] > 0
    assert (store.root / "checkpoint_iprs" / "config.json").exists() and not (store.root / "iprs_trainer").exists()
    assert len(store.read("eval", EvalRecord)) == 3


def test_no_pi_condition_with_shaping_is_a_config_error(tiny_model, domain, tmp_path):
    with pytest.raises(ConfigError, match="iprs.shaping_lambda"):
        run_experiment(cfg(tiny_model, tmp_path, condition="rejection"), 1, domain=domain)


def test_killed_iprs_stage_resumes_from_its_checkpoint(tiny_model, domain, tmp_path, monkeypatch):
    real = IPRSRewards.verifier
    calls = {"n": 0}

    def dies_on_second_step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(IPRSRewards, "verifier", dies_on_second_step)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg(tiny_model, tmp_path), 4, domain=domain)
    store = RunStore(tmp_path / "g" / "gold" / "4")
    assert [s.step for s in store.read("iprs_steps", IPRSStep)] == [1]
    assert (store.root / "iprs_trainer" / "checkpoint-1").is_dir()
    monkeypatch.setattr(IPRSRewards, "verifier", real)
    resumed = run_experiment(cfg(tiny_model, tmp_path), 4, domain=domain).store
    assert [s.step for s in resumed.read("iprs_steps", IPRSStep)] == [1, 2]
    assert resumed.is_done("iprs") and resumed.manifest()["stages"]["iprs"]["steps"] == 2
