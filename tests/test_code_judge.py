"""The trusted side (formalpi/domains/code/judge.py): tests run here against proxies; calls sent ahead keep test order."""

from __future__ import annotations

import pytest

from formalpi.domains.code.domain import judge_spec
from formalpi.domains.code.judge import JudgeSpec, judge, prefetch_plan
from formalpi.domains.code.sandbox import Limits, Sandbox
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
    return Problem(
        id=f"t/{name}",
        domain="code",
        text=prompt_extra + f'def {name}(*args):\n    """doc"""\n',
        split="test",
        meta={"dataset": "humaneval", "entry_point": name, "tests": [], "test": "def check(candidate):\n" + body},
    )


def test_plan_takes_straight_literal_calls_and_stops_at_a_loop():
    spec = JudgeSpec(
        prelude="",
        proxies=(("candidate", "f"),),
        units=(
            ("assert candidate(1, [2, 3]) == 4", True),
            ("import math", False),
            ("x = candidate(k='v')", False),
            ("assert candidate(-1.5) == candidate((1, 2))", True),
            ("assert candidate(x) == 1", True),
            ("assert candidate(9) == 9", True),
        ),
    )
    assert prefetch_plan(spec) == [
        (0, "f", (1, [2, 3]), {}),
        (2, "f", (), {"k": "v"}),
        (3, "f", (-1.5,), {}),
        (3, "f", ((1, 2),), {}),
    ]
    for stop in (
        "for i in range(3):\n    assert candidate(i)",
        "assert candidate(1) or candidate(2)",
        "assert candidate(1), candidate(2)",
        "g = candidate",
        "assert [candidate(i) for i in (1, 2)]",
    ):
        spec2 = JudgeSpec(
            prelude="",
            proxies=(("candidate", "f"),),
            units=(("assert candidate(0) == 0", True), (stop, True), ("assert candidate(5)", True)),
        )
        assert prefetch_plan(spec2) == [(0, "f", (0,), {})], stop


def test_calls_sent_ahead_keep_the_order_a_stateful_candidate_sees(sb):
    p = he(
        "f",
        "assert candidate(0) == 1\nassert candidate(0) == 2\nassert candidate(0) + candidate(0) == 7\n"
        "for _ in range(2):\n    assert candidate(0) > 4\nassert candidate(0) == 7",
    )
    src = p.text + "    global n\n    n += 1\n    return n\nn = 0\n"
    j = judge(sb, judge_spec(p), src)
    assert [t.outcome for t in j.tests] == ["passed"] * 5
    # a unit that stops early (the first call raises): its other call, sent ahead, is read and dropped
    p2 = he("f", "assert candidate(1) + candidate(2) == 3\nassert candidate(3) == 3")
    src2 = p2.text + "    if args[0] == 1:\n        raise ValueError('one')\n    return args[0]\n"
    j2 = judge(sb, judge_spec(p2), src2)
    assert [(t.outcome, t.detail) for t in j2.tests] == [("raised", "ValueError: one"), ("passed", "")]


def test_arguments_mutated_by_the_candidate_are_written_back(sb):
    p = he(
        "sort_in_place",
        "lst = [3, 1, 2]\ncandidate(lst)\nassert lst == [1, 2, 3]\nd = {}\ncandidate(d)\nassert d == {'k': 1}",
    )
    src = p.text + "    a = args[0]\n    if type(a) is list:\n        a.sort()\n    else:\n        a['k'] = 1\n"
    j = judge(sb, judge_spec(p), src)
    assert [t.outcome for t in j.tests] == ["passed", "passed"]


def test_prompt_helpers_are_the_trusted_ones(sb):
    # HumanEval/38 and /50 style: the test calls a helper from the prompt; the candidate's own version is ignored
    p = he(
        "decode", "assert candidate(encode('abc')) == 'abc'", prompt_extra="def encode(s):\n    return s[::-1]\n\n\n"
    )
    cheat = (
        p.text + "    return args[0]\n\ndef encode(s):\n    return s\n"
    )  # identity pair: passes only if ours is used
    honest = p.text + "    return args[0][::-1]\n"
    assert [t.outcome for t in judge(sb, judge_spec(p), cheat).tests] == ["failed"]
    assert [t.outcome for t in judge(sb, judge_spec(p), honest).tests] == ["passed"]


def test_mbpp_names_resolve_to_candidate_builtin_or_stdlib():
    m = Problem(
        id="mbpp/596",
        domain="code",
        text="t",
        gold="import sys\ndef get_size(t):\n    return sys.getsizeof(t)\n",
        meta={
            "dataset": "mbpp",
            "test_imports": ["import math"],
            "tests": [],
            "test_list": [
                "assert get_size((1, 2)) == sys.getsizeof((1, 2))",
                "assert math.isclose(len([get_size(())]), 1)",
            ],
        },
    )
    spec = judge_spec(m)
    assert spec.proxies == (("get_size", "get_size"),)
    assert "import sys" in spec.prelude and "import math" in spec.prelude


def test_unplain_arguments_and_load_failures_are_typed(sb):
    p = he("f", "assert candidate(object()) is None")
    j = judge(sb, judge_spec(p), p.text + "    return None\n")
    assert j.tests[0].outcome == "error" and "not plain data" in j.tests[0].detail
    j2 = judge(sb, judge_spec(p), p.text + "    return (\n")
    assert j2.load == "error" and "SyntaxError" in j2.load_detail


def test_a_program_that_exits_on_one_test_is_scored_on_the_others(sb):
    """Calls sent ahead die with the child: the restarted one is not matched against a call it never got
    (f346383: [passed, crash, timeout]: the third call went to a child that never got it, the budget spent)."""
    p = he("f", "assert candidate(1) == 1\nassert candidate(2) == 2\nassert candidate(3) == 3")
    src = p.text + "    import os\n    if args[0] == 2:\n        os._exit(0)\n    return args[0]\n"
    j = judge(sb, judge_spec(p), src)
    assert [t.outcome for t in j.tests] == ["passed", "crash", "passed"]
    assert j.duration_s < LIM.timeout_s / 2 and j.children == 2


FORGE = (
    "    import os, stat, struct\n"
    "    for fd in range(3, 64):\n"
    "        try:\n"
    "            if stat.S_ISSOCK(os.fstat(fd).st_mode):\n"
    "                os.write(fd, struct.pack('>I', len(PAYLOAD)) + PAYLOAD)\n"
    "        except OSError:\n"
    "            pass\n"
)


def test_forged_write_back_keys_and_a_closed_channel_are_typed_verdicts(sb):
    # "²".isdigit() is True and int("²") raises: f346383 reported the unit as the test's own error
    p = he("f", "x = [1]\nassert candidate(x) == 1\nassert candidate(x + [2]) == 1")
    forged = 'PAYLOAD = b\'{"ret":["i","0x1"],"after":{"\\u00b2":["l",[]]}}\'\n' + p.text + FORGE + "    return 0\n"
    j = judge(sb, judge_spec(p), forged)
    assert [t.outcome for t in j.tests] == ["unserialisable", "unserialisable"], j.tests
    assert "names no argument" in j.tests[0].detail
    # the child shuts its channel for reading: the next call's send is a BrokenPipeError on the trusted side
    closer = p.text + (
        "    import os, socket, stat\n    if len(args[0]) == 1:\n"
        "        for fd in range(3, 64):\n"
        "            try:\n"
        "                if stat.S_ISSOCK(os.fstat(fd).st_mode):\n"
        "                    socket.socket(fileno=os.dup(fd)).shutdown(socket.SHUT_RD)\n"
        "            except OSError:\n"
        "                pass\n"
        "    return 1\n"
    )
    p3 = he("f", "x = [1]\nassert candidate(x) == 1\nassert candidate(x + [2]) == 1\nassert candidate(x + [3]) == 1")
    j3 = judge(sb, judge_spec(p3), closer)
    assert j3.tests[0].outcome == "passed"
    assert j3.tests[1].outcome == "crash", j3.tests
    assert j3.tests[2].outcome == "passed", j3.tests


COLLIDING = (
    "M = 2 ** 61 - 1\n"
    'PAYLOAD = (\'{"ret":["s",[%s]],"after":{}}\' % \',\'.join(\'["i","%s"]\' % hex(k * M + 7) '
    "for k in range(80000))).encode()\n"
)


def test_a_reply_that_is_slow_to_rebuild_ends_as_a_timeout_within_the_budget(sb):
    """80,000 ints with one hash in a set: 63.8 s to decode at f346383 against a 10 s budget."""
    p = he("f", "assert candidate(1) == {7}\nassert candidate(2) == {7}")
    j = judge(sb, judge_spec(p), COLLIDING + p.text + FORGE + "    return {7}\n")
    assert [t.outcome for t in j.tests] == ["timeout", "not_run"], j.tests
    assert j.duration_s < LIM.timeout_s + 1.0, j.duration_s


def test_the_trusted_workers_own_work_is_killed_at_the_budget():
    """The test itself does the quadratic work (`set()` of a returned list of colliding ints): no signal can stop
    it inside the C loop; the pool kills the worker at the budget and the next candidate gets a fresh one."""
    from formalpi.domains.code.judge import TRUSTED_SLACK_S, JudgePool

    skip_unless_full_sandbox()
    lim = Limits(timeout_s=3.0, memory_mb=512)
    p = he("f", "assert len(set(candidate(1))) == 80000")
    slow = p.text + "    M = 2 ** 61 - 1\n    return [k * M + 7 for k in range(80000)]\n"
    fine = he("g", "assert candidate(2) == 4")
    pool = JudgePool(lim, workers=1)
    try:
        j, ok = pool.judge_many([judge_spec(p), judge_spec(fine)], [slow, fine.text + "    return 4\n"])
        assert j.tests[0].outcome == "timeout" and "trusted side" in j.tests[0].detail, j
        assert j.duration_s < lim.timeout_s + TRUSTED_SLACK_S + 1.0, j.duration_s
        assert ok.tests[0].outcome == "passed"
    finally:
        pool.close()


UNUSUAL = [  # (test body, candidate body): correct programs of the shapes real models write
    (
        "assert candidate('abca') == {'a': 2, 'b': 1, 'c': 1}",  # MBPP 97: a defaultdict
        "    import collections\n    d = collections.defaultdict(int)\n    for c in args[0]:\n        d[c] += 1\n"
        "    return d\n",
    ),
    (
        "assert set(candidate('a bb ccc')) == set(['ccc'])",  # MBPP 7: a filter object
        "    return filter(lambda w: len(w) >= 3, args[0].split())\n",
    ),
    (
        "assert tuple(candidate([5, 6, 3, 4, 8, 9, 2])) == tuple([2, 6, 3, 4, 8, 9, 5])",  # HumanEval 33: a generator
        "    l = list(args[0])\n    l[::3] = sorted(l[::3])\n    return (x for x in l)\n",
    ),
    (
        "assert candidate() == {'a': 1, 'b': 2}",
        "    import collections\n    return collections.ChainMap({'a': 1}, {'b': 2, 'a': 9})\n",
    ),
    (
        "assert candidate() == (1, 2) and candidate()[1] == 2",
        "    import collections\n    P = collections.namedtuple('P', 'x y')\n    return P(1, 2)\n",
    ),
    (
        "assert candidate() == 0.5 and candidate() == __import__('fractions').Fraction(1, 2)",
        "    import fractions\n    return fractions.Fraction(1, 2)\n",
    ),
    (
        "import decimal\nassert candidate() == decimal.Decimal('0.10') and str(candidate()) == '0.10'",
        "    import decimal\n    return decimal.Decimal('0.10')\n",
    ),
    (
        "assert list(candidate()) == [0, 1, 4] and candidate() == range(3)[0:0] or True",
        "    return map(lambda x: x * x, range(3))\n",
    ),
    ("assert candidate() == range(2, 9, 3)", "    return range(2, 9, 3)\n"),
]


@pytest.mark.parametrize("case", range(len(UNUSUAL)))
def test_correct_but_unusual_values_pass(sb, case):
    body, cand = UNUSUAL[case]
    p = he("f", body)
    j = judge(sb, judge_spec(p), p.text + cand)
    assert [t.outcome for t in j.tests] == ["passed"], j.tests


RIGGED = [
    "    class T(tuple):\n        def __eq__(self, o):\n            return True\n        __hash__ = tuple.__hash__\n"
    "    return T(())\n",
    "    class D(dict):\n        def __eq__(self, o):\n            return True\n    return D()\n",
    "    import collections\n    class C(collections.ChainMap):\n        def __eq__(self, o):\n            return True\n"
    "    return C({})\n",
    "    def g():\n        yield 0\n    return g()\n",
    "    import itertools\n    return itertools.count()\n",
    "    class L(list):\n        def __eq__(self, o):\n            return True\n    return L()\n",
]


@pytest.mark.parametrize("case", range(len(RIGGED)))
def test_a_subclass_with_a_rigged_eq_still_cannot_pass(sb, case):
    p = he("f", "assert candidate() == (1, 2) or candidate() == {'a': 1} or candidate() == [1, 2]")
    j = judge(sb, judge_spec(p), p.text + RIGGED[case])
    assert j.tests[0].outcome in ("failed", "unserialisable"), j.tests


def test_the_wire_caps_hold_while_parsing():
    """A 16 MiB frame of `{},`: 5.6 million objects. f346383 built them all (417 MiB) before its node cap."""
    import tracemalloc

    from formalpi.domains.code import wire

    n = (wire.MAX_FRAME - 64) // 3
    data = b'{"ret":["l",[' + b"{}," * (n - 1) + b'{}]],"after":{}}'
    tracemalloc.start()
    try:
        with pytest.raises(wire.WireError, match="JSON values"):
            wire.loads(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak
    # separators inside strings are text, not values: a long string with commas crosses
    text = "a,b:[{" * 1_000_000
    assert wire.decode(wire.loads(wire.dumps({"ret": wire.encode(text)}))["ret"]) == text


def test_the_decoder_rebuilds_with_its_own_classes():
    import collections
    import decimal
    import fractions

    from formalpi.domains.code import wire

    P = collections.namedtuple("P", "x y")
    for value, want_type in (
        (collections.defaultdict(int, a=1), dict),
        (P(1, 2), tuple),
        (collections.ChainMap({"a": 1}), dict),
        (fractions.Fraction(-3, 9), fractions.Fraction),
        (decimal.Decimal("-0E+3"), decimal.Decimal),
        (range(1, 9, 2), range),
        ({(1, 2), (3, 4)}, set),
        (frozenset({(1,)}), frozenset),
        ({(1, 2): (3,)}, dict),
    ):
        got = wire.decode(wire.loads(wire.dumps(wire.encode(value))))
        assert type(got) is want_type and got == value, (value, got)
    it = wire.decode(wire.loads(wire.dumps(wire.encode(filter(None, [0, 1, 2])))))
    assert list(it) == [1, 2] and list(it) == []  # one shot, like the original
    for bad in (["F", "0x1", "0x0"], ["D", "1_000"], ["D", " 1"], ["r", "0x1", "0x2", "0x0"], ["I", "x"]):
        with pytest.raises(wire.WireError):
            wire.decode(bad)


def test_the_trusted_workers_memory_is_capped():
    """The test multiplies what the candidate returned into 3 GB: the worker's own cap (its size + 1 GiB) turns
    that into a typed `memory` outcome instead of the judge's machine paying for it."""
    from formalpi.domains.code.judge import JudgePool

    skip_unless_full_sandbox()
    p = he("f", "assert len(candidate() * (3 * 10 ** 9)) > 0\nassert candidate() == 'x'")
    pool = JudgePool(Limits(timeout_s=5.0, memory_mb=512), workers=1)
    try:
        (j,) = pool.judge_many([judge_spec(p)], [p.text + "    return 'x'\n"])
        assert [t.outcome for t in j.tests] == ["memory", "passed"], j.tests
    finally:
        pool.close()
