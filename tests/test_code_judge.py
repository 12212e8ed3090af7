"""The trusted side (domains/code_judge.py): tests run here against proxies; calls sent ahead keep test order."""

from __future__ import annotations

import pytest

from domains.code import judge_spec
from domains.code_judge import JudgeSpec, judge, prefetch_plan
from domains.code_sandbox import Limits, Sandbox
from formalpi.records import Problem
from tests.conftest import skip_unless_full_sandbox

LIM = Limits(timeout_s=5.0, memory_mb=512)


@pytest.fixture(scope="module")
def sb():
    skip_unless_full_sandbox()
    with Sandbox(LIM) as s:
        yield s


def he(name: str, check_body: str, prompt_extra: str = "") -> Problem:
    body = "".join("    " + ln + "\n" for ln in check_body.strip("\n").splitlines())
    return Problem(id=f"t/{name}", domain="code", text=prompt_extra + f'def {name}(*args):\n    """doc"""\n',
                   split="test", meta={"dataset": "humaneval", "entry_point": name, "tests": [],
                                       "test": "def check(candidate):\n" + body})


def test_plan_takes_straight_literal_calls_and_stops_at_a_loop():
    spec = JudgeSpec(prelude="", proxies=(("candidate", "f"),), units=(
        ("assert candidate(1, [2, 3]) == 4", True), ("import math", False), ("x = candidate(k='v')", False),
        ("assert candidate(-1.5) == candidate((1, 2))", True), ("assert candidate(x) == 1", True),
        ("assert candidate(9) == 9", True)))
    assert prefetch_plan(spec) == [(0, "f", (1, [2, 3]), {}), (2, "f", (), {"k": "v"}), (3, "f", (-1.5,), {}),
                                   (3, "f", ((1, 2),), {})]
    for stop in ("for i in range(3):\n    assert candidate(i)", "assert candidate(1) or candidate(2)",
                 "assert candidate(1), candidate(2)", "g = candidate", "assert [candidate(i) for i in (1, 2)]"):
        spec2 = JudgeSpec(prelude="", proxies=(("candidate", "f"),),
                         units=(("assert candidate(0) == 0", True), (stop, True), ("assert candidate(5)", True)))
        assert prefetch_plan(spec2) == [(0, "f", (0,), {})], stop


def test_calls_sent_ahead_keep_the_order_a_stateful_candidate_sees(sb):
    p = he("f", "assert candidate(0) == 1\nassert candidate(0) == 2\nassert candidate(0) + candidate(0) == 7\n"
                "for _ in range(2):\n    assert candidate(0) > 4\nassert candidate(0) == 7")
    src = p.text + "    global n\n    n += 1\n    return n\nn = 0\n"
    j = judge(sb, judge_spec(p), src)
    assert [t.outcome for t in j.tests] == ["passed"] * 5
    # a unit that stops early (the first call raises): its other call, sent ahead, is read and dropped
    p2 = he("f", "assert candidate(1) + candidate(2) == 3\nassert candidate(3) == 3")
    src2 = p2.text + "    if args[0] == 1:\n        raise ValueError('one')\n    return args[0]\n"
    j2 = judge(sb, judge_spec(p2), src2)
    assert [(t.outcome, t.detail) for t in j2.tests] == [("raised", "ValueError: one"), ("passed", "")]


def test_arguments_mutated_by_the_candidate_are_written_back(sb):
    p = he("sort_in_place", "lst = [3, 1, 2]\ncandidate(lst)\nassert lst == [1, 2, 3]\n"
                            "d = {}\ncandidate(d)\nassert d == {'k': 1}")
    src = p.text + "    a = args[0]\n    if type(a) is list:\n        a.sort()\n    else:\n        a['k'] = 1\n"
    j = judge(sb, judge_spec(p), src)
    assert [t.outcome for t in j.tests] == ["passed", "passed"]


def test_prompt_helpers_are_the_trusted_ones(sb):
    # HumanEval/38 and /50 style: the test calls a helper from the prompt; the candidate's own version is ignored
    p = he("decode", "assert candidate(encode('abc')) == 'abc'",
           prompt_extra="def encode(s):\n    return s[::-1]\n\n\n")
    cheat = p.text + "    return args[0]\n\ndef encode(s):\n    return s\n"  # identity pair: passes only if ours is used
    honest = p.text + "    return args[0][::-1]\n"
    assert [t.outcome for t in judge(sb, judge_spec(p), cheat).tests] == ["failed"]
    assert [t.outcome for t in judge(sb, judge_spec(p), honest).tests] == ["passed"]


def test_mbpp_names_resolve_to_candidate_builtin_or_stdlib():
    m = Problem(id="mbpp/596", domain="code", text="t", gold="import sys\ndef get_size(t):\n    return sys.getsizeof(t)\n",
                meta={"dataset": "mbpp", "test_imports": ["import math"], "tests": [],
                      "test_list": ["assert get_size((1, 2)) == sys.getsizeof((1, 2))",
                                    "assert math.isclose(len([get_size(())]), 1)"]})
    spec = judge_spec(m)
    assert spec.proxies == (("get_size", "get_size"),)
    assert "import sys" in spec.prelude and "import math" in spec.prelude


def test_unplain_arguments_and_load_failures_are_typed(sb):
    p = he("f", "assert candidate(object()) is None")
    j = judge(sb, judge_spec(p), p.text + "    return None\n")
    assert j.tests[0].outcome == "error" and "not plain data" in j.tests[0].detail
    j2 = judge(sb, judge_spec(p), p.text + "    return (\n")
    assert j2.load == "error" and "SyntaxError" in j2.load_detail
