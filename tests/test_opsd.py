"""OPSD on a (barely trained) tiny Qwen3: the loss on hand-made logits, the teacher's weights and context,
frontier gating, the per-step log, and a killed stage resuming to the same steps."""

from pathlib import Path

import pytest
import torch

from formalpi.domains.math.domain import MathDomain
from formalpi.config import config_from_dict
from formalpi.pi_condition import PIContext
from formalpi.engine.conditions import get_condition, retry_turns
from formalpi.engine.losses import per_token_divergence
from formalpi.engine.opsd import (
    OPSDStep,
    TeacherContext,
    Teacher,
    completion_logits,
    load_student,
    masked_mean,
    pack,
    resolve_teacher_context,
    select_frontier,
    solve_rates,
    teacher_turns,
)
from formalpi.engine.experiment import run_experiment
from formalpi.errors import ConfigError
from formalpi.records import Attempt, EvalRecord, Problem, Status, Verdict
from formalpi.runs import RunStore
from formalpi.tiny import TinySpec, ensure_tiny_model


@pytest.fixture(scope="module")
def tiny_model() -> str:
    # a few steps only (mechanics, not accuracy), cached by spec so test files and runs share one training
    return str(ensure_tiny_model(TinySpec(steps=40, train_per_level=40)))


@pytest.fixture(scope="module")
def domain():
    with MathDomain() as d:  # one verifier pool for the module's runs
        yield d


def cfg(model: str, runs: Path, condition: str = "gold", **opsd) -> object:
    o = {"steps": 4, "batch_size": 3, "samples_per_problem": 2, "max_new_tokens": 12, "lr": 1e-3, "save_every": 2}
    o.update(opsd)
    return config_from_dict(
        {
            "name": f"o/{condition}",
            "method": "opsd",
            "condition": condition,
            "runs_dir": str(runs),
            "model": {"path": model},
            "data": {"dataset": "arith", "train_limit": 6, "eval_limit": 4},
            "eval": {"n": 2, "max_new_tokens": 12},
            "train": {"finetune": "lora", "lora_rank": 4},
            "opsd": o,
        }
    )


# ---- the loss -------------------------------------------------------------------------------------------------


def direct_reverse_kl(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    ps, pt = torch.softmax(s, -1), torch.softmax(t, -1)
    return (ps * (ps.log() - pt.log())).sum(-1)


def direct_jsd(s: torch.Tensor, t: torch.Tensor, beta: float) -> torch.Tensor:
    ps, pt = torch.softmax(s, -1), torch.softmax(t, -1)
    m = beta * pt + (1 - beta) * ps
    return beta * (pt * (pt.log() - m.log())).sum(-1) + (1 - beta) * (ps * (ps.log() - m.log())).sum(-1)


def test_loss_is_a_masked_mean_over_completion_tokens_only():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # garbage where the mask is 0 (prompt/padding positions): must not move the loss
    s_bad, t_bad = s.clone(), t.clone()
    s_bad[mask == 0] = 50.0 * torch.randn(3, 5, generator=g)
    t_bad[mask == 0] = -50.0
    kept = [(0, 0), (0, 1), (1, 0)]
    want_rkl = sum(direct_reverse_kl(s[i, j], t[i, j]) for i, j in kept) / 3
    got_rkl = masked_mean(per_token_divergence(s_bad, t_bad, "reverse_kl"), mask)
    assert torch.allclose(got_rkl, want_rkl, atol=1e-5) and got_rkl > 0
    want_jsd = sum(direct_jsd(s[i, j], t[i, j], 0.3) for i, j in kept) / 3
    got_jsd = masked_mean(per_token_divergence(s_bad, t_bad, "jsd", beta=0.3), mask)
    assert torch.allclose(got_jsd, want_jsd, atol=1e-5)
    # top-k over the whole vocabulary is the full divergence; a smaller k is a different (bucketed) one
    assert torch.allclose(masked_mean(per_token_divergence(s, t, "reverse_kl", top_k=5), mask), want_rkl, atol=1e-5)
    k2 = masked_mean(per_token_divergence(s, t, "reverse_kl", top_k=2), mask)
    assert torch.isfinite(k2) and not torch.allclose(k2, want_rkl)


def test_pack_points_each_completion_token_at_the_logit_that_predicts_it():
    p = pack([[5, 6, 7], [8]], [[9, 10], [11, 12, 13]], pad_id=0)
    assert p.input_ids.tolist() == [[5, 6, 7, 9, 10], [8, 11, 12, 13, 0]]
    assert p.mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    for i, comp in enumerate([[9, 10], [11, 12, 13]]):
        for j, tok_id in enumerate(comp):
            assert p.input_ids[i, p.positions[i, j] + 1] == tok_id


# ---- the teacher ----------------------------------------------------------------------------------------------


def test_base_teacher_is_the_adapter_disabled_starting_model(tiny_model):
    from transformers import AutoModelForCausalLM

    from formalpi.config import TrainConfig

    student, tok = load_student(tiny_model, TrainConfig(lora_rank=4), "cpu", "float32", seed=0)
    with torch.no_grad():  # a trained-looking adapter, so that student and base differ
        for n, p in student.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    packed = pack(
        [tok("<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n")["input_ids"]],
        [tok("5<|im_end|>")["input_ids"]],
        tok.pad_token_id,
    )
    teacher = Teacher(student, "base")
    t = teacher.logits(packed)
    with torch.no_grad():
        b = completion_logits(base, packed)
        s = completion_logits(student, packed)
    assert torch.allclose(t, b, atol=1e-5)
    assert not torch.allclose(s, b, atol=1e-3)  # the student really has moved; the teacher has not
    frozen = Teacher(student, "frozen").logits(packed)
    assert torch.allclose(frozen, s, atol=1e-5)  # a frozen copy of the student as it is now


def test_train_gradient_checkpointing_reaches_the_opsd_student(tiny_model):
    """`train.gradient_checkpointing` recomputes each layer in the backward pass of OPSD's loss path (the decoder
    called on its own, formalpi/engine/losses.py), with the same gradient."""
    from formalpi.config import TrainConfig
    from formalpi.engine.losses import completion_hidden, lm_head

    def loss_and_attn0_calls(checkpointing: bool):
        student, tok = load_student(
            tiny_model, TrainConfig(lora_rank=4, gradient_checkpointing=checkpointing), "cpu", "float32", seed=0
        )
        with torch.no_grad():
            for n, p in student.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.1)
        calls = []
        # a module early inside the layer (transformers checkpoints the layer's `forward`, so the layer's own hooks
        # run once; torch stops recomputing once the saved tensors it needs are back, so a late module may not rerun)
        attn0 = student.get_base_model().model.layers[0].self_attn
        attn0.register_forward_pre_hook(lambda *a: calls.append(1))
        packed = pack(
            [tok("<|im_start|>user\nWhat is 2+3?<|im_end|>\n")["input_ids"]],
            [tok("5<|im_end|>")["input_ids"]],
            tok.pad_token_id,
        )
        student.train()
        h = completion_hidden(student, packed.input_ids, packed.attention_mask, packed.positions, packed.mask)
        loss = lm_head(student)(h).logsumexp(-1).sum()
        loss.backward()
        grads = [p.grad.clone() for n, p in student.named_parameters() if "lora_" in n]
        return loss.item(), grads, len(calls)

    plain_loss, plain_grads, plain_calls = loss_and_attn0_calls(False)
    ckpt_loss, ckpt_grads, ckpt_calls = loss_and_attn0_calls(True)
    assert (plain_calls, ckpt_calls) == (1, 2)  # the layer ran again in backward
    assert ckpt_loss == pytest.approx(plain_loss, rel=1e-6)
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(plain_grads, ckpt_grads, strict=True))


def test_teacher_context_retry_shows_the_failed_sample_and_prompt_kind_shows_the_answer():
    p = Problem(id="a", domain="math", text="What is 2+3?", gold="5")
    att = Attempt(id="a|opsd0|s0", problem_id="a", prompt="x", completion="\\boxed{7}")
    wrong = PIContext(problem=p, attempt=att, verdict=Verdict(status=Status.WRONG), seed=0, problems=[p])
    right = PIContext(problem=p, attempt=att, verdict=Verdict(status=Status.VALID, score=1.0), seed=0, problems=[p])
    gold, ans = get_condition("gold", "math"), get_condition("answer_only", "math")
    kind = resolve_teacher_context("auto", "gold")
    assert kind is TeacherContext.RETRY
    turns = teacher_turns(kind, gold, p.text, wrong)
    assert turns == retry_turns(p.text, att, "Your answer is incorrect. The correct answer is 5. Try again.")
    assert teacher_turns(kind, gold, p.text, right) is None
    assert teacher_turns(kind, gold, p.text, right, on_passed="plain") == [("user", p.text)]
    kind = resolve_teacher_context("auto", "answer_only")
    assert kind is TeacherContext.PROMPT
    for ctx in (wrong, right):  # attempt-free PI: every sample, passed or not
        assert teacher_turns(kind, ans, p.text, ctx) == [("user", "What is 2+3?\n\nThe correct answer is 5.")]


def _teacher_rows(monkeypatch, session, step: int):
    """(teacher prompt ids, scored completion ids) of the rows one step puts in the loss: every second `pack`
    (each micro-batch packs the student's rows, then the teacher's)."""
    import formalpi.engine.opsd as opsd

    calls = []
    real = opsd.pack

    def recording(prompts, completions, *a, **k):
        calls.append((list(prompts), list(completions)))
        return real(prompts, completions, *a, **k)

    monkeypatch.setattr(opsd, "pack", recording)
    record = session.step(step)
    monkeypatch.setattr(opsd, "pack", real)
    return record, [row for prompts, comps in calls[1::2] for row in zip(prompts, comps)]


def test_teacher_context_never_contains_the_sample_it_scores(tiny_model, domain, monkeypatch):
    import formalpi.engine.opsd as opsd
    from formalpi.config import OPSDConfig, TrainConfig

    student, tok = load_student(tiny_model, TrainConfig(lora_rank=4), "cpu", "float32", seed=0)
    problems = domain.problems("arith", "train", limit=8)
    o = OPSDConfig(steps=2, batch_size=8, samples_per_problem=1, max_new_tokens=16, lr=1e-3)
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=o.lr)
    session = opsd.OPSDSession(
        student, tok, Teacher(student, "base"), opt, domain, get_condition("try_again"), o, 0, problems, problems
    )
    steps = [_teacher_rows(monkeypatch, session, t) for t in range(2)]
    rows = [row for _, r in steps for row in r]
    assert rows, "the barely trained model fails most problems: some samples must be trained"
    for teacher_ids, scored in rows:
        body = scored[:-1] if scored[-1] == tok.eos_token_id else scored
        text = tok.decode(body, skip_special_tokens=True).strip()
        assert len(body) >= 3 and text
        context = tok.decode(teacher_ids)
        assert text not in context, f"the teacher context shows the scored sample {text!r}"
        assert "Try again." in context  # and it is a retry context: some other failed attempt and the PI
    for record, r in steps:  # one extra sample per problem for the teacher's context, counted with the scored ones
        assert record.samples == 2 * 8 and record.trained_samples == len(r)


def test_context_sample_is_another_failure_extra_first():
    from formalpi.engine.opsd import context_sample

    # one scored sample (index 0) and the extra (index 1)
    assert context_sample(0, [True, True]) == 1
    assert context_sample(0, [True, False]) is None  # the only failure is the scored sample itself
    # three scored samples and the extra: the extra first, then the other scored failures, never itself
    assert context_sample(1, [True, True, False, True]) == 3
    assert context_sample(1, [True, True, False, False]) == 0
    assert context_sample(0, [True, False, False, False]) is None


# ---- frontier gating ------------------------------------------------------------------------------------------


def test_frontier_keeps_problems_inside_the_band():
    problems = [Problem(id=str(i), domain="math", text="q") for i in range(6)]
    records = [
        EvalRecord(problem_id=str(i), seed=1, condition="frontier", n=4, correct=c)
        for i, c in enumerate(
            [
                [False] * 4,
                [True, False, False, False],
                [True, True, False, False],
                [True, True, True, False],
                [True] * 4,
            ]
        )
    ]  # problem 5 has no estimate
    rates = solve_rates(records)
    assert rates == {"0": 0.0, "1": 0.25, "2": 0.5, "3": 0.75, "4": 1.0}
    assert [p.id for p in select_frontier(problems, rates, 0.25, 0.75)] == ["1", "2", "3"]
    assert [p.id for p in select_frontier(problems, rates, 0.3, 0.7)] == ["2"]
    assert [p.id for p in select_frontier(problems, rates, 0.0, 0.0)] == ["0"]
    assert select_frontier(problems, rates, 0.8, 0.9) == []


# ---- end to end ---------------------------------------------------------------------------------------------


def test_opsd_runs_end_to_end_and_logs_teacher_pi_kl_per_step(tiny_model, domain, tmp_path):
    c = cfg(tiny_model, tmp_path, frontier=True, frontier_n=4, frontier_low=0.0, frontier_high=0.5)
    result = run_experiment(c, 3, domain=domain)
    store = result.store
    steps = store.read("opsd_steps", OPSDStep)
    assert [s.step for s in steps] == [0, 1, 2, 3]
    trained = [s for s in steps if s.trained_samples]
    assert trained, "the barely trained model fails most problems: some steps must train"
    for s in trained:
        assert s.tokens > 0 and s.loss >= 0 and s.teacher_pi_kl is not None and s.teacher_pi_kl > 0
    frontier = store.read("frontier", EvalRecord)
    assert len(frontier) == 6 and all(r.n == 4 and r.seed == 3 + 10_000 for r in frontier)
    rates = solve_rates(frontier)
    pool = {pid for s in steps for pid in s.problem_ids}
    assert pool and all(rates[pid] <= 0.5 for pid in pool)
    evals = store.read("eval", EvalRecord)
    assert len(evals) == 4
    m = store.manifest()["stages"]
    assert m["opsd"]["done"] and m["opsd"]["steps"] == 4 and (store.root / "checkpoint_opsd" / "config.json").exists()
    assert not (store.root / "opsd_state.pt").exists()
    # generated tokens count every student sample; trained tokens only those in the loss
    o = m["opsd"]
    assert o["samples"] == o["verifier_calls"] == 4 * 3 * (2 + 1)  # + one context sample per problem
    assert o["completion_tokens"] == sum(s.generated_tokens for s in steps) > 0
    assert o["train_tokens"] == sum(s.tokens for s in steps) > 0
    assert o["completion_tokens"] >= o["train_tokens"]
    f = m["frontier"]  # the PCCG estimate is budgeted too: 6 problems x 4 samples, each verified, timed
    assert f["samples"] == f["verifier_calls"] == 24 and f["completion_tokens"] > 0 and f["wall_s"] > 0


def test_empty_frontier_band_is_a_config_error_naming_the_keys(tiny_model, domain, tmp_path):
    c = cfg(tiny_model, tmp_path, frontier=True, frontier_n=2, frontier_low=1.0, frontier_high=1.0)
    with pytest.raises(ConfigError, match="opsd.frontier_low/frontier_high"):
        run_experiment(c, 1, domain=domain)


def test_killed_opsd_stage_resumes_to_the_same_steps(tiny_model, domain, tmp_path, monkeypatch):
    full = run_experiment(
        cfg(tiny_model, tmp_path / "a", teacher="ema", ema_decay=0.5, steps=3), 7, domain=domain
    ).store

    import formalpi.engine.opsd as opsd

    real_step = opsd.OPSDSession.step

    def dies_at_2(self, t):
        if t == 2:
            raise KeyboardInterrupt
        return real_step(self, t)

    monkeypatch.setattr(opsd.OPSDSession, "step", dies_at_2)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg(tiny_model, tmp_path / "b", teacher="ema", ema_decay=0.5, steps=3), 7, domain=domain)
    store_b = RunStore(tmp_path / "b" / "o" / "gold" / "7")
    assert (store_b.root / "opsd_state.pt").exists()  # snapshot before step 2 (save_every = 2)
    assert [s.step for s in store_b.read("opsd_steps", OPSDStep)] == [0, 1]
    with open(store_b.path("opsd_steps"), "a") as f:  # a step written after the snapshot, then a torn line
        f.write(store_b.read("opsd_steps", OPSDStep)[-1].model_copy(update={"step": 2}).model_dump_json() + "\n")
        f.write('{"step": 3, "lo')
    monkeypatch.setattr(opsd.OPSDSession, "step", real_step)
    resumed = run_experiment(
        cfg(tiny_model, tmp_path / "b", teacher="ema", ema_decay=0.5, steps=3), 7, domain=domain
    ).store
    a, b = full.read("opsd_steps", OPSDStep), resumed.read("opsd_steps", OPSDStep)
    assert [s.step for s in b] == [0, 1, 2]
    for x, y in zip(a, b):
        assert x.problem_ids == y.problem_ids and x.tokens == y.tokens and x.solved == y.solved
        assert x.loss == pytest.approx(y.loss, rel=1e-4, abs=1e-6)
    assert [r.model_dump() for r in full.read("eval", EvalRecord)] == [
        r.model_dump() for r in resumed.read("eval", EvalRecord)
    ]
