"""Strict acceptance: forbidden constructs, restated theorems, sorry in both quote styles, axioms, feedback."""

from __future__ import annotations

import json
import re

import pytest

from formalpi.lean.protocol import CommandReply, ReplError, parse_reply
from formalpi.lean.verdict import (declared_name, find_forbidden, judge, mask_comments_and_strings, parse_axioms,
                                   prepare, proof_body, split_proof)
from formalpi.records import Status, Verdict
from tests.conftest import shared_path

STATEMENT = "theorem mathd_t (x : ℝ) (h₀ : x = 2) : x + 1 = 3 := by\n  sorry"


def _reply(obj: dict) -> CommandReply:
    r = parse_reply(obj)
    assert isinstance(r, CommandReply)
    return r


def _info(text: str) -> CommandReply:
    return _reply({"messages": [{"severity": "info", "pos": {"line": 1, "column": 0}, "data": text}], "env": 2})


STD = _info("'mathd_t' depends on axioms: [propext, Classical.choice, Quot.sound]")


@pytest.mark.parametrize("text, construct", [
    ("axiom cheat : False\nexact cheat.elim", "axiom"),
    ("set_option debug.skipKernelTC true in\nsimp", "set_option debug.skipKernelTC"),
    ("@[implemented_by foo] def g := 1\nsimp", "implemented_by"),
    ('@[extern "c_fn"] def g : Nat := 1\nsimp', "extern"),
    ("unsafe def g := 1\nsimp", "unsafe"),
    ("partial def g : Nat → Nat := g\nsimp", "partial"),
    ("elab \"foo\" : tactic => pure ()\nfoo", "elab"),
    ("macro \"foo\" : tactic => `(tactic| simp)\nfoo", "macro"),
    ("syntax \"foo\" : tactic\nsimp", "syntax"),
    ("notation \"⊤⊤\" => True\nsimp", "notation"),
    ("instance : Inhabited Nat := ⟨0⟩\nsimp", "instance"),
    ("#eval 1\nsimp", "#eval"),
    ("run_cmd pure ()\nsimp", "run_cmd"),
    ("open private foo in\nsimp", "open private"),
    ("apply?", "apply?"),
    ("exact?", "exact?"),
    ("nlinarith\nsorry", "sorry"),
    ("admit", "admit"),
    ("native_decide", "native_decide"),
    ("exact (modifyEnv id)", "modifyEnv"),
])
def test_forbidden_constructs_are_rejected_with_the_construct_named(text: str, construct: str) -> None:
    v = prepare(STATEMENT, text)
    assert isinstance(v, Verdict) and v.status is Status.REJECTED
    assert f"`{construct}`" in v.reason


@pytest.mark.parametrize("text", [
    "have h_axiom_free : x + 1 = 3 := by linarith\nexact h_axiom_free",
    "have instance_count : 1 = 1 := rfl\nlinarith",
    "-- we could use sorry or native_decide here, but no\nlinarith",
    "/- axiom? no. /- nested sorry -/ still comment -/\nlinarith",
    'have s : "sorry axiom #eval" = "sorry axiom #eval" := rfl\nlinarith',
    "have h' : x = 2 := h₀\nexact (by simp [h'] : x + 1 = 3)",
    "exact inferInstance.elim' sorry_free",
    "simp? says simp\nlinarith",
])
def test_pre_check_ignores_comments_strings_and_identifiers_containing_words(text: str) -> None:
    assert find_forbidden(text) is None, find_forbidden(text)
    assert not isinstance(prepare(STATEMENT, text), Verdict)


def test_forbidden_line_is_reported() -> None:
    bad = find_forbidden("linarith\n-- sorry\n  exact (sorry : False)")
    assert bad is not None and bad.construct == "sorry" and bad.line == 3


def test_mask_keeps_positions() -> None:
    text = 'a -- c\n/- x\n y -/ "s\\"t" b'
    masked = mask_comments_and_strings(text)
    assert len(masked) == len(text) and masked.count("\n") == text.count("\n")
    assert masked.split() == ["a", "b"]


def test_restated_theorem_is_stripped_and_trusted_statement_used() -> None:
    model = ("import Mathlib\nopen Real\n\n"
             "lemma helper (y : ℝ) : y + 0 = y := by simp\n\n"
             "theorem mathd_t (x : ℝ) (h₀ : x = 2) : x + 1 = 5 := by\n  rw [h₀]\n  norm_num")
    assert proof_body(model) == "by\n  rw [h₀]\n  norm_num"
    preamble, body = split_proof(model)
    assert "lemma helper" in preamble and "import" not in preamble
    prep = prepare(STATEMENT, model)
    assert not isinstance(prep, Verdict)
    assert "x + 1 = 3 := by\n  rw [h₀]" in prep.cmd  # the trusted goal, not the model's `= 5`
    assert "= 5" not in prep.cmd
    assert prep.cmd.index("lemma helper") < prep.cmd.index("theorem mathd_t")
    assert prep.name == "mathd_t"


def test_binder_default_values_do_not_fool_the_body_split() -> None:
    model = "theorem t (n : ℕ := 3) (h : n = 3) : n + 0 = 3 := by simp [h]"
    assert proof_body(model) == "by simp [h]"
    assert proof_body("  simp\n  linarith") == "  simp\n  linarith"


def test_tactic_body_without_by_is_wrapped_and_indented() -> None:
    prep = prepare("theorem t : 1 + 1 = 2 := by\n", "norm_num\nrfl")
    assert prep.cmd == "theorem t : 1 + 1 = 2 := by\n  norm_num\n  rfl" and prep.body_line == 2


def test_example_gets_a_fresh_name_for_print_axioms() -> None:
    prep = prepare("example : 1 + 1 = 2 := by sorry", "by norm_num")
    assert prep.cmd.startswith("theorem formalpi_example_") and prep.name.startswith("formalpi_example_")
    assert declared_name("@[simp] theorem Foo.bar (n : ℕ) : n = n") == "Foo.bar"


def test_sorry_warning_in_both_quote_styles_without_sorries_is_incomplete() -> None:
    prep = prepare(STATEMENT, "by linarith")
    for quote in ("'sorry'", "`sorry`"):
        reply = _reply({"messages": [{"severity": "warning", "pos": {"line": 1, "column": 8},
                                      "data": f"declaration uses {quote}"}], "env": 1})
        v = judge(prep, reply, STD)
        assert v.status is Status.INCOMPLETE and "warning" in v.reason


def test_recorded_sorry_replies_are_incomplete_in_both_versions() -> None:
    for version in ("v4.24.0", "v4.33.0-rc2"):
        out = shared_path("lean", "repl-transcripts", version, "readme.expected.out").read_text()
        reply = _reply(json.loads(re.split(r"\n\s*\n", out)[0], strict=False))
        v = judge(prepare(STATEMENT, "by linarith"), reply, STD)
        assert v.status is Status.INCOMPLETE and v.sorries


def test_recorded_error_reply_gives_proof_relative_feedback() -> None:
    out = shared_path("lean", "repl-transcripts", "v4.24.0", "incomplete.expected.out").read_text()
    reply = _reply(json.loads(re.split(r"\n\s*\n", out)[1], strict=False))  # errors on lines 3 and 1
    prep = prepare("theorem f (x : Bool) : Nat := by\n", "by_cases x\n{ apply Nat.succ }")
    assert prep.body_line == 2
    v = judge(prep, reply, None)
    assert v.status is Status.ERROR
    assert v.feedback.startswith("line 2: unsolved goals\ncase pos")
    assert len(v.messages) == 2


def test_axioms_gate() -> None:
    prep = prepare(STATEMENT, "by linarith")
    ok = judge(prep, _reply({"env": 1}), STD)
    assert ok.status is Status.VALID and ok.score == 1.0 and set(ok.axioms) == {"propext", "Classical.choice",
                                                                                 "Quot.sound"}
    none = judge(prep, _reply({"env": 1}), _info("'mathd_t' does not depend on any axioms"))
    assert none.status is Status.VALID and none.axioms == []
    for extra in ("sorryAx", "Lean.ofReduceBool", "cheat"):
        v = judge(prep, _reply({"env": 1}), _info(f"'mathd_t' depends on axioms: [propext, {extra}]"))
        assert v.status is Status.REJECTED and extra in v.reason
    unknown = _reply({"messages": [{"severity": "error", "data": "unknown constant 'mathd_t'"}], "env": 2})
    assert judge(prep, _reply({"env": 1}), unknown).status is Status.REJECTED
    assert judge(prep, _reply({"env": 1}), None).status is Status.REJECTED
    assert judge(prep, ReplError(message="Unknown environment."), None).status is Status.CRASH


def test_wrapped_axioms_list_parses() -> None:
    assert parse_axioms(_info("'t' depends on axioms:\n[propext,\n Classical.choice,\n Quot.sound]")) == [
        "propext", "Classical.choice", "Quot.sound"]


def test_empty_proof_is_no_answer() -> None:
    v = prepare(STATEMENT, "  \n")
    assert isinstance(v, Verdict) and v.status is Status.NO_ANSWER
