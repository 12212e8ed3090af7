"""The math domain: extraction, equivalence (math-verify in a pebble pool), grading, loaders, timeouts, cleanup."""

from __future__ import annotations

import json
import time

import psutil
import pytest

from formalpi.domains.math import domain as dm
from formalpi.domains.math.arith import arith_problems
from formalpi.domain import Domain
from formalpi.domains.math.domain import (
    BOX_INSTRUCTION,
    Check,
    MathDomain,
    MathSettings,
    MathVerifier,
    Outcome,
    extract_answer,
    grade,
    is_equivalent,
    load_math500,
)
from formalpi.domains.math.comparison import numeral, read_answer
from formalpi.domains.math.extraction import MAX_COMPLETION_CHARS, extract_boxes
from formalpi.errors import DataError
from formalpi.records import Problem, Status


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def slow_task(gold: str, predicted: str, strict: bool = True) -> Check:
    """Test-only pool target: a checker that sleeps for `predicted` seconds (simulates a sympy blow-up)."""
    time.sleep(float(predicted))
    return Check(Status.VALID, 1.0)


@pytest.fixture(scope="module", autouse=True)
def _close_default_verifier():
    yield
    dm.default_verifier().close()


@pytest.fixture(scope="module")
def verifier():
    with MathVerifier(timeout_s=10, workers=2) as v:
        yield v


# ---- extraction ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"so \boxed{5}.", "5"),
        (r"\boxed{\frac{1}{\sqrt{2}}}", r"\frac{1}{\sqrt{2}}"),  # nested braces
        (r"first \boxed{1} then \boxed{2}", "2"),  # the LAST box
        (r"\boxed{1} and finally \fbox{x+1}", "x+1"),
        (r"the answer is \boxed 5.", "5"),  # space form, sentence period dropped
        (r"$\boxed -3$ done", "-3"),
        (r"\boxed{\{1,2\}}", r"\{1,2\}"),  # escaped braces are content
        (r"\boxed{ \left( 3, \frac{\pi}{2} \right) }", r"\left( 3, \frac{\pi}{2} \right)"),
        (r"\boxed{\text{(C)}}", r"\text{(C)}"),
        (r"\boxed{1", None),  # unbalanced
        (r"\boxed{2} then \boxed{\frac{1}{2}", None),  # the last box is unbalanced: nothing is trusted
        (r"\boxed{}", None),  # empty box
        ("", None),
        (None, None),
        ("The answer is 5.", None),  # no box
        (r"\boxedfoo{5}", None),  # not the \boxed command
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_boxes_reads_what_renders():
    ex = extract_boxes("\\boxed{1} then \\boxed{2}, again \\boxed{1} % \\boxed{3}\n")
    assert ex.boxes == ("2", "1") and ex.answer == "1" and not ex.refused and not ex.missing  # last appearance last
    assert extract_boxes("\\def\\b{5}\\boxed{\\b}").refused
    assert extract_boxes("\\text{\\boxed{5}}").refused
    assert extract_boxes("no box").missing and extract_boxes("").missing
    assert extract_boxes("x" * (MAX_COMPLETION_CHARS + 1)).refused


def test_canonical_text_is_conservative():
    text = lambda s: read_answer(s).text  # noqa: E731
    assert text(r"\left( 3, \dfrac{\pi}{2} \right).") == text(r"(3,\frac{\pi}{2})")
    assert text(r"\alpha b") != text(r"\alphab")  # a space after a command is meaningful
    assert text(r"\leftarrow") == r"\leftarrow"  # only the \left command itself is dropped
    assert text(r"\frac12") == text(r"\frac 1 2") == text(r"\frac{1}{2}")  # TeX's one-token arguments
    assert text("3, 125") == "3, 125"  # math-verify must not see `3,125` (it reads that as 3125)
    nums = [numeral(read_answer(x, thousands=True)) for x in ["-12", "1,000", "1{,}000", " 7 ", "1,2", "12.0", "1 000"]]
    assert [n.value if n else None for n in nums] == [-12, 1000, 1000, 7, None, 12, None]


# ---- equivalence and grading ------------------------------------------------------------------------------------

EQUIVALENT = [
    ("5", "5"),
    ("5", "5.0"),
    ("1000", "1,000"),
    (r"\frac{1}{2}", "0.5"),
    (r"\frac{1}{2}", r"\dfrac{1}{2}"),
    (r"\frac12", r"\tfrac{1}{2}"),
    (r"2\sqrt{2}", r"\sqrt{8}"),
    (r"\frac{\sqrt{3}}{2}", r"\frac{1}{2}\sqrt{3}"),
    ("[1,3)", "[1, 3)"),
    (r"(-\infty, 3)", r"(-\infty,3)"),
    (r"(2,12) \cup (12,102)", r"(2,12)\cup(12,102)"),
    (r"\{1,2\}", r"\{2,1\}"),
    ("-2,1", "1,-2"),
    (r"30^\circ", "30"),
    (r"76^\circ", r"76^{\circ}"),
    (r"\text{Evelyn}", "Evelyn"),
    (r"\text{(C)}", "C"),
    ("x^2+1", "1+x^2"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \pi/2)"),
    (r"\begin{pmatrix} -1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}-1\\2\end{pmatrix}"),
    ("6+9i", "9i+6"),
    (r"32\%", "32"),
    (r"\$32", "32"),
]
NOT_EQUIVALENT = [
    ("5", "6"),
    (r"\frac{1}{2}", "0.4"),
    ("(1,3)", "[1,3)"),
    (r"\{1,2\}", r"\{1,3\}"),
    (r"2\sqrt{2}", r"\sqrt{2}"),
    (r"\text{Evelyn}", r"\text{Bob}"),
    (r"\pi", "3.14"),
    ("x^2+1", "x^2-1"),
    (r"30^\circ", "60"),
]


def test_equivalence_cases(verifier):
    pairs = EQUIVALENT + NOT_EQUIVALENT
    results = verifier.check_many(pairs)  # one batch through one pool
    got = [r.check.equivalent for r in results]
    assert all(r.outcome is Outcome.CHECKED for r in results)
    wrong = [
        (p, g) for p, g, want in zip(pairs, got, [True] * len(EQUIVALENT) + [False] * len(NOT_EQUIVALENT)) if g != want
    ]
    assert not wrong, f"misjudged: {wrong}"


def test_public_is_equivalent_and_grade():
    assert is_equivalent(r"\frac{1}{2}", "0.5")
    assert not is_equivalent("7", "8")
    assert not is_equivalent("7", None) and not is_equivalent("7", "  ")
    assert grade(r"2\sqrt{2}", r"\sqrt{8}") == 1.0


@pytest.mark.parametrize(
    "gold, predicted, expected",
    [
        ("12", "12", 1.0),
        ("10", "11", 0.9),  # 1 - 1/10
        ("100", "150", 0.5),  # 1 - 50/100
        ("100", "250", 0.0),  # clipped at 0
        ("10", "-10", 0.0),
        ("1000", "1001", 0.9),  # 1 - 0.001 = 0.999, capped: a wrong answer never nears 1
        ("0", "0.25", 0.75),  # |g| < 1: absolute error
        (r"\frac{1}{2}", "0.25", 0.75),  # numeric values through math-verify: 1 - 0.25/1
        (r"\sqrt{2}", "1", pytest.approx(1 - (2**0.5 - 1) / 2**0.5, abs=1e-9)),  # relative to |g| > 1
        (r"\{1,2\}", r"\{1,3\}", 0.0),  # non-numeric mismatch
        (r"\text{Evelyn}", r"\text{Bob}", 0.0),
        ("5", None, 0.0),
    ],
)
def test_grade_values(gold, predicted, expected):
    assert grade(gold, predicted) == expected


# ---- MATH-500 ---------------------------------------------------------------------------------------------------


def test_math500_loader_fields(shared):
    path = shared("data", "math500.jsonl")
    ps = load_math500(path)
    assert len(ps) == 500 and len({p.id for p in ps}) == 500
    first = json.loads(path.read_text().splitlines()[0])
    p = ps[0]
    assert (p.id, p.text, p.gold, p.level, p.domain, p.split) == (
        first["unique_id"],
        first["problem"],
        first["answer"],
        first["level"],
        "math",
        "test",
    )
    assert p.meta["subject"] == first["subject"] and p.meta["solution"] == first["solution"]
    assert sorted({q.level for q in ps}) == [1, 2, 3, 4, 5]
    assert [q.id for q in MathDomain().problems("math500", "test", path=str(path), limit=7)] == [q.id for q in ps[:7]]


def test_math500_gold_solutions_verify(shared):
    """Every `solution`'s last box is equivalent to `answer`: through the domain, and through math-verify alone."""
    ps = load_math500(shared("data", "math500.jsonl"))
    with MathDomain(MathSettings(timeout_s=10)) as d:
        verdicts = d.verify_many(ps, [p.meta["solution"] for p in ps])
    bad = [(p.id, p.gold, v.answer, v.status) for p, v in zip(ps, verdicts) if not v.passed]
    assert not bad, f"{len(bad)} gold solutions not verified: {bad[:10]}"
    assert all(v.score == 1.0 for v in verdicts)
    with MathVerifier(timeout_s=10, strict=False) as v:  # no strict reader: math-verify alone judges all 500
        results = v.check_many([(p.gold, extract_answer(p.meta["solution"])) for p in ps])
    bad = [(p.id, p.gold, r) for p, r in zip(ps, results) if not (r.check and r.check.equivalent)]
    assert not bad, f"{len(bad)} gold solutions rejected by math-verify: {bad[:10]}"


def test_math500_missing_file(tmp_path, monkeypatch):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DataError, match=r"nope\.jsonl.*formalpi data fetch math500"):
        MathDomain().problems("math500", "test", path=str(missing))
    monkeypatch.setenv("FORMALPI_DATA", str(tmp_path))  # default location: the data dir
    with pytest.raises(DataError) as e:
        MathDomain().problems("math500", "test")
    assert str(tmp_path / "math500.jsonl") in str(e.value) and "formalpi data fetch math500" in str(e.value)


def _row(i: int, **over) -> str:
    row = {
        "problem": f"What is {i}+{i}?",
        "solution": f"\\boxed{{{2 * i}}}",
        "answer": str(2 * i),
        "subject": "Algebra",
        "level": "Level 2",
        "unique_id": f"test/algebra/{i}.json",
    }
    row.update(over)
    return json.dumps(row)


def test_math500_malformed_line(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text("\n".join([_row(1), _row(2), '{"problem": "oops"', _row(4)]) + "\n")
    with pytest.raises(DataError, match=rf"{f}:3: not valid JSON"):
        load_math500(f)
    f.write_text(_row(1) + "\n" + json.dumps({"problem": "x", "answer": "1"}) + "\n")
    with pytest.raises(DataError, match=rf"{f}:2: missing field\(s\) solution, subject, level, unique_id"):
        load_math500(f)
    f.write_text(_row(1, level="hard") + "\n")
    with pytest.raises(DataError, match=rf"{f}:1: field 'level'"):
        load_math500(f)
    f.write_text(_row(1) + "\n\n" + _row(2) + "\n")  # blank lines are skipped; 'Level 2' is read as 2
    assert [p.level for p in load_math500(f)] == [2, 2]


def test_problems_bad_arguments():
    d = MathDomain()
    with pytest.raises(DataError, match="data.dataset.*arith, math500"):
        d.problems("gsm8k", "test")
    with pytest.raises(DataError, match="only a 'test' split"):
        d.problems("math500", "train")
    with pytest.raises(DataError, match="unknown split"):
        d.problems("arith", "dev")


# ---- arith ------------------------------------------------------------------------------------------------------


def test_arith_problems_deterministic_and_disjoint():
    d = MathDomain()
    a = d.problems("arith", "train", limit=50, seed=3)
    assert [p.model_dump() for p in a] == [p.model_dump() for p in d.problems("arith", "train", limit=50, seed=3)]
    assert [p.id for p in a] != [p.id for p in d.problems("arith", "train", limit=50, seed=4)] or [
        p.text for p in a
    ] != [p.text for p in d.problems("arith", "train", limit=50, seed=4)]
    train = {p.text for p in d.problems("arith", "train", limit=500)}
    test = {p.text for p in d.problems("arith", "test", limit=250)}
    assert len(train) == 500 and len(test) == 250 and not train & test


def test_arith_limit_spreads_over_levels():
    d = MathDomain()
    ps = d.problems("arith", "test", limit=12)
    assert len(ps) == 12
    assert [sum(p.level == lv for p in ps) for lv in range(1, 6)] == [3, 3, 2, 2, 2]
    big = d.problems("arith", "test", limit=20)
    assert {p.id for p in ps} <= {p.id for p in big}  # a smaller limit is a prefix, level by level
    assert len(d.problems("arith", "train")) == 500  # default: 100 per level (test has < 100 level-1 problems)
    assert [p.model_dump() for p in d.problems("arith", "test", limit=10)] == [
        p.model_dump() for p in arith_problems("test", 2)
    ]


def test_prompts():
    d = MathDomain()
    arith = d.problems("arith", "test", limit=1)[0]
    assert d.prompt(arith) == arith.text == f"What is {arith.meta['expr']}?"
    m = Problem(id="test/algebra/1.json", domain="math", text="Compute $1+1$.", gold="2")
    assert d.prompt(m) == "Compute $1+1$.\n\n" + BOX_INSTRUCTION
    assert BOX_INSTRUCTION == "Put the final answer in \\boxed{}."


def test_domain_protocol_and_signature():
    d = MathDomain()
    assert isinstance(d, Domain) and d.name == "math"
    assert d.signature("  a \n\n b\tc ") == "a b c"
    assert d.extract(r"x \boxed{3}") == "3"


# ---- verify_many ------------------------------------------------------------------------------------------------


def _p(gold: str, i: int = 0) -> Problem:
    return Problem(id=f"p{i}", domain="math", text="?", gold=gold)


def test_verify_many_mixed_batch():
    problems = [
        _p("12", 0),
        _p(r"\frac{1}{2}", 1),
        _p("12", 2),
        _p("12", 3),
        _p("12", 4),
        _p(r"\{1,2\}", 5),
        _p("12", 6),
    ]
    completions = [
        r"3*4=\boxed{12}",
        r"so \boxed{0.5}",
        r"\boxed{13}",
        "",
        "the answer is 12",
        r"\boxed{\{2, 1\}}",
        r"\boxed{12.0}",
    ]
    with MathDomain(MathSettings(timeout_s=10)) as d:
        vs = d.verify_many(problems, completions)
    assert [v.status for v in vs] == [
        Status.VALID,
        Status.VALID,
        Status.WRONG,
        Status.NO_ANSWER,
        Status.NO_ANSWER,
        Status.VALID,
        Status.VALID,
    ]
    assert [v.answer for v in vs] == ["12", "0.5", "13", None, None, r"\{2, 1\}", "12.0"]
    assert [v.score for v in vs] == [1.0, 1.0, 0.9, 0.0, 0.0, 1.0, 1.0]  # 1 - 1/12 capped
    assert vs[2].feedback == "Your answer 13 is incorrect." and d.failure_info(vs[2]) == vs[2].feedback
    assert vs[3].reason == "empty completion" and "boxed" in vs[4].reason
    assert "12" not in vs[2].feedback.replace("13", "")  # feedback never leaks the gold answer
    assert all("\n" not in v.reason for v in vs)


def test_verify_many_rejects_bad_input():
    d = MathDomain()
    with pytest.raises(DataError, match="problem p0: no gold answer"):
        d.verify_many([Problem(id="p0", domain="math", text="?")], [r"\boxed{1}"])
    with pytest.raises(ValueError, match="2 problems but 1 completions"):
        d.verify_many([_p("1"), _p("2")], [r"\boxed{1}"])


def test_integer_answers_are_decided_exactly_without_math_verify():
    ps = MathDomain().problems("arith", "test", limit=200)
    with MathDomain() as d:
        vs = d.verify_many(ps, [p.meta["solution"] for p in ps])
    assert all(v.passed for v in vs)
    assert all(v.reason == "equivalent to the gold answer (decided exactly)" for v in vs)


def test_math500_gold_against_itself(shared):
    """No false reject of a gold answer by the strict reader: every gold answer is VALID against itself."""
    ps = load_math500(shared("data", "math500.jsonl"))
    with MathVerifier(timeout_s=10) as v:
        rs = v.check_many([(p.gold, p.gold) for p in ps])
    bad = [
        (p.id, p.gold, r.outcome, r.check and r.check.reason)
        for p, r in zip(ps, rs)
        if not (r.check and r.check.equivalent)
    ]
    assert not bad, f"{len(bad)} gold answers rejected against themselves: {bad[:10]}"


# ---- timeouts and process hygiene -------------------------------------------------------------------------------


def test_timeout_from_pathological_input_then_pool_still_works():
    # The tower of powers never finishes, so it times out at any timeout; the timeout is generous so the
    # cheap check beside it passes even on a loaded machine (no wall-clock assertions here: pytest-timeout
    # catches a hang, bench/ measures speed).
    base = _children()
    with MathDomain(MathSettings(timeout_s=10.0, workers=2)) as d:
        # same form as the gold (a tower of powers), so the strict reader passes it on and sympy blows up
        vs = d.verify_many([_p("2^{3^{4^{5}}}"), _p(r"\frac{1}{2}")], [r"\boxed{9^{9^{9^{9}}}}", r"\boxed{0.5}"])
        assert vs[0].status is Status.TIMEOUT and vs[0].score == 0.0 and "10s" in vs[0].reason
        assert vs[1].status is Status.VALID  # the other task in the batch is unaffected
        after = d.verify_many([_p(r"2\sqrt{2}")], [r"\boxed{\sqrt{8}}"])  # pebble replaced the killed worker
        assert after[0].status is Status.VALID
    assert _children() == base


def test_timeout_from_injected_slow_task():
    with MathVerifier(timeout_s=0.5, workers=2, task=slow_task) as v:
        rs = v.check_many([("g", "5"), ("g", "0")])
        assert [r.outcome for r in rs] == [Outcome.TIMEOUT, Outcome.CHECKED]
        assert v.check_many([("g", "0.01")])[0].outcome is Outcome.CHECKED


def test_pool_is_lazy_reused_and_closed():
    base = _children()
    d = MathDomain(MathSettings(workers=2))
    assert d.verifier._pool is None and _children() == base  # nothing started at construction
    d.verify_many([_p(r"\frac{1}{2}")], [r"\boxed{0.5}"])
    workers = _children() - base
    assert 1 <= len(workers) <= 2
    d.verify_many([_p(r"\frac{1}{3}")], [r"\boxed{\frac{2}{6}}"])
    assert _children() - base == workers  # same worker processes: the pool is reused
    d.close()
    assert _children() == base
    d.close()  # idempotent
    assert d.verify(_p(r"\frac{1}{2}"), r"\boxed{0.5}").passed  # usable again after close (a fresh pool)
    d.close()
    assert _children() == base


def test_exit_without_close_leaves_no_workers():
    """Workers never outlive a program that forgot close() (our atexit hook; pebble workers are daemonic too)."""
    import subprocess
    import sys

    code = (
        "import psutil; from formalpi.domains.math.domain import is_equivalent; "
        "assert is_equivalent(r'\\frac12', '0.5'); "
        "print(' '.join(str(p.pid) for p in psutil.Process().children(recursive=True)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(dm.Path(dm.__file__).resolve().parents[3]),
    )  # the checkout's root
    assert out.returncode == 0, out.stderr[-2000:]
    pids = [int(x) for x in out.stdout.split()]
    assert pids, "the check should have started pool workers"
    deadline = time.monotonic() + 5
    while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if psutil.pid_exists(p)]
