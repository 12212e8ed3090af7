"""Each condition: the exact text the model sees for a fixed problem, attempt and seed."""

import pytest

from formalpi.pi_condition import PIContext

from formalpi.engine.conditions import get_condition, retry_turns
from formalpi.errors import ConfigError
from formalpi.records import Attempt, Problem, Status, Verdict

PROBLEMS = [Problem(id=f"p{i}", domain="math", text=f"What is {i}+{i}?", gold=str(2 * i), level=1) for i in range(1, 6)]
ATTEMPT = Attempt(id="p3|r0|s0|k0", problem_id="p3", prompt="What is 3+3?", completion="3+3=5. \\boxed{5}")
VERDICT = Verdict(status=Status.WRONG, answer="5")


def ctx(seed: int = 42) -> PIContext:
    return PIContext(problem=PROBLEMS[2], attempt=ATTEMPT, verdict=VERDICT, seed=seed, problems=PROBLEMS)


def test_gold():
    assert get_condition("gold", "math").pi(ctx()) == "Your answer is incorrect. The correct answer is 6. Try again."


def test_gibberish():
    assert get_condition("gibberish").pi(ctx()) == "Your answer is incorrect. Hint: XYZZY. Try again."


def test_try_again():
    assert get_condition("try_again").pi(ctx()) == "Your answer is incorrect. Try again."


def test_wrong_is_another_problems_gold_fixed_by_seed():
    text = get_condition("wrong", "math").pi(ctx(42))
    assert text == get_condition("wrong", "math").pi(ctx(42))  # same seed, same text
    assert text.startswith("Your answer is incorrect. The correct answer is ") and text.endswith(". Try again.")
    shown = text.removeprefix("Your answer is incorrect. The correct answer is ").removesuffix(". Try again.")
    assert shown != "6" and shown in {p.gold for p in PROBLEMS}
    assert shown == "8"  # the seeded derangement for seed 42 pairs p3 with p4
    # across seeds the pairing changes for some problem
    texts = {
        get_condition("wrong", "math").pi(
            PIContext(problem=p, attempt=ATTEMPT, verdict=VERDICT, seed=s, problems=PROBLEMS)
        )
        for p in PROBLEMS
        for s in (1, 2, 3)
    }
    assert len(texts) > 1


def test_rejection_never_retries_and_trains_on_first_attempts():
    cond = get_condition("rejection")
    assert cond.pi is None and cond.first_attempts


def test_unknown_condition_and_wrong_domain():
    with pytest.raises(ConfigError, match="unknown condition 'goldd'"):
        get_condition("goldd")
    with pytest.raises(ConfigError, match="unknown condition 'gold' for domain 'lean'"):
        get_condition("gold", "lean")  # math's own condition: Lean does not define it


def test_retry_turns_show_the_failed_attempt_then_the_pi():
    turns = retry_turns("What is 3+3?", ATTEMPT, "Your answer is incorrect. Try again.")
    assert turns == [
        ("user", "What is 3+3?"),
        ("assistant", "3+3=5. \\boxed{5}"),
        ("user", "Your answer is incorrect. Try again."),
    ]
