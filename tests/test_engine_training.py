"""An engine fixture whose tests can fail: a scripted generator that fails every first attempt and solves every
retry it is shown PI for, so retry-STaR produces verified retries for sure; real verification (math-verify) and
real training (TRL SFTTrainer + peft LoRA) on the shipped tiny model. Seconds on 2 CPU cores."""

import re
from pathlib import Path

import pytest
import torch

from formalpi.config import config_from_dict
from formalpi.engine.backends import Completion, SamplingParams, render_chat
from formalpi.pi_condition import FAILED
from formalpi.engine.experiment import run_experiment
from formalpi.records import Attempt, Example, Judged
from formalpi.tiny import ensure_tiny_model

TRAIN, EVAL = 12, 4


class ScriptedSolver:
    """A Generator: a first attempt answers gold + 1 (WRONG); a prompt that shows the failure bit gets gold."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.calls: list[tuple[int, bool]] = []  # (prompts, any retry prompt)

    def chat_prompt(self, turns):
        return render_chat(self.tok, turns)

    def generate(self, prompts, params: SamplingParams):
        out = []
        for p in prompts:
            expr = re.findall(r"What is ([0-9+\-*() ]+)\?", p)[0]
            gold = eval(expr, {"__builtins__": {}})  # arith expressions of our own generator
            answer = gold if FAILED in p else gold + 1
            text = f"{expr}={answer}. \\boxed{{{answer}}}"
            out.append([Completion(text=text, prompt_tokens=len(p), completion_tokens=len(text))] * params.n)
        self.calls.append((len(prompts), any(FAILED in p for p in prompts)))
        return out


def _weights(path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return {k: v.detach().clone() for k, v in AutoModelForCausalLM.from_pretrained(str(path)).state_dict().items()}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, request):
    from transformers import AutoTokenizer

    torch.set_num_threads(1)
    base = str(ensure_tiny_model())  # the shipped weights: no training here
    solver = ScriptedSolver(AutoTokenizer.from_pretrained(base))
    mp = pytest.MonkeyPatch()
    mp.setattr("formalpi.engine.experiment.make_generator", lambda cfg, path: solver)
    request.addfinalizer(mp.undo)
    cfg = config_from_dict(
        {
            "name": "fixture",
            "condition": "gold",
            "runs_dir": str(tmp_path_factory.mktemp("runs")),
            "model": {"path": base},
            "data": {"dataset": "arith", "train_limit": TRAIN, "eval_limit": EVAL},
            "sampling": {"n": 1, "max_new_tokens": 48},
            "eval": {"n": 1, "max_new_tokens": 48},
            "train": {
                "finetune": "lora",
                "lora_rank": 4,
                "lora_alpha": 8,
                "lr": 5e-2,
                "epochs": 1,
                "batch_size": 4,
                "max_length": 128,
            },
        }
    )
    result = run_experiment(cfg, 3)
    return base, result.store, solver


def test_fixture_produces_verified_retries_and_trains_on_all_of_them(trained_run):
    base, store, solver = trained_run
    attempts = store.read("attempts", Attempt)
    judged = {j.attempt_id: j for j in store.read("verdicts", Judged)}
    first = [a for a in attempts if a.retry == 0]
    retries = [a for a in attempts if a.retry == 1]
    verified = [a for a in retries if judged[a.id].verdict.passed]
    examples = store.read("examples", Example)
    train = store.manifest()["stages"]["train_r0"]
    print(
        f"fixture: {len(first)} first attempts ({sum(judged[a.id].verdict.passed for a in first)} passed), "
        f"{len(retries)} retries, {len(verified)} verified retries, {len(examples)} trained examples, "
        f"{train['steps']} SFT steps, {train['train_tokens']} trained tokens"
    )
    assert len(first) == TRAIN and not any(judged[a.id].verdict.passed for a in first)
    assert len(verified) == len(retries) == TRAIN >= 10
    assert len(examples) == train["examples"] == len(verified)
    assert train["steps"] == TRAIN // 4 and train["train_tokens"] > 0 and train["final_loss"] is not None


def test_no_pi_in_any_trained_example_and_the_prompt_is_the_original(trained_run):
    _, store, _ = trained_run
    attempts = {a.id: a for a in store.read("attempts", Attempt)}
    pis = {a.pi for a in attempts.values() if a.pi}
    assert pis and all(p.startswith(FAILED) for p in pis)
    for ex in store.read("examples", Example):
        src = attempts[ex.attempt_id]
        assert src.retry == 1 and ex.completion == src.completion
        assert re.fullmatch(r"What is [0-9+\-*() ]+\?", ex.prompt), ex.prompt  # the problem alone
        assert src.pi in src.prompt and src.pi not in ex.prompt + ex.completion
        assert "incorrect" not in (ex.prompt + ex.completion).lower()
        assert "correct answer" not in (ex.prompt + ex.completion).lower()


def test_training_changed_the_weights(trained_run):
    base, store, _ = trained_run
    before, after = _weights(base), _weights(Path(store.root) / "checkpoint_r0")
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    delta = max((before[k] - after[k]).abs().max().item() for k in changed) if changed else 0.0
    print(f"fixture: {len(changed)} of {len(before)} tensors changed, max |delta| {delta:.3g}")
    assert any("proj" in k for k in changed) and delta > 1e-4  # LoRA on every linear layer, merged


def _run_scripted(tmp_path, monkeypatch, seed=3, **over):
    from transformers import AutoTokenizer

    base = str(ensure_tiny_model())
    monkeypatch.setattr(
        "formalpi.engine.experiment.make_generator",
        lambda cfg, path: ScriptedSolver(AutoTokenizer.from_pretrained(base)),
    )
    d = {
        "name": "scripted",
        "condition": "try_again",
        "runs_dir": str(tmp_path),
        "model": {"path": base},
        "data": {"dataset": "arith", "train_limit": 4, "eval_limit": 3},
        "sampling": {"n": 1, "max_new_tokens": 48},
        "eval": {"n": 1, "max_new_tokens": 48},
        "train": {"finetune": "lora", "lora_rank": 2, "lora_alpha": 4, "lr": 1e-3, "batch_size": 4, "max_length": 96},
    }
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return run_experiment(config_from_dict(d), seed)


def test_iterative_rows_evaluate_every_round(tmp_path, monkeypatch):
    from formalpi.records import EvalRecord

    store = _run_scripted(tmp_path, monkeypatch, retry={"rounds": 3}).store
    m = store.manifest()
    assert m["round_evals"] == ["eval_r0", "eval_r1", "eval"]
    for name in m["round_evals"]:
        assert m["stages"][name]["done"] and len(store.read(name, EvalRecord)) == 3, name
    assert all(m["stages"][f"train_r{r}"]["examples"] == 4 for r in range(3))


def test_a_run_that_trains_on_its_eval_problems_refuses_to_start(tmp_path, monkeypatch):
    from formalpi.errors import ConfigError

    same = {"dataset": "arith", "train_split": "test", "eval_split": "test", "train_limit": 4, "eval_limit": 3}
    with pytest.raises(ConfigError, match=r"3 of the 3 eval problems .*data.allow_train_on_eval = true"):
        _run_scripted(tmp_path, monkeypatch, data=same)
    assert not (tmp_path / "scripted").exists()  # refused before any run directory was made
    store = _run_scripted(tmp_path, monkeypatch, data={**same, "allow_train_on_eval": True}).store
    data = store.manifest()["data"]
    assert data["train_eval_overlap"] == 3 and data["allow_train_on_eval"] is True
    assert data["seed_varies"] == ["sampling", "sft_data_order", "lora_init"]


def test_redraw_per_seed_draws_other_training_problems(tmp_path, monkeypatch):
    def drawn(seed, redraw):
        store = _run_scripted(
            tmp_path / f"{seed}{redraw}", monkeypatch, seed=seed, data={"redraw_per_seed": redraw, "train_limit": 6}
        )
        firsts = [a.problem_id for a in store.store.read("attempts", Attempt) if a.retry == 0]
        return sorted(firsts), store.store.manifest()["data"]

    (a, da), (b, db) = drawn(1, True), drawn(2, True)
    (c, _), (d, dd) = drawn(1, False), drawn(2, False)
    assert a != b and c == d and len(a) == len(b) == 6
    assert "train_problems" in da["seed_varies"] and "train_problems" not in dd["seed_varies"]
    assert da["train_eval_overlap"] == db["train_eval_overlap"] == 0


def test_a_row_can_start_from_another_rows_checkpoint_of_the_same_seed(tmp_path, monkeypatch):
    from formalpi.errors import ConfigError

    first = _run_scripted(tmp_path, monkeypatch, seed=3).store  # writes scripted/3/checkpoint_r0
    template = str(tmp_path / "scripted" / "{seed}" / "checkpoint_r0")
    seen = []
    monkeypatch.setattr(
        "formalpi.engine.experiment.make_generator",
        lambda cfg, path: (
            seen.append(path) or ScriptedSolver(__import__("transformers").AutoTokenizer.from_pretrained(path))
        ),
    )
    cfg = config_from_dict(
        {
            "name": "hybrid",
            "method": "baseline",
            "runs_dir": str(tmp_path),
            "model": {"path": template},
            "data": {"dataset": "arith", "eval_limit": 2},
            "eval": {"n": 1, "max_new_tokens": 48},
        }
    )
    run_experiment(cfg, 3)
    assert seen == [str(first.root / "checkpoint_r0")]
    with pytest.raises(ConfigError, match=r"model.path: .*scripted/5/checkpoint_r0 .* for seed 5 first"):
        run_experiment(cfg, 5)
