"""The further conditions and matched controls: the exact text the model sees for a fixed problem, attempt and seed;
the control flags; and how the retry pipeline honours them (frontier filter, fresh context, temperatures)."""

import json

import pytest

from formalpi.config import config_from_dict
from formalpi.pi_condition import PIContext, first_step_of
from formalpi.engine.conditions import REGISTRY, available_conditions, condition_turns, get_condition, load_cross_model
from formalpi.engine.retry import build_examples, frontier_problems
from formalpi.engine.experiment import condition_extras, with_verified_proofs
from formalpi.errors import ConfigError, DataError
from formalpi.records import Attempt, Judged, Problem, Status, Verdict

ARITH = Problem(
    id="arith-train-L4-0001",
    domain="math",
    text="What is 9+16*8?",
    gold="137",
    level=4,
    meta={"solution": "9+16*8=9+128=137. \\boxed{137}", "expr": "9+16*8"},
)
OTHER = Problem(
    id="arith-train-L1-0002",
    domain="math",
    text="What is 11+25?",
    gold="36",
    level=1,
    meta={"solution": "11+25=36. \\boxed{36}"},
)
ATTEMPT = Attempt(
    id="arith-train-L4-0001|r0|s0|k0",
    problem_id=ARITH.id,
    prompt="What is 9+16*8?",
    completion="9+16*8=25*8=200. \\boxed{200}",
)
VERDICT = Verdict(status=Status.WRONG, answer="200")
CROSS = {ARITH.id: {"hint": "Multiply before you add.", "solution": "16*8=128, 9+128=137. \\boxed{137}"}}


def ctx(problem: Problem = ARITH, extras: dict | None = None, seed: int = 42) -> PIContext:
    return PIContext(
        problem=problem, attempt=ATTEMPT, verdict=VERDICT, seed=seed, problems=[ARITH, OTHER], extras=extras or {}
    )


def test_first_step_hint_shows_the_first_reduction():
    assert (
        get_condition("first_step", "math").pi(ctx())
        == "Your answer is incorrect. Hint: the first step is 9+16*8=9+128. Try again."
    )
    # a one-operation chain: its only step would be the answer; a place-value split is shown instead
    assert (
        get_condition("first_step", "math").pi(ctx(OTHER))
        == "Your answer is incorrect. Hint: the first step is 11+25=11+20+5. Try again."
    )
    no_solution = ARITH.model_copy(update={"meta": {}})
    assert get_condition("first_step", "math").pi(ctx(no_solution)) is None


def test_the_first_step_hint_never_contains_the_answer():
    from formalpi.domains.math.domain import arith_subset

    hint = get_condition("first_step", "math").pi
    shown = withheld = 0
    for p in arith_subset("train", None) + arith_subset("test", None):  # 1,000 problems, levels 1-5
        text = hint(ctx(p))
        if text is None:
            withheld += 1
            continue
        shown += 1
        step = text.removeprefix("Your answer is incorrect. Hint: the first step is ").removesuffix(". Try again.")
        assert step.split("=")[0] == p.meta["expr"] and p.gold not in step.split("="), (p.id, step)
    assert shown > 900 and shown + withheld == 1000
    for sol, gold in [("33*3=99. \\boxed{99}", "99"), ("81*9=729. \\boxed{729}", "729"), ("2+3=5. \\boxed{5}", "5")]:
        p = OTHER.model_copy(update={"gold": gold, "meta": {"solution": sol}})
        assert hint(ctx(p)) is None or gold not in hint(ctx(p)).split("is ", 1)[1].replace("=", " ").split()
    # a MATH first sentence that states the answer is withheld too
    math = OTHER.model_copy(
        update={"gold": "3", "meta": {"solution": "We have $r = \\sqrt{9} = 3$.  So $\\boxed{3}$."}}
    )
    assert hint(ctx(math)) is None


def test_first_step_of_a_math_solution_is_its_first_sentence():
    sol = "We have that $r = \\sqrt{0^2 + 3^2} = 3.$  Also, the angle is $\\frac{\\pi}{2}$. So $\\boxed{3}$."
    assert first_step_of(sol) == "We have that $r = \\sqrt{0^2 + 3^2} = 3.$"
    assert first_step_of("First factor $196=2^2\\cdot7^2$.  Then count.") == "First factor $196=2^2\\cdot7^2$"
    assert first_step_of("\\boxed{5}") is None


def test_first_step_of_a_thinking_solution_is_read_after_the_think_block():
    # a Qwen3 thinking completion (the cross-model hint's source): the hint is the answer's first step, not "<think>"
    sol = (
        "<think>\nOkay, so I need the radius. Let me compute sqrt(0+9).\n</think>\n\n"
        "We have that $r = \\sqrt{0^2 + 3^2} = 3.$  So $\\boxed{3}$."
    )
    assert first_step_of(sol) == "We have that $r = \\sqrt{0^2 + 3^2} = 3.$"
    assert first_step_of("<think>\nstill thinking when the budget ran out") is None  # no answer part: no step
    assert first_step_of("<think></think>\n2*3=6=6. \\boxed{6}") == "2*3=6"


def test_cross_model_hint_and_retry():
    c = ctx(extras={"cross_model": CROSS})
    assert (
        get_condition("cross_model_hint").pi(c) == "Your answer is incorrect. Hint: Multiply before you add. Try again."
    )
    assert get_condition("cross_model_retry").pi(c) == (
        "Your answer is incorrect. Here is another model's solution:\n16*8=128, 9+128=137. \\boxed{137}\nTry again."
    )
    # a problem the other model has nothing for is not retried
    assert get_condition("cross_model_hint").pi(ctx(OTHER, {"cross_model": CROSS})) is None
    with pytest.raises(ConfigError, match=r"extras\['cross_model'\] is not set"):
        get_condition("cross_model_retry").pi(ctx())


def test_load_cross_model_reads_and_rejects_with_file_and_line(tmp_path):
    p = tmp_path / "other.jsonl"
    p.write_text(
        json.dumps({"problem_id": "a", "hint": "h"}) + "\n\n" + json.dumps({"problem_id": "a", "solution": "s"}) + "\n"
    )
    assert load_cross_model(p) == {"a": {"hint": "h", "solution": "s"}}
    p.write_text('{"problem_id": "a"}\n')
    with pytest.raises(DataError, match=r"other.jsonl:1: needs string field"):
        load_cross_model(p)
    p.write_text('{"hint": "x"}\n')
    with pytest.raises(DataError, match=r"other.jsonl:1: needs a string field \"problem_id\""):
        load_cross_model(p)
    with pytest.raises(DataError, match="no such file"):
        load_cross_model(tmp_path / "nope.jsonl")


def test_answer_only_has_no_failure_bit():
    assert get_condition("answer_only", "math").pi(ctx()) == "The correct answer is 137."


def test_control_flags():
    seed_double = get_condition("double_sample")  # the seed's control: 16 independent samples, no retry
    assert seed_double.pi is None and seed_double.first_attempts and seed_double.first_attempt_samples(4) == 16
    double = get_condition("double_sample_matched")  # budget-matched: one fresh sample per failure
    assert double.pi is not None and double.fresh_context and not double.first_attempts
    assert double.first_attempt_samples(4) == 4 and double.pi(ctx()) == ""
    # the second sample is drawn from the problem alone: no failed attempt, no PI in its context
    assert condition_turns(double, "What is 9+16*8?", ATTEMPT, "") == [("user", "What is 9+16*8?")]
    assert condition_turns(get_condition("try_again"), "Q", ATTEMPT, "X") == [
        ("user", "Q"),
        ("assistant", ATTEMPT.completion),
        ("user", "X"),
    ]
    cm = get_condition("compute_matched")
    assert cm.pi is None and cm.first_attempts and cm.first_attempt_samples(4) == 8
    tu = get_condition("temp_uniform")
    assert tu.pi is None and tu.first_attempt_samples(4) == 8
    assert tu.temperatures(8) == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]
    fr = get_condition("frontier_rejection")
    assert fr.pi is None and fr.frontier_only and fr.first_attempt_samples(4) == 16
    assert (
        get_condition("try_again").first_attempt_samples(4) == 4 and get_condition("try_again").temperatures(4) is None
    )
    assert get_condition("cross_model_hint").needs == {"cross_model"}


def test_every_registered_condition_says_what_the_model_sees():
    for name in (
        "gibberish",
        "try_again",
        "cross_model_hint",
        "cross_model_retry",
        "double_sample",
        "double_sample_matched",
        "compute_matched",
        "temp_uniform",
        "frontier_rejection",
        "rejection",
    ):
        assert name in REGISTRY, name  # the generic ones
    by_domain = {d: available_conditions(d) for d in ("math", "code", "lean")}
    for name in ("gold", "wrong", "first_step", "answer_only"):
        assert name in by_domain["math"] and name not in REGISTRY, name  # math's come from MathDomain.conditions()
        assert name not in by_domain["code"] and name not in by_domain["lean"], name
    for name in ("skeleton", "skeleton+retry", "typechecker", "diagnosis"):
        assert name in by_domain["lean"] and name not in REGISTRY, name  # Lean's come from LeanDomain.conditions()
    for name in ("test_suite", "shuffled_test_suite"):
        assert name in by_domain["code"] and name not in REGISTRY, name
    for conds in by_domain.values():
        for cond in conds.values():
            assert len(cond.description) > 10, cond.name


def test_domain_conditions_come_through_the_domain_adapter():
    from formalpi.domain import open_domain

    with pytest.raises(ConfigError, match="unknown condition 'test_suite' for domain 'math'"):
        get_condition("test_suite", "math")
    dom = open_domain("code")  # a Domain object works as well as its name
    assert get_condition("test_suite", dom) is get_condition("test_suite", "code")


def _judged(a: Attempt, ok: bool) -> Judged:
    return Judged(
        attempt_id=a.id,
        problem_id=a.problem_id,
        verdict=Verdict(
            status=Status.VALID if ok else Status.WRONG, score=1.0 if ok else 0.0, answer="proof" + a.id if ok else None
        ),
    )


def _first(pid: str, j: int) -> Attempt:
    return Attempt(id=f"{pid}|r0|s{j}|k0", problem_id=pid, sample=j, prompt="p", completion=f"c{pid}{j}")


class _Domain:
    def prompt(self, p: Problem) -> str:
        return p.text


def test_frontier_rejection_trains_only_on_problems_solved_sometimes():
    probs = {pid: Problem(id=pid, domain="math", text=f"Q {pid}", gold="1") for pid in ("all", "none", "some")}
    outcome = {"all": [True] * 4, "none": [False] * 4, "some": [True, False, False, True]}
    attempts = [_first(pid, j) for pid in outcome for j in range(4)]
    judged = {a.id: _judged(a, outcome[a.problem_id][a.sample]) for a in attempts}
    assert frontier_problems(attempts, judged, 0) == {"some"}
    cfg = config_from_dict({"name": "x"})
    ex = build_examples(_Domain(), get_condition("frontier_rejection"), attempts, judged, probs, cfg, 1, 0)
    assert sorted(e.attempt_id for e in ex) == ["some|r0|s0|k0", "some|r0|s3|k0"]
    ex = build_examples(_Domain(), get_condition("rejection"), attempts, judged, probs, cfg, 1, 0)
    assert len(ex) == 6  # plain rejection sampling keeps the saturated problem's samples too


def test_condition_extras_load_the_cross_model_file(tmp_path, monkeypatch):
    p = tmp_path / "cross.jsonl"
    p.write_text(json.dumps({"problem_id": ARITH.id, "hint": "h"}) + "\n")
    cfg = config_from_dict({"name": "x", "condition": "cross_model_hint"})
    monkeypatch.setenv("FORMALPI_CROSS_MODEL", str(p))
    assert condition_extras(cfg, get_condition("cross_model_hint"), {})["cross_model"] == {ARITH.id: {"hint": "h"}}
    given = {"cross_model": CROSS}
    assert condition_extras(cfg, get_condition("cross_model_hint"), given)["cross_model"] is CROSS
    monkeypatch.delenv("FORMALPI_CROSS_MODEL")
    monkeypatch.setenv("FORMALPI_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="cross_model_arith.jsonl"):
        condition_extras(cfg, get_condition("cross_model_hint"), {})


def test_verified_proofs_of_the_round_become_reference_proofs():
    a, b = _first("p", 0), _first("p", 1)
    out = with_verified_proofs({"reference_proofs": {"p": ["corpus proof"]}}, [_judged(a, True), _judged(b, False)])
    assert out["reference_proofs"] == {"p": ["corpus proof", "proof" + a.id]}
