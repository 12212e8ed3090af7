"""The math checker against a hostile corpus (tests/math_attacks.toml) and its attack classes.

Every test here goes through the public API (`MathDomain.verify_many`, `grade`, `Status`), which the checker
before the strict reader had too, and each one fails on that checker: it accepts hedges and hidden boxes, reads
lists as numbers, rejects `3 < \\lambda \\le 4` for `(3,4]`, raises on big integers (losing the batch) and runs its fast path outside
the hard timeout.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from formalpi.domains.math import domain as dm
from formalpi.domains.math.domain import MathDomain, MathSettings, grade
from formalpi.records import Problem, Status

CORPUS = Path(__file__).with_name("math_attacks.toml")
CASES = tomllib.loads(CORPUS.read_text(encoding="utf-8"))["case"]
CLASSES = sorted({c["class"] for c in CASES})


def _p(gold: str, i: int = 0) -> Problem:
    return Problem(id=f"attack-{i}", domain="math", text="?", gold=gold)


@pytest.fixture(scope="module", autouse=True)
def _close_default_verifier():
    yield
    dm.default_verifier().close()


@pytest.fixture(scope="module")
def verdicts():
    """The whole corpus in one batch through one pool."""
    with MathDomain(MathSettings(timeout_s=10)) as d:
        return d.verify_many([_p(c["gold"], i) for i, c in enumerate(CASES)], [c["text"] for c in CASES])


def _matches(expect: str, status: Status) -> bool:
    return status is not Status.VALID if expect == "not_valid" else status.value == expect


def test_corpus_shape():
    attacks = [c for c in CASES if not c["class"].endswith("_guard")]
    assert len(attacks) >= 50, f"the hostile corpus has only {len(attacks)} attack pairs"
    assert all(c["expect"] != "valid" for c in attacks), "an attack labelled valid belongs in a *_guard class"
    assert {c["expect"] for c in CASES} <= {"valid", "wrong", "rejected", "no_answer", "not_valid"}


def test_zero_false_accepts_zero_crashes(verdicts):
    """No attack is VALID, nothing times out or crashes, and no refused answer earns partial credit."""
    accepted = [
        (c["class"], c["gold"], c["text"]) for c, v in zip(CASES, verdicts) if v.passed and c["expect"] != "valid"
    ]
    assert not accepted, f"false accepts: {accepted}"
    broken = [
        (c["text"], v.status, v.reason) for c, v in zip(CASES, verdicts) if v.status in (Status.TIMEOUT, Status.CRASH)
    ]
    assert not broken, f"checks that did not finish: {broken}"
    assert all(v.score == 0.0 for v in verdicts if v.status is Status.REJECTED)


@pytest.mark.parametrize("cls", CLASSES)
def test_attack_class(cls):
    """Each class in its own batch, so that it stands or falls on its own cases."""
    cases = [c for c in CASES if c["class"] == cls]
    with MathDomain(MathSettings(timeout_s=10)) as d:
        vs = d.verify_many([_p(c["gold"], i) for i, c in enumerate(cases)], [c["text"] for c in cases])
    wrong = [
        (c["gold"], c["text"], c["expect"], v.status.value, v.reason)
        for c, v in zip(cases, vs)
        if not _matches(c["expect"], v.status)
    ]
    assert not wrong, f"class {cls}: {len(wrong)} misjudged: {wrong}"


# ---- grading is not fooled by the same hedges ------------------------------------------------------------------


@pytest.mark.parametrize(
    "gold, hedge",
    [
        ("5", r"4 \lor 5"),
        ("100", r"1, 2, \ldots, 100"),
        ("5", "3 = 5"),
        ("9", r"4 \quad 5"),
        ("5", r"5 \vee 6"),
        ("5", r"5 \text{ or more}"),
        ("(a+5)(b+2)", "ab+5b+2a+10"),
        ("3, 125", "3125"),
        ("58500", "58, 500"),
        ("4495", r"\binom{31}{28}"),
    ],
)
def test_grade_gives_hedges_nothing(gold, hedge):
    assert grade(gold, hedge) == 0.0


def test_grade_of_honest_answers():
    assert grade("(3,4]", r"3 < \lambda \le 4") == 1.0
    assert grade("5", "x = 5") == 1.0
    assert grade("10", "11") == 0.9


# ---- big numbers: exact up to the size cap, and one bad pair never loses the batch ----------------------------

BIG = "1" + "0" * 400
HUGE = "7" * 5000


def test_big_integers_compared_exactly():
    problems = [_p(HUGE, 0), _p(HUGE, 1), _p("5", 2), _p(BIG, 3), _p(BIG, 4), _p("5", 5)]
    completions = [
        rf"\boxed{{{HUGE}}}",
        rf"\boxed{{{HUGE[:-1]}8}}",
        rf"\boxed{{{HUGE}}}",
        rf"\boxed{{{BIG}}}",
        rf"\boxed{{{BIG[:-1]}1}}",
        rf"\boxed{{{BIG}}}",
    ]
    with MathDomain(MathSettings(timeout_s=10)) as d:
        vs = d.verify_many(problems, completions)
    assert [v.status for v in vs] == [
        Status.VALID,
        Status.WRONG,
        Status.WRONG,
        Status.VALID,
        Status.WRONG,
        Status.WRONG,
    ]
    assert vs[4].score == 0.9  # 1 - 1e-400, capped: exact arithmetic, no OverflowError
    assert vs[5].score == 0.0


def test_one_bad_pair_gets_its_own_verdict(monkeypatch):
    """Malformed, oversized, non-text and checker-crashing inputs each get a typed verdict; the rest are judged."""
    problems = [_p("5", i) for i in range(8)]
    completions = [
        r"\boxed{5}",
        rf"\boxed{{{HUGE}}}",
        None,
        12345,
        "x" * 300_000,
        r"\boxed{\frac{1}{}",
        r"\boxed{" + "{" * 5000 + "5" + "}" * 5000 + "}",
        r"\boxed{5}",
    ]
    with MathDomain(MathSettings(timeout_s=10)) as d:
        vs = d.verify_many(problems, completions)
    assert vs[0].passed and vs[-1].passed
    assert all(isinstance(v.status, Status) and v.reason for v in vs[1:-1])
    assert not any(v.passed for v in vs[1:-1])
    assert all(v.status not in (Status.TIMEOUT, Status.CRASH) for v in vs)


def _crash_on_seven(gold, completion, strict=True):
    if "7" in completion:
        raise ValueError("checker bug on this input")
    return dm.check_completion_in_worker(gold, completion, strict)


def test_a_crashing_check_loses_only_its_own_pair():
    with MathDomain(MathSettings(timeout_s=10)) as d:
        d.verifier.completion_task = _crash_on_seven
        vs = d.verify_many([_p("5"), _p("7"), _p("5")], [r"\boxed{5}", r"\boxed{7}", r"\boxed{4}"])
    assert [v.status for v in vs] == [Status.VALID, Status.CRASH, Status.WRONG]
    assert "ValueError" in vs[1].reason


# ---- every check, the strict reader and extraction included, runs under the hard timeout ----------------------


def _slow(*args, **kwargs):
    import time

    time.sleep(30)


def test_the_reader_runs_under_the_hard_timeout(monkeypatch):
    """A reader that takes too long (whatever the cause) is cut off by the pool's hard timeout: TIMEOUT, not a hang.

    Patched in this process before the pool forks, so the workers inherit the slow reader.
    """
    for name in ("extract_boxes", "extract_answer", "fast_check"):
        monkeypatch.setattr(dm, name, _slow, raising=False)
    with MathDomain(MathSettings(timeout_s=1.0)) as d:
        vs = d.verify_many([_p("5")], [r"\boxed{5}"])
    assert vs[0].status is Status.TIMEOUT


ADVERSARIAL = {  # 40 KB inputs aimed at each scanner and regex of the reader
    "open braces": r"\boxed{" + "{" * 40_000,
    "many boxes": r"\boxed{1}" * 4_000,
    "space-form box": r"\boxed " + "9" * 40_000,
    "thousands": r"\boxed{" + "1," * 4_990 + "1}",
    "thin-space digits": r"\boxed{" + "1\\," * 3_000 + "1}",
    "comments": "%" * 40_000 + "\n\\boxed{5}",
    "backslashes": "\\" * 40_001,
    "iffalse": r"\iffalse " * 5_000 + r"\boxed{5}",
    "begin": r"\begin{" + "a" * 40_000,
    "verb": r"\verb" + "|" * 40_000,
    "fracs": r"\boxed{" + r"\frac" * 1_900 + "}",
    "powers": r"\boxed{" + "x^" * 4_900 + "x}",
    "spaces": r"\boxed{5" + " " * 9_000 + "}",
    "text": r"\boxed{" + r"\text{a}" * 1_200 + "}",
    "relations": r"\boxed{" + "1<" * 4_900 + "x}",
}


def test_adversarial_inputs_get_typed_verdicts():
    names = list(ADVERSARIAL)
    with MathDomain(MathSettings(timeout_s=10)) as d:
        vs = d.verify_many([_p("6", i) for i in range(len(names))], [ADVERSARIAL[n] for n in names])
    bad = [(n, v.status, v.reason) for n, v in zip(names, vs) if v.passed or v.status in (Status.TIMEOUT, Status.CRASH)]
    assert not bad, bad
