"""The exact text each Lean PI condition shows the model, for a fixed problem and verdict.

Verdict messages are real REPL replies from ../shared/lean/repl-transcripts/v4.24.0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from formalpi.engine.backends import Completion, SamplingParams, greedy_writer
from formalpi.pi_condition import PIContext
from formalpi.engine.conditions import get_condition
from formalpi.errors import ConfigError, DataError
from formalpi.lean.details import LeanDetails
from formalpi.domains.lean.conditions import clean_diagnosis, load_proof_corpus
from formalpi.lean.protocol import CommandReply, parse_reply
from formalpi.records import Attempt, Problem, Status, Verdict
from tests.conftest import shared_path

STATEMENT = "theorem foo (x : Int) : x = x := by\n"
PROBLEM = Problem(
    id="foo",
    domain="lean",
    text=STATEMENT,
    meta={"header": "import Mathlib\n\nopen Real\n\n", "formal_statement": STATEMENT},
)
ATTEMPT = Attempt(id="foo|r0|s0|k0", problem_id="foo", prompt="p", completion="  have h : x = 1 := by sorry")
REFERENCE = STATEMENT + (
    "  -- a verified proof\n  have h₀ : x + 0 = x := by simp\n"
    "  have h₁ : x = x + 0 := by\n    have h₂ : 0 + x = x := by simp\n    omega\n  rfl\n"
)


def replies(name: str) -> list[CommandReply]:
    """The command replies recorded in one transcript (pretty-printed JSON separated by blank lines)."""
    text = shared_path("lean", "repl-transcripts", "v4.24.0", f"{name}.expected.out").read_text(encoding="utf-8")
    out, dec, i = [], json.JSONDecoder(), 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        obj, i = dec.raw_decode(text, i)
        out.append(parse_reply(obj))
    return [r for r in out if isinstance(r, CommandReply)]


def verdict_from(reply: CommandReply, status: Status) -> Verdict:
    return Verdict(
        status=status,
        details=LeanDetails(messages=reply.messages, sorries=reply.sorries).dump(),
        answer=ATTEMPT.completion,
    )


def ctx(verdict: Verdict, problem: Problem = PROBLEM, **extras) -> PIContext:
    return PIContext(problem=problem, attempt=ATTEMPT, verdict=verdict, seed=0, extras=extras)


FAILED = Verdict(status=Status.ERROR, reason="error")


def test_retry_is_the_bare_failure_bit():
    assert get_condition("retry", "lean").pi(ctx(FAILED)) == "Your proof is incorrect. Try again."


SKELETON_TEXT = (
    "Here is the structure of a correct proof: the intermediate facts it proves, in order, with their "
    "proofs left out.\n```lean4\nhave h₀ : x + 0 = x := by sorry\nhave h₁ : x = x + 0 := by sorry\n"
    "```\nWrite a complete proof."
)


def test_skeleton_shows_top_level_haves_of_a_reference_proof():
    c = ctx(FAILED, reference_proofs={"foo": ["not lean at all", REFERENCE]})  # the first is refused, skipped
    assert get_condition("skeleton", "lean").pi(c) == SKELETON_TEXT
    body_only = REFERENCE.removeprefix(STATEMENT)  # a corpus proof without its statement gets the problem's
    assert get_condition("skeleton", "lean").pi(ctx(FAILED, reference_proofs={"foo": [body_only]})) == SKELETON_TEXT


def test_skeleton_retry_adds_the_failure_bit():
    c = ctx(FAILED, reference_proofs={"foo": [REFERENCE]})
    assert get_condition("skeleton+retry", "lean").pi(c) == f"Your proof is incorrect.\n{SKELETON_TEXT} Try again."


def test_skeleton_is_none_without_a_reference_proof():
    for extras in (
        {},
        {"reference_proofs": {"other": [REFERENCE]}},
        {"reference_proofs": {"foo": [STATEMENT + "  rfl\n"]}},
    ):  # a proof with no have: no skeleton
        assert get_condition("skeleton", "lean").pi(ctx(FAILED, **extras)) is None
        assert get_condition("skeleton+retry", "lean").pi(ctx(FAILED, **extras)) is None


def test_load_proof_corpus(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text(
        json.dumps({"name": "foo", "proof": REFERENCE}) + "\n\n" + json.dumps({"name": "foo", "proof": "rfl"}) + "\n",
        encoding="utf-8",
    )
    assert load_proof_corpus(p) == {"foo": [REFERENCE, "rfl"]}
    p.write_text('{"name": "foo"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"c.jsonl:1: needs string fields"):
        load_proof_corpus(p)
    p.write_text("{oops\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"c.jsonl:1: not JSON"):
        load_proof_corpus(p)
    with pytest.raises(DataError, match="no such file"):
        load_proof_corpus(tmp_path / "missing.jsonl")


def test_typechecker_unsolved_goals_error_carries_its_goal():
    # have_by_sorry: `theorem foo (x : Int) : x = x := by\n  have h : x = 1 := by sorry`
    v = verdict_from(replies("have_by_sorry")[0], Status.ERROR)
    assert get_condition("typechecker", "lean").pi(ctx(v)) == (
        "Your proof is incorrect.\n"
        "Lean reports an error at the start of your proof:\n"
        "unsolved goals\n"
        "The goal state there:\n"
        "x : Int\nh : x = 1\n⊢ x = x\n"
        "Try again."
    )


def test_typechecker_line_is_relative_to_the_proof_body():
    # incomplete: `def f (x : Bool) : Nat := by\n  by_cases x\n  { apply Nat.succ }`: error on line 3 = body line 2
    v = verdict_from(replies("incomplete")[1], Status.ERROR)
    problem = PROBLEM.model_copy(update={"meta": {"formal_statement": "def f (x : Bool) : Nat := by\n"}})
    assert get_condition("typechecker", "lean").pi(ctx(v, problem)) == (
        "Your proof is incorrect.\n"
        "Lean reports an error at line 2 of your proof:\n"
        "unsolved goals\n"
        "The goal state there:\n"
        "case pos\nx : Bool\nh✝ : x = true\n⊢ Nat\n"
        "Try again."
    )
    # a verifier that sends the header in the command: its lines are counted through the override
    assert "at line 1 of your proof" in get_condition("typechecker", "lean").pi(ctx(v, problem, checked_prefix_lines=2))


def test_typechecker_sorry_without_error_shows_the_sorry_goal():
    # calc: `example : 3 = 5 := by calc\n  3 = 4 := by sorry\n  4 = 5 := by sorry` (sorry warning only)
    v = verdict_from(replies("calc")[0], Status.INCOMPLETE)
    problem = PROBLEM.model_copy(update={"meta": {"formal_statement": "example : 3 = 5 := by\n"}})
    assert get_condition("typechecker", "lean").pi(ctx(v, problem)) == (
        "Your proof is incorrect.\n"
        "Your proof leaves a `sorry` at line 1 of your proof.\n"
        "The goal state there:\n⊢ 3 = 4\n"
        "Try again."
    )


def test_typechecker_without_messages_uses_the_reason():
    v = Verdict(status=Status.TIMEOUT, reason="Lean took longer than 60 s")
    assert get_condition("typechecker", "lean").pi(ctx(v)) == (
        "Your proof is incorrect.\nLean could not accept it: Lean took longer than 60 s.\nTry again."
    )


class ScriptedGenerator:
    """A deterministic stand-in for a diagnosis model: this tests only the prompt building and the cleaning of
    the answer (no model weights exist on this machine). It records what it was asked."""

    def __init__(self, answer: str):
        self.answer, self.prompts, self.params = answer, [], []

    def chat_prompt(self, turns: Sequence[tuple[str, str]]) -> str:
        return "".join(f"<{role}>{text}</{role}>" for role, text in turns) + "<assistant>"

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        self.prompts += list(prompts)
        self.params.append(params)
        return [[Completion(self.answer, 10, len(self.answer.split()))] for _ in prompts]


def test_diagnosis_prompt_and_cleaned_answer():
    gen = ScriptedGenerator(
        "<think>long hidden reasoning</think> The `have h : x = 1` claim is false:\n\n"
        "x is arbitrary.  ```lean4\nexact rfl\n``` Prove the goal with rfl directly."
    )
    v = verdict_from(replies("have_by_sorry")[0], Status.ERROR)
    out = get_condition("diagnosis", "lean").pi(ctx(v, diagnosis_writer=greedy_writer(gen), diagnosis_max_tokens=16))
    assert out == (
        "Your proof is incorrect. Diagnosis: The `have h : x = 1` claim is false: x is arbitrary. "
        "Prove the goal Try again."
    )
    assert gen.prompts == [
        "<user>A Lean 4 proof attempt failed. Diagnose in a few sentences what is wrong and what to change. "
        "Do not write a proof.\n\nTheorem:\n```lean4\ntheorem foo (x : Int) : x = x := by\n```\n"
        "Attempt:\n```lean4\nhave h : x = 1 := by sorry\n```\n"
        "Lean's errors:\n- at the start of your proof: unsolved goals x : Int h : x = 1 ⊢ x = x</user><assistant>"
    ]
    assert gen.params[0].n == 1 and gen.params[0].max_new_tokens == 2048  # room for a thinking model's thought
    # same attempt, same seed: the same request (resumable runs)
    gen2 = ScriptedGenerator("x")
    get_condition("diagnosis", "lean").pi(ctx(v, diagnosis_writer=greedy_writer(gen2), diagnosis_max_tokens=16))
    assert gen2.params == gen.params


def test_diagnosis_empty_answer_and_missing_generator():
    v = verdict_from(replies("have_by_sorry")[0], Status.ERROR)
    silent = greedy_writer(ScriptedGenerator("<think>x</think>"))
    assert get_condition("diagnosis", "lean").pi(ctx(v, diagnosis_writer=silent)) is None
    with pytest.raises(ConfigError, match=r"extras\['diagnosis_writer'\]"):
        get_condition("diagnosis", "lean").pi(ctx(v))
    assert clean_diagnosis("a  b\n c d", 3) == "a b c"


def test_a_thinking_models_diagnosis_is_its_answer_after_think():
    v = verdict_from(replies("have_by_sorry")[0], Status.ERROR)
    cond = get_condition("diagnosis", "lean")
    # the template opened the think block: the output is the thought, `</think>`, then the answer
    opened = ScriptedGenerator("The claim h is false for x = 2.</think>\n\nThe have claim x = 1 is false.")
    assert (
        cond.pi(ctx(v, diagnosis_writer=greedy_writer(opened)))
        == "Your proof is incorrect. Diagnosis: The have claim x = 1 is false. Try again."
    )
    # the budget ran out mid-thought: the thought so far is the diagnosis, not an empty text (no PI)
    cut = ScriptedGenerator("<think>\nThe attempt claims x = 1 but x is arbitrary, so the have is false")
    assert (
        cond.pi(ctx(v, diagnosis_writer=greedy_writer(cut), diagnosis_max_tokens=8))
        == "Your proof is incorrect. Diagnosis: The attempt claims x = 1 but x Try again."
    )


def test_diagnosis_row_gets_the_rows_own_model_and_other_methods_must_pass_one():
    from formalpi.config import config_from_dict
    from formalpi.engine.experiment import condition_extras, with_diagnosis_writer

    cond = get_condition("diagnosis", "lean")
    retry = config_from_dict({"name": "d", "domain": "lean", "method": "retry", "condition": "diagnosis"})
    assert condition_extras(retry, cond, {}) == {}  # the engine supplies it: the row's own generator
    gen = ScriptedGenerator("x")
    written = with_diagnosis_writer({}, cond, gen)["diagnosis_writer"]
    assert written([("user", "q")], 8, 0) == "x" and gen.prompts == ["<user>q</user><assistant>"]  # the row's model
    given = greedy_writer(ScriptedGenerator("y"))
    assert with_diagnosis_writer({"diagnosis_writer": given}, cond, gen)["diagnosis_writer"] is given
    opsd = config_from_dict({"name": "d", "domain": "lean", "method": "opsd", "condition": "diagnosis"})
    with pytest.raises(ConfigError, match="needs diagnosis_writer"):
        condition_extras(opsd, cond, {})


def test_conditions_are_registered_for_lean_only_with_descriptions():
    for name in ("skeleton", "typechecker", "diagnosis", "retry", "skeleton+retry"):
        cond = get_condition(name, "lean")
        assert cond.description and cond.domains == frozenset({"lean"})
    with pytest.raises(ConfigError):
        get_condition("skeleton", "math")
