"""Strict acceptance: forbidden constructs, restated theorems, sorry in both quote styles, axioms, feedback."""

from __future__ import annotations

import json
import re

import pytest

from formalpi.lean.protocol import CommandReply, ReplError, parse_reply
from formalpi.lean.details import lean_details
from formalpi.lean.text import mask_comments_and_strings
from formalpi.lean.verdict import (
    PreparedProof,
    declared_name,
    find_forbidden,
    judge,
    parse_axioms,
    prepare,
    proof_body,
    split_proof,
)
from formalpi.records import Status, Verdict
from tests.conftest import shared_path

STATEMENT = "theorem mathd_t (x : ℝ) (h₀ : x = 2) : x + 1 = 3 := by\n  sorry"


def _reply(obj: dict) -> CommandReply:
    r = parse_reply(obj)
    assert isinstance(r, CommandReply)
    return r


def _info(text: str, line: int = 1) -> dict:
    return {"severity": "info", "pos": {"line": line, "column": 0}, "data": text}


STD = "'mathd_t' depends on axioms: [propext, Classical.choice, Quot.sound]"


def _answer(prep, proof_messages: list[dict] | None = None, axioms: str | None = STD, **extra) -> CommandReply:
    """A reply to the one command: the proof's messages, then (as Lean v4.24 would) the `#print axioms` info
    at the line of our check."""
    msgs = list(proof_messages or [])
    if axioms is not None:
        msgs.append(_info(axioms, prep.axiom_lines[0][0]))
    return _reply({"messages": msgs, "env": 1, **extra})


@pytest.mark.parametrize(
    "text, construct",
    [
        ("axiom cheat : False\nexact cheat.elim", "axiom"),
        ("set_option debug.skipKernelTC true in\nsimp", "set_option debug.skipKernelTC"),
        ("@[implemented_by foo] def g := 1\nsimp", "@["),
        ('@[extern "c_fn"] def g : Nat := 1\nsimp', "@["),
        ("unsafe def g := 1\nsimp", "unsafe"),
        ("partial def g : Nat → Nat := g\nsimp", "partial"),
        ('elab "foo" : tactic => pure ()\nfoo', "elab"),
        ('macro "foo" : tactic => `(tactic| simp)\nfoo', "macro"),
        ('syntax "foo" : tactic\nsimp', "syntax"),
        ('notation "⊤⊤" => True\nsimp', "notation"),
        ("instance : Inhabited Nat := ⟨0⟩\nsimp", "instance"),
        ("#eval 1\nsimp", "#eval"),
        ("run_cmd pure ()\nsimp", "run_cmd"),
        ("open private foo in\nsimp", "open"),
        ("apply?", "apply?"),
        ("exact?", "exact?"),
        ("nlinarith\nsorry", "sorry"),
        ("admit", "admit"),
        ("native_decide", "native_decide"),
        ("exact (modifyEnv id)", "modifyEnv"),
    ],
)
def test_forbidden_constructs_are_rejected_with_the_construct_named(text: str, construct: str) -> None:
    v = prepare(STATEMENT, text)
    assert isinstance(v, Verdict) and v.status is Status.REJECTED
    assert f"`{construct}`" in v.reason


@pytest.mark.parametrize(
    "text",
    [
        "have h_axiom_free : x + 1 = 3 := by linarith\nexact h_axiom_free",
        "have instance_count : 1 = 1 := rfl\nlinarith",
        "-- we could use sorry or native_decide here, but no\nlinarith",
        "/- axiom? no. /- nested sorry -/ still comment -/\nlinarith",
        'have s : "sorry axiom #eval" = "sorry axiom #eval" := rfl\nlinarith',
        "have h' : x = 2 := h₀\nexact (by simp [h'] : x + 1 = 3)",
        "exact inferInstance.elim' sorry_free",
        "simp? says simp\nlinarith",
    ],
)
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


def test_restated_theorem_keeps_its_own_statement_and_is_type_checked_against_the_trusted_one() -> None:
    model = (
        "import Mathlib\nopen Real\n\n"
        "lemma helper (y : ℝ) : y + 0 = y := by simp\n\n"
        "theorem mathd_t (x : ℝ) (h₀ : x = 2) : x + 1 = 5 := by\n  rw [h₀]\n  norm_num"
    )
    bare = model.split("\n\n", 1)[1]
    assert proof_body(bare) == "by\n  rw [h₀]\n  norm_num"
    preamble, body = split_proof(bare)
    assert "lemma helper" in preamble and "import" not in preamble
    prep = prepare(STATEMENT, model, "import Mathlib\nopen Real")  # header lines repeated verbatim are dropped
    assert not isinstance(prep, Verdict), prep
    # the model's own declaration is sent; the constant's type is checked against the trusted statement (`= 3`),
    # so this wrong restatement fails the type check in Lean
    assert "theorem mathd_t (x : ℝ) (h₀ : x = 2) : x + 1 = 5 := by\n  rw [h₀]" in prep.cmd
    typ = prep.cmd.splitlines()[prep.type_lines[0] - 1]
    assert typ == "example : ∀ (x : ℝ) (h₀ : x = 2), x + 1 = 3 := @_root_.mathd_t"
    assert "import" not in prep.cmd
    assert prep.cmd.index("lemma helper") < prep.cmd.index("theorem mathd_t")
    assert prep.name == "mathd_t"
    assert isinstance(prepare(STATEMENT, model), Verdict)  # without that header, `import` is refused


def test_binder_default_values_do_not_fool_the_body_split() -> None:
    model = "theorem t (n : ℕ := 3) (h : n = 3) : n + 0 = 3 := by simp [h]"
    assert proof_body(model) == "by simp [h]"
    assert proof_body("  simp\n  linarith") == "  simp\n  linarith"


def test_tactic_body_without_by_is_wrapped_and_indented() -> None:
    prep = prepare("theorem t : 1 + 1 = 2 := by\n", "norm_num\nrfl")
    assert prep.cmd.startswith("theorem t : 1 + 1 = 2 := by\n  norm_num\n  rfl\n\n") and prep.body_line == 2
    assert prep.cmd.endswith("\n\nexample : 1 + 1 = 2 := @_root_.t\n\n#print axioms _root_.t\n")
    assert prep.type_lines == (5, 6) and prep.axiom_lines == ((7, "t"),) and prep.check_line == 5


def test_example_gets_a_fresh_name_for_print_axioms() -> None:
    prep = prepare("example : 1 + 1 = 2 := by sorry", "by norm_num")
    assert prep.cmd.startswith("theorem formalpi_example_") and prep.name.startswith("formalpi_example_")
    assert declared_name("@[simp] theorem Foo.bar (n : ℕ) : n = n") == "Foo.bar"


def test_sorry_warning_in_both_quote_styles_without_sorries_is_incomplete() -> None:
    prep = prepare(STATEMENT, "by linarith")
    for quote in ("'sorry'", "`sorry`"):
        warning = {"severity": "warning", "pos": {"line": 1, "column": 8}, "data": f"declaration uses {quote}"}
        v = judge(prep, _answer(prep, [warning]))
        assert v.status is Status.INCOMPLETE and "warning" in v.reason


def test_recorded_sorry_replies_are_incomplete_in_both_versions() -> None:
    for version in ("v4.24.0", "v4.33.0-rc2"):
        out = shared_path("lean", "repl-transcripts", version, "readme.expected.out").read_text()
        reply = _reply(json.loads(re.split(r"\n\s*\n", out)[0], strict=False))
        v = judge(prepare(STATEMENT, "by linarith"), reply)
        assert v.status is Status.INCOMPLETE and lean_details(v).sorries


def test_recorded_error_reply_gives_proof_relative_feedback() -> None:
    out = shared_path("lean", "repl-transcripts", "v4.24.0", "incomplete.expected.out").read_text()
    reply = _reply(json.loads(re.split(r"\n\s*\n", out)[1], strict=False))  # errors on lines 3 and 1
    prep = prepare("theorem f (x : Bool) : Nat := by\n", "by_cases x\n{ apply Nat.succ }")
    assert prep.body_line == 2
    v = judge(prep, reply)
    assert v.status is Status.ERROR
    assert v.feedback.startswith("line 2: unsolved goals\ncase pos")
    assert len(lean_details(v).messages) == 2


def test_axioms_gate() -> None:
    prep = prepare(STATEMENT, "by linarith")
    ok = judge(prep, _answer(prep))
    assert ok.status is Status.VALID and ok.score == 1.0
    assert set(lean_details(ok).axioms) == {"propext", "Classical.choice", "Quot.sound"}
    none = judge(prep, _answer(prep, axioms="'mathd_t' does not depend on any axioms"))
    assert none.status is Status.VALID and lean_details(none).axioms == []
    for extra in ("sorryAx", "Lean.ofReduceBool", "cheat"):
        v = judge(prep, _answer(prep, axioms=f"'mathd_t' depends on axioms: [propext, {extra}]"))
        assert v.status is Status.REJECTED and extra in v.reason
    line = prep.axiom_lines[0][0]
    unknown = _reply(
        {
            "messages": [
                {"severity": "error", "pos": {"line": line, "column": 0}, "data": "unknown constant 'mathd_t'"}
            ],
            "env": 2,
        }
    )
    assert judge(prep, unknown).status is Status.REJECTED
    assert judge(prep, _answer(prep, axioms=None)).status is Status.REJECTED  # no axiom message at all
    assert judge(prep, ReplError(message="Unknown environment.")).status is Status.CRASH


def test_axiom_message_must_be_ours_one_and_about_the_trusted_name() -> None:
    prep = prepare(STATEMENT, "by linarith")
    line = prep.axiom_lines[0][0]
    # a message the proof printed (line 2) in the right words does not count: it is not on our line
    forged = _reply({"messages": [_info("'mathd_t' does not depend on any axioms", 2)], "env": 1})
    assert judge(prep, forged).status is Status.REJECTED
    other = _answer(prep, axioms="'Shadow.mathd_t' does not depend on any axioms")
    assert judge(prep, other).status is Status.REJECTED and "Shadow.mathd_t" in judge(prep, other).reason
    two = _reply(
        {
            "messages": [
                _info("'mathd_t' does not depend on any axioms", line),
                _info("'mathd_t' does not depend on any axioms", line),
            ],
            "env": 1,
        }
    )
    assert judge(prep, two).status is Status.REJECTED
    mismatch = _answer(
        prep,
        [{"severity": "error", "pos": {"line": prep.type_lines[0], "column": 0}, "data": "type mismatch\n  @mathd_t"}],
    )
    v = judge(prep, mismatch)
    assert v.status is Status.REJECTED and v.reason.startswith("statement check")


def test_wrapped_axioms_list_parses() -> None:
    assert parse_axioms(
        _reply({"messages": [_info("'t' depends on axioms:\n[propext,\n Classical.choice,\n Quot.sound]")]})
    ) == ["propext", "Classical.choice", "Quot.sound"]


def test_empty_proof_is_no_answer() -> None:
    v = prepare(STATEMENT, "  \n")
    assert isinstance(v, Verdict) and v.status is Status.NO_ANSWER


def test_alpha_renamed_restatement_is_sent_with_its_own_binders_and_checked_by_type() -> None:
    stmt = "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
    prep = prepare(stmt, "theorem t (n : ℕ) (h0 : n + 3 = 5) : n = 2 := by linarith [h0]", "import Mathlib\n")
    assert isinstance(prep, PreparedProof), prep
    assert prep.cmd.startswith("theorem t (n : ℕ) (h0 : n + 3 = 5) : n = 2 := by linarith [h0]")
    assert "example : ∀ (x : ℕ) (h₀ : x + 3 = 5), x = 2 := @_root_.t" in prep.cmd


def test_full_file_completion_header_is_read_as_a_header() -> None:
    header = "import Mathlib\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"
    stmt = "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
    model = (
        "import Mathlib\nimport Aesop\nimport Mathlib.Tactic.Linarith\n\nset_option maxHeartbeats 400000\n\n"
        "open BigOperators Real Nat Topology Rat\n\n/-- doc -/\ntheorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
        "  omega"
    )
    prep = prepare(stmt, model, header)
    assert isinstance(prep, PreparedProof), prep
    head = prep.cmd[: prep.cmd.index("theorem t")]
    assert head == "set_option maxHeartbeats 400000 in\nopen BigOperators Real Nat Topology Rat in\n/-- doc -/\n"
    assert "import" not in prep.cmd and "import Aesop (provided by the trusted header)" in prep.dropped
    for bad, what in (
        ("import Lake\n", "import Lake"),
        ("set_option pp.all true\n", "set_option pp.all"),
        ("set_option debug.skipKernelTC true\n", "set_option debug.skipKernelTC"),
        ("open Nat\nimport Mathlib\n", "import"),
        ("open Lean.Elab\n", "Lean.Elab"),
        ("open Lean renaming ofReduceBool → ok\n", "ofReduceBool"),
    ):
        v = prepare(stmt, bad + "\ntheorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by omega", header)
        assert isinstance(v, Verdict) and f"`{what}`" in v.reason, (bad, v)
    assert isinstance(prepare(stmt, "  omega\n\nopen Nat", header), Verdict)  # nothing after the proof


def test_file_level_prefix_goes_before_a_doc_comment() -> None:
    """A doc comment is part of its declaration (Lean's `declModifiers`), so the `… in` prefix a file-level `open`
    becomes must go before it: `/-- doc -/ open X in theorem …` is a parse error in Lean."""
    stmt = "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
    model = (
        "import Mathlib\nopen Nat\n\n/-- a helper -/\ntheorem aux : True := trivial\n\n"
        "/-- the problem -/\ntheorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n  omega"
    )
    prep = prepare(stmt, model, "import Mathlib\n")
    assert isinstance(prep, PreparedProof), prep
    assert re.search(r"-/\s*open", prep.cmd) is None, prep.cmd
    assert "open Nat in\n/-- a helper -/\ntheorem aux" in prep.cmd
    assert "open Nat in\n/-- the problem -/\ntheorem t" in prep.cmd


def test_helper_theorem_by_equations() -> None:
    stmt = "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
    model = (
        "theorem aux : ∀ n : ℕ, n + 0 = n\n  | 0 => rfl\n  | n + 1 => rfl\n\n"
        "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by omega"
    )
    prep = prepare(stmt, model, "import Mathlib\n")
    assert isinstance(prep, PreparedProof) and prep.cmd.startswith("theorem aux : ∀ n : ℕ, n + 0 = n\n  | 0 => rfl")


def test_restated_under_another_name_is_grafted_onto_the_trusted_statement() -> None:
    stmt = "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
    prep = prepare(stmt, "theorem my_t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by omega", "import Mathlib\n")
    assert isinstance(prep, PreparedProof) and prep.cmd.startswith(
        "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by omega"
    )


def test_import_closure_data_names_its_sources_and_decides_imports() -> None:
    from formalpi.lean.verdict import lake_in_scope, provided_modules

    header = "import Mathlib\n"
    got = provided_modules(header)
    for m in (
        "Mathlib",
        "Aesop",
        "Batteries",
        "Mathlib.Tactic.Linarith",
        "Batteries.Data.List.Basic",
        "Qq",
        "Lean",
        "Plausible",
        "ProofWidgets.Component.HtmlDisplay",
    ):
        assert m in got, m
    assert "Lake" not in got and not lake_in_scope(header) and "Mathlib.Shadow" not in got
    assert provided_modules("import Mathlib.Tactic.Ring\n") == frozenset({"Mathlib.Tactic.Ring"})


def test_abs_bars_starting_a_line_of_the_type_are_not_equations() -> None:
    stmt = "theorem t (x : ℝ) (h₀ : x = 2) :\n    |x| = 2 := by\n"
    prep = prepare(stmt, "theorem other (x : ℝ) (h₀ : x = 2) :\n    |x| = 2 := by\n  simp [h₀]", "import Mathlib\n")
    assert isinstance(prep, PreparedProof) and "|x| = 2 := by\n  simp [h₀]" in prep.cmd
