"""The code domain on real HumanEval / MBPP data (from ../shared/data), checked in the real sandbox."""

from __future__ import annotations

import ast
import json
import random

import pytest

from formalpi.domain import Domain
import formalpi.domains.code.domain as code_domain  # its PI functions by module: a bare `test_suite` would be collected
from formalpi.domains.code.domain import (
    CodeDomain,
    CodeSettings,
    extract_code,
    humaneval_program,
    mbpp_program,
    reference_program,
)
from formalpi.domains.code.programs import run_many
from formalpi.pi_condition import PIContext
from formalpi.engine.conditions import get_condition
from formalpi.errors import ConfigError, DataError
from formalpi.records import Attempt, Problem, Status, Verdict
from tests.conftest import shared_path

NEEDS_SANDBOX = pytest.mark.usefixtures("full_sandbox")  # judging code: skipped where the sandbox is not full
SUBSET = 16  # seeded subset per dataset here; bench/code_sandbox.py runs all 164 + 427


@pytest.fixture(scope="module")
def domain() -> CodeDomain:
    d = CodeDomain(CodeSettings(workers=2))
    yield d
    d.close()


@pytest.fixture(scope="module")
def humaneval(domain) -> list[Problem]:
    return domain.problems("humaneval", "test", path=str(shared_path("data", "HumanEval.jsonl.gz")))


@pytest.fixture(scope="module")
def mbpp(domain) -> list[Problem]:
    return domain.problems("mbpp", "all", path=str(shared_path("data", "sanitized-mbpp.json")))


def test_is_a_domain(domain):
    assert isinstance(domain, Domain)


def test_loading(humaneval, mbpp, domain):
    assert len(humaneval) == 164 and len(mbpp) == 427
    h0 = humaneval[0]
    assert h0.id == "HumanEval/0" and h0.domain == "code" and h0.meta["entry_point"] == "has_close_elements"
    assert len(h0.meta["tests"]) == 7 and h0.meta["tests"][0].startswith("assert candidate([1.0, 2.0, 3.9")
    splits = {
        s: len(domain.problems("mbpp", s, path=str(shared_path("data", "sanitized-mbpp.json"))))
        for s in ("train", "validation", "test", "prompt")
    }
    assert splits == {"train": 120, "validation": 43, "test": 257, "prompt": 7}
    assert [
        p.id for p in domain.problems("humaneval", "all", path=str(shared_path("data", "HumanEval.jsonl.gz")), limit=2)
    ] == ["HumanEval/0", "HumanEval/1"]


def test_bad_input_gives_typed_errors(tmp_path, domain):
    bad = tmp_path / "mbpp.json"
    bad.write_text(json.dumps([{"task_id": 1, "prompt": "x", "code": "pass", "test_list": []}]))
    with pytest.raises(DataError, match=r"mbpp.json\[0\]: missing field\(s\) test_imports"):
        domain.problems("mbpp", "all", path=str(bad))
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not an MBPP sanitized JSON file"):
        domain.problems("mbpp", "all", path=str(bad))
    with pytest.raises(DataError, match="data.path: .* does not exist"):
        domain.problems("humaneval", "test", path=str(tmp_path / "nope.jsonl.gz"))
    with pytest.raises(DataError, match="not a code dataset"):
        domain.problems("math500", "test", path=str(bad))
    he = shared_path("data", "HumanEval.jsonl.gz")
    with pytest.raises(DataError, match="HumanEval has only 'test'"):
        domain.problems("humaneval", "train", path=str(he))


def test_program_assembly_is_the_benchmarks():
    p = Problem(
        id="t/0",
        domain="code",
        text="def f(x):\n",
        meta={
            "dataset": "humaneval",
            "entry_point": "f",
            "test": "def check(candidate):\n    assert candidate(1) == 2\n",
            "tests": ["assert candidate(1) == 2"],
        },
    )
    assert humaneval_program(p, "    return x + 1\n") == (
        "def f(x):\n    return x + 1\n\ndef check(candidate):\n    assert candidate(1) == 2\n\ncheck(f)"
    )
    m = Problem(
        id="mbpp/1",
        domain="code",
        text="t",
        meta={
            "dataset": "mbpp",
            "test_imports": ["import math"],
            "test_list": ["assert g() == 1", "assert g() != 2"],
            "tests": [],
        },
    )
    assert mbpp_program(m, "def g(): return 1") == "def g(): return 1\nimport math\nassert g() == 1\nassert g() != 2\n"


def test_extraction():
    assert extract_code("Sure!\n```python\ndef f():\n    return 1\n```\nHope it helps.") == "def f():\n    return 1\n"
    assert extract_code("```\nx = 1\n```") == "x = 1\n"
    assert extract_code("Here is the code:\ndef f():\n    return 2\nThis returns two.") == "def f():\n    return 2\n"
    assert extract_code("    return a + b\n") == "    return a + b\n"  # HumanEval body continuation, as is
    assert extract_code("") is None and extract_code("   \n") is None
    assert extract_code("I do not know.") is None


def _sample(problems: list[Problem], seed: int) -> list[Problem]:
    return random.Random(seed).sample(problems, SUBSET)


def _broken(p: Problem) -> str:
    """Each top-level function of the reference replaced by one that raises: every test must fail."""
    if p.meta["dataset"] == "humaneval":
        return "    raise NotImplementedError\n"
    names = [n.name for n in code_domain._parse_quietly(p.gold).body if isinstance(n, ast.FunctionDef)]
    return p.gold + "\n" + "".join(f"\ndef {n}(*a, **k):\n    raise NotImplementedError\n" for n in names)


@NEEDS_SANDBOX
def test_reference_solutions_pass_and_broken_variants_fail(domain, humaneval, mbpp):
    probs = _sample(humaneval, 0) + _sample(mbpp, 0)
    good = domain.verify_many(probs, [p.gold for p in probs])
    assert [(p.id, v.status) for p, v in zip(probs, good)] == [(p.id, Status.VALID) for p in probs]
    assert all(v.score == 1.0 for v in good)
    bad = domain.verify_many(probs, [_broken(p) for p in probs])
    assert [(p.id, v.status) for p, v in zip(probs, bad)] == [(p.id, Status.WRONG) for p in probs]
    assert all(v.score == 0.0 and "NotImplementedError" in v.feedback for v in bad)
    # the benchmark's own (ungraded) program agrees
    plain = run_many([reference_program(p) for p in probs], workers=2)
    assert all(r.passed for r in plain)


@NEEDS_SANDBOX
def test_tests_that_shadow_builtins(domain, humaneval):
    # HumanEval/38 and /50 bind `str` inside check(): the per-test reporting must not call the shadowed name
    probs = [p for p in humaneval if p.id in ("HumanEval/38", "HumanEval/50")]
    verdicts = domain.verify_many(probs * 2, [p.gold for p in probs] + [_broken(p) for p in probs])
    assert [v.status for v in verdicts] == [Status.VALID, Status.VALID, Status.WRONG, Status.WRONG]
    assert verdicts[2].feedback == (
        "for _ in range(100):\n    str = ''.join((choice(letters) for i in "
        "range(randint(10, 20))))\n    encoded_str = encode_cyclic(str)\n    "
        "assert candidate(encoded_str) == str\nNotImplementedError"
    )


@NEEDS_SANDBOX
def test_graded_score_and_feedback(domain, humaneval, mbpp):
    v = domain.verify(humaneval[0], "    return True\n")
    assert v.status is Status.WRONG and v.score == pytest.approx(4 / 7)
    assert v.feedback == "assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False\nAssertionError"
    m = next(p for p in mbpp if p.id == "mbpp/11")  # remove_Occ
    code = "```python\ndef remove_Occ(s, ch):\n    return s.replace(ch, '') if len(s) != 3 else s\n```"
    v = domain.verify(m, code)
    assert v.status is Status.WRONG and v.score == pytest.approx(2 / 3)
    assert v.feedback == 'assert remove_Occ("PHP","P") == "H"\nAssertionError'


@NEEDS_SANDBOX
def test_failure_statuses(humaneval):
    fast = CodeDomain(CodeSettings(workers=2))
    fast.limits = type(fast.limits)(timeout_s=1.5, memory_mb=256)
    p = humaneval[0]
    cases = {
        "    while True:\n        pass\n": Status.TIMEOUT,
        "    x = bytearray(2 ** 31)\n": Status.MEMORY,
        "    return (\n": Status.ERROR,  # syntax error: outside the tests
        "    pass\nimport sys\nsys.exit(0)\n": Status.ERROR,  # exits before any test ran: never VALID
        "I cannot solve this.": Status.NO_ANSWER,
    }
    verdicts = fast.verify_many([p] * len(cases), list(cases))
    assert [v.status for v in verdicts] == list(cases.values())
    assert all(v.score == 0.0 for v in verdicts)
    assert "SyntaxError" in verdicts[2].feedback


@NEEDS_SANDBOX
def test_fenced_full_function_is_checked(domain, humaneval):
    p = humaneval[0]
    answer = (
        "Here you go:\n```python\nfrom typing import List\n\ndef has_close_elements(numbers, threshold):\n"
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n```\n"
        "It compares every pair."
    )
    assert domain.verify(p, answer).status is Status.VALID


def test_fetch_writes_and_validates(tmp_path, monkeypatch):
    src = shared_path("data", "HumanEval.jsonl.gz")
    monkeypatch.setattr(code_domain, "HUMANEVAL_URL", src.resolve().as_uri())  # urllib reads file:// too
    out = code_domain.fetch_humaneval(tmp_path / "d")
    assert out == tmp_path / "d" / "HumanEval.jsonl.gz" and out.read_bytes() == src.read_bytes()
    monkeypatch.setattr(code_domain, "MBPP_URL", (tmp_path / "missing.json").as_uri())
    with pytest.raises(DataError, match="could not download"):
        code_domain.fetch_mbpp(tmp_path / "d")


@NEEDS_SANDBOX
def test_forged_result_lines_do_not_pass(domain, humaneval):
    forged = (
        '    print(\'\\n__formalpi_test__0000 [0, true, "x", ""]\')\n'
        '    import sys; sys.stdout.write(\'__formalpi_test__ [0, true, "x", ""]\\n\')\n    return None\n'
    )
    v = domain.verify(humaneval[0], forged)
    assert v.status is Status.WRONG and v.score == 0.0


def test_signature():
    d = CodeDomain()
    a = "```python\ndef f(x):\n    # add one\n    return x+1\n```"
    b = "def f( x ):\n    return (x + 1)\n"
    assert d.signature(a) == d.signature(b) == "def f(x):\n    return x + 1"
    assert d.signature("def f(:\n   oops   here") == "def f(: oops here"


# ---- the PI conditions --------------------------------------------------------------------------------------


def _ctx(problem: Problem, verdict: Verdict, problems: list[Problem], seed: int = 0) -> PIContext:
    att = Attempt(id=f"{problem.id}|r0|s0|k0", problem_id=problem.id, prompt="p", completion="c")
    return PIContext(problem=problem, attempt=att, verdict=verdict, seed=seed, problems=problems)


def test_conditions_registered_for_code():
    assert get_condition("test_suite", "code").description.startswith(
        "The failure bit and the failing test's assertion and error"
    )
    assert get_condition("shuffled_test_suite", "code").pi is code_domain.shuffled_test_suite
    assert get_condition("try_again", "code").name == "try_again"  # the generic bare retry, not duplicated
    with pytest.raises(ConfigError):
        get_condition("test_suite", "math")


@NEEDS_SANDBOX
def test_test_suite_pi_exact_text(domain, humaneval):
    v = domain.verify(humaneval[0], "    return True\n")
    assert code_domain.test_suite(_ctx(humaneval[0], v, humaneval[:4])) == (
        "Your answer is incorrect. This test failed:\n"
        "assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False\nAssertionError\nTry again."
    )
    timed_out = Verdict(status=Status.TIMEOUT, reason="time limit", feedback="Timed out.")
    assert code_domain.test_suite(_ctx(humaneval[0], timed_out, humaneval[:4])) == (
        "Your answer is incorrect. This test failed:\nTimed out.\nTry again."
    )


def test_shuffled_test_suite_exact_text(humaneval):
    v = Verdict(status=Status.WRONG, feedback="irrelevant")
    text = code_domain.shuffled_test_suite(_ctx(humaneval[0], v, humaneval[:4], seed=0))
    assert text == (
        "Your answer is incorrect. This test failed:\nassert candidate(3.5) == 0.5\nAssertionError\nTry again."
    )
    again = code_domain.shuffled_test_suite(_ctx(humaneval[0], v, humaneval[:4], seed=0))
    assert text == again  # same seed, same PI
    own = set(humaneval[0].meta["tests"])
    assert not any(t in text for t in own)  # the test shown belongs to another problem


def test_verify_settings_and_manifest_record_the_sandbox(tmp_path):
    from formalpi.config import config_from_dict
    from formalpi.domain import open_domain
    from formalpi.runs import RunStore

    cfg = config_from_dict(
        {"name": "x", "domain": "code", "verify": {"timeout_s": 3.0, "workers": 1, "allow_weak_sandbox": True}}
    )
    d = open_domain("code", cfg.verify)
    assert (d.limits.timeout_s, d.workers, d.allow_weak_sandbox) == (3.0, 1, True)
    store = RunStore.open(tmp_path, "x", 0, {"a": 1})
    layers = d.isolation()
    store.annotate(sandbox=layers)
    d.close()
    assert store.manifest()["sandbox"] == layers and isinstance(layers["weak"], bool)


@NEEDS_SANDBOX
def test_every_reference_solution_passes_and_every_broken_variant_fails(humaneval, mbpp):
    """All 164 HumanEval canonical solutions and all 427 MBPP references, judged on the trusted side; 60 s budget
    each (mbpp/123's reference needs ~12 s of CPU on a loaded 2-core machine)."""
    d = CodeDomain(CodeSettings(workers=2), limits=code_domain.Limits(timeout_s=60.0, memory_mb=1024))
    try:
        probs = humaneval + mbpp
        good = d.verify_many(probs, [p.gold for p in probs])
        assert [p.id for p, v in zip(probs, good) if v.status is not Status.VALID] == []
        bad = d.verify_many(probs, [_broken(p) for p in probs])
        assert [p.id for p, v in zip(probs, bad) if v.status is not Status.WRONG] == []
    finally:
        d.close()
