"""The retry filter: a WRONG first attempt never ends its chain, however high its graded score."""

import pytest

from formalpi.domains.math.domain import MathDomain
from formalpi.config import config_from_dict
from formalpi.engine.conditions import get_condition
from formalpi.engine.retry import build_examples
from formalpi.records import Attempt, Judged, Problem

PROBLEM = Problem(id="arith-33x3", domain="math", text="What is 33*3?", gold="99", level=3, split="train")
FIRST, RETRY = "33*3=109. \\boxed{109}", "33*3=99. \\boxed{99}"


def _chain(first: str, retry: str):
    attempts = [
        Attempt(
            id=f"{PROBLEM.id}|r0|s0|k0", problem_id=PROBLEM.id, sample=0, retry=0, prompt="p", completion=first, seed=1
        ),
        Attempt(
            id=f"{PROBLEM.id}|r0|s0|k1",
            problem_id=PROBLEM.id,
            sample=0,
            retry=1,
            prompt="p",
            completion=retry,
            pi="Your answer is incorrect. Try again.",
            seed=1,
        ),
    ]
    with MathDomain() as dom:  # the real verifier decides: WRONG with partial credit, then VALID
        verdicts = dom.verify_many([PROBLEM] * 2, [a.completion for a in attempts])
    judged = {a.id: Judged(attempt_id=a.id, problem_id=a.problem_id, verdict=v) for a, v in zip(attempts, verdicts)}
    return attempts, judged, verdicts


def _examples(attempts, judged, condition="try_again", **retry):
    cfg = config_from_dict({"name": "t", "retry": retry})
    with MathDomain() as dom:
        return build_examples(
            dom, get_condition(condition, "math"), attempts, judged, {PROBLEM.id: PROBLEM}, cfg, seed=1, round_=0
        )


def test_the_issue_case_gives_one_example_under_graded_as_under_binary():
    attempts, judged, verdicts = _chain(FIRST, RETRY)
    assert not verdicts[0].passed and verdicts[0].score == pytest.approx(0.899, abs=1e-3) and verdicts[1].passed
    binary = _examples(attempts, judged, filter="binary")
    graded = _examples(attempts, judged, filter="graded", threshold=0.5)
    print(f"issue case: binary {len(binary)} example(s), graded(0.5) {len(graded)} example(s)")
    assert len(binary) == len(graded) == 1
    assert graded[0].attempt_id.endswith("|k1") and graded[0].completion == RETRY


def test_graded_keeps_a_high_scoring_wrong_retry_and_drops_a_low_one():
    attempts, judged, _ = _chain("33*3=10. \\boxed{10}", FIRST)  # the RETRY is the 0.899 one here
    assert [len(_examples(attempts, judged, filter="graded", threshold=t)) for t in (0.5, 0.95)] == [1, 0]
    assert len(_examples(attempts, judged, filter="binary")) == 0


def test_a_first_attempt_that_passed_ends_the_chain_or_is_the_example():
    attempts, judged, _ = _chain(RETRY, RETRY)  # solved at once (its "retry" would be a duplicate)
    assert _examples(attempts, judged, filter="graded", threshold=0.5) == []
    kept = _examples(attempts, judged, "rejection", filter="graded", threshold=0.5)
    assert [e.attempt_id[-2:] for e in kept] == ["k0"]
