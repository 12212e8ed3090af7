"""The verifier canary at the start of a run: a verifier that cannot check anything stops the run before any work,
instead of grading every attempt CRASH and reporting pass@1 = 0 as a result."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from formalpi.domains.math.domain import MathDomain
from formalpi.engine.experiment import check_verifier
from formalpi.errors import CanaryError
from formalpi.records import Status, Verdict

ROOT = Path(__file__).resolve().parent.parent


class _OffByOne(MathDomain):
    """A domain whose reference completion is wrong: the canary must notice that it does not pass."""

    def reference_completion(self, problem):
        return f"\\boxed{{{int(problem.gold) + 1}}}"


class _AcceptsAnyAnswer(MathDomain):
    """A verifier that passes every non-empty completion (as one whose checker library was replaced by a stub that
    says "equal" does): it accepts the reference answer and refuses an empty completion, so only a wrong answer
    can expose it."""

    def verify_many(self, problems, completions):
        return [
            Verdict(status=Status.VALID if c.strip() else Status.NO_ANSWER, score=float(bool(c.strip())))
            for c in completions
        ]


def test_canary_passes_on_a_working_verifier_and_fails_on_a_wrong_reference():
    with MathDomain() as d:
        problems = d.problems("arith", "test", limit=5)
        check_verifier(d, problems)  # the real verifier: the boxed gold passes, empty and another's answer do not
    with _OffByOne() as d:
        with pytest.raises(CanaryError, match="rejects the reference answer as the answer to arith-test-L1-0000"):
            check_verifier(d, problems)


def test_canary_catches_a_verifier_that_accepts_any_answer():
    with _AcceptsAnyAnswer() as d:
        problems = d.problems("arith", "test", limit=5)
        with pytest.raises(
            CanaryError, match=r"accepts the answer of arith-test-\S+ as the answer to arith-test-L1-0000"
        ):
            check_verifier(d, problems)


def test_a_run_whose_verifier_is_shadowed_stops_before_any_work(tmp_path):
    """The real failure: a `math_verify.py` on the path (bench/ had one, named after
    what it measures, and it hid the package from every script run in bench/)
    hides the math-verify package from the verifier's workers; every check is CRASH. The run must refuse to start
    and create no run directory."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "math_verify.py").write_text("SHADOW = True\n")
    runs = tmp_path / "runs"
    code = (
        "from formalpi.config import config_from_dict\n"
        "from formalpi.engine.experiment import run_experiment\n"
        f"cfg = config_from_dict({{'name': 't/base', 'method': 'baseline', 'condition': 'try_again', "
        f"'runs_dir': {str(runs)!r}, 'model': {{'path': 'tiny'}}, "
        "'data': {'dataset': 'arith', 'eval_limit': 4}, 'eval': {'n': 1, 'ks': [1]}})\n"
        "run_experiment(cfg, 1)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode != 0
    assert "CanaryError" in out.stderr and "rejects the reference answer" in out.stderr, out.stderr[-2000:]
    assert "math_verify" in out.stderr
    assert not (runs / "t" / "base").exists()
