"""The built-in tiny model: reproducible from its seed, shipped weights match the default spec, its pretraining
never shows the experiments' PI texts, and the shipped model reads an answer shown in feedback."""

import random

import torch

from formalpi.tiny import (
    CLOSINGS,
    MIX,
    OPENINGS,
    REASK,
    SHIPPED,
    STATEMENTS,
    TinySpec,
    build_tokenizer,
    episode,
    ensure_tiny_model,
    reduce_once,
    shipped_path,
    train_tiny,
    wrong_solution,
)


def test_training_is_reproducible_from_the_seed(tmp_path):
    spec = TinySpec(steps=3, train_per_level=20)
    a = train_tiny(spec, tmp_path / "a")
    b = train_tiny(spec, tmp_path / "b")
    from safetensors.torch import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_shipped_weights_are_the_default_spec_and_small():
    assert shipped_path(TinySpec()) == SHIPPED == ensure_tiny_model()
    assert shipped_path(TinySpec(steps=1)) is None  # another spec never gets the shipped weights
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) < 2 * 2**20


def test_tokenizer_is_character_level_with_chatml_template():
    tok = build_tokenizer()
    ids = tok("What is 12*3?", add_special_tokens=False)["input_ids"]
    assert len(ids) == len("What is 12*3?") and tok.decode(ids) == "What is 12*3?"
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert len(tok(text, add_special_tokens=False)["input_ids"]) == 1 + 5 + 2 + 1 + 1 + 1 + 10


def _condition_sentences() -> set[str]:
    """Every sentence of every math condition's PI text, for a sample problem (the texts the experiments show)."""
    from formalpi.domains.math.arith import arith_problems
    from formalpi.pi_condition import PIContext
    from formalpi.engine.conditions import available_conditions
    from formalpi.records import Attempt, Status, Verdict

    problems = arith_problems("train", 5)
    out = set()
    for cond in list(available_conditions("math").values()):
        if cond.pi is None or "math" not in cond.domains or cond.needs:
            continue
        for p in problems:
            a = Attempt(id=f"{p.id}|r0|s0|k0", problem_id=p.id, prompt=p.text, completion="\\boxed{0}")
            text = cond.pi(
                PIContext(problem=p, attempt=a, verdict=Verdict(status=Status.WRONG), seed=0, problems=problems)
            )
            # the sentences that are the condition's wording, not the problem's numbers
            out |= {
                s.strip()
                for s in (text or "").replace("\n", " ").split(". ")
                if s.strip() and not any(ch.isdigit() for ch in s)
            }
    return out


def test_pretraining_never_shows_a_condition_text_verbatim():
    sentences = _condition_sentences()
    assert {"Your answer is incorrect", "Try again."} <= sentences  # the check sees the real texts
    tok = build_tokenizer()
    from formalpi.domains.math.arith import arith_problems

    problems = arith_problems("train", 20, seed=1000)
    rng = random.Random(0)
    texts = [tok.decode(episode(tok, kind, p, "17", rng)[0]) for kind, _ in MIX for p in problems]
    texts += [
        " ".join(x for x in (o, st.format(n="17"), c) if x)
        for o in OPENINGS
        for st in STATEMENTS + ("",)
        for c in CLOSINGS
    ] + list(REASK)  # every wording the composer can produce
    for s in sentences:
        assert not any(s.rstrip(".") in t for t in texts), s
    for phrase in ("correct answer is", "Hint:", "XYZZY"):
        assert not any(phrase in t for t in texts), phrase


def test_episode_kinds_carry_what_they_say():
    tok = build_tokenizer()
    from formalpi.domains.math.arith import arith_problems

    p = arith_problems("train", 1, seed=1000, levels=(4,))[0]
    rng = random.Random(1)
    assert abs(sum(w for _, w in MIX) - 1) < 1e-9
    for kind, _ in MIX:
        ids, start = episode(tok, kind, p, "12345", rng)
        prompt, target = tok.decode(ids[:start]), tok.decode(ids[start:])
        assert target == p.meta["solution"] + "<|im_end|>"  # every kind's target is the correct solution
        assert prompt.count("<|im_start|>user") == (1 if kind == "plain" else 2)
        assert ("12345" in prompt) == (kind == "unrelated")
        feedback = prompt.rsplit("<|im_start|>user\n", 1)[-1]
        assert (p.gold in feedback.split("<|im_end|>")[0]) == (
            kind in ("answer", "reask") and (kind == "answer" or p.gold in p.text)
        )


def test_reduce_once_is_arith_own_worked_solution():
    from formalpi.domains.math.arith import arith_problems

    for p in arith_problems("train", 300, seed=1000):
        chain = p.meta["solution"].split(". \\boxed")[0].split("=")
        assert [reduce_once(a) for a in chain[:-1]] == chain[1:], p.meta["solution"]


def test_a_wrong_attempt_slips_at_any_step_and_computes_on_from_the_slip():
    """A failed attempt is wrong where it slipped, not only at its end: over level-5 problems (three steps) slips
    land on every step, the steps before the slip are the correct ones, every step after it is computed correctly
    from the one before, and the boxed answer is the chain's last value and not the gold."""
    from formalpi.domains.math.arith import arith_problems

    rng = random.Random(3)
    slip_steps = set()
    for p in arith_problems("train", 200, seed=1000, levels=(5,)):
        right = p.meta["solution"].split(". \\boxed")[0].split("=")
        wrong_text = wrong_solution(p.meta["solution"], p.gold, rng)
        body, boxed = wrong_text.split(". \\boxed")
        wrong = body.split("=")
        assert (
            len(wrong) == len(right) and wrong[0] == right[0] and boxed == "{" + wrong[-1] + "}" != "{" + p.gold + "}"
        )
        at = next(k for k in range(1, len(right)) if wrong[k] != right[k])
        assert wrong[at] != reduce_once(wrong[at - 1])  # the slip
        assert all(wrong[k] == reduce_once(wrong[k - 1]) for k in range(at + 1, len(wrong)))
        assert "--" not in body and "+-" not in body
        slip_steps.add(at)
    assert slip_steps == {1, 2, 3}


def test_shipped_model_reads_an_answer_shown_in_feedback():
    """The criterion of a faithful miniature (docs/demo.md): on hard problems (level 5, where the model alone is
    mostly wrong), shown the true answer in the gold condition's wording it mostly writes it; shown another
    problem's answer it writes that far less often (it weighs the claim against its computation)."""
    from formalpi.demo import copy_probe

    (l5,) = copy_probe(str(ensure_tiny_model()), levels=(5,), per_level=40)
    assert l5.problems >= 35
    assert l5.gold_copy >= 0.6, l5
    assert l5.other_copy < l5.gold_copy - 0.2, l5


def test_the_model_after_s_steps_does_not_depend_on_the_total_budget(tmp_path):
    """Constant learning rate after warm-up and per-step data draws: the shipped step-S checkpoint of a longer
    run is what `TinySpec(steps=S)` trains."""
    short = train_tiny(TinySpec(steps=2, train_per_level=10), tmp_path / "short")
    seen = {}

    def grab(step, model, _tok):
        if step == 2:
            seen.update({k: v.detach().clone() for k, v in model.state_dict().items()})

    train_tiny(TinySpec(steps=3, train_per_level=10), tmp_path / "long", on_checkpoint=grab)
    from safetensors.torch import load_file

    w = load_file(short / "model.safetensors")
    assert all(torch.equal(w[k], seen[k]) for k in w)


def test_a_padded_tokenizer_reads_its_decoded_text_back_to_the_same_ids():
    """The random-weight bench models' tokenizer (fillers up to a real vocabulary): a sampled completion shown again
    in a teacher's context keeps its length, as with a real tokenizer (each filler was re-read as 4-6 characters)."""
    import random

    tok = build_tokenizer(vocab_size=2_000)
    special = set(tok.all_special_ids)
    rng = random.Random(0)
    ids = [i for i in (rng.randrange(2_000) for _ in range(500)) if i not in special]
    assert tok(tok.decode(ids), add_special_tokens=False)["input_ids"] == ids
