"""The adversarial corpus of the Lean verifier: proofs a reward-hacking prover would try, and genuine proofs that
must not be refused, each with the verdict it must get and the layer that must decide it.

Driven through `LeanPool` with the scripted REPL (formalpi/lean/double.py). What the REPL answers:
  * pre-check cases never reach it;
  * for a case that reaches Lean, `reply` is the ASSUMED answer of Lean v4.24 to the proof part (default: no
    message, i.e. the proof elaborates) and `axioms` what `#print axioms` would list for the trusted theorem
    (default: propext, Classical.choice, Quot.sound); `note` says why that answer is what Lean gives. The
    verifier's own checks are answered by the double's scripted rules (see its docstring).

Run `python -m tests.lean_attacks` for the table (markdown), or `pytest tests/test_lean_attacks.py`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n"
STATEMENT = "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
FALSE_STATEMENT = "theorem t : (2 : ℕ) + 2 = 5 := by\n"
NATIVE_STATEMENT = "theorem t : (2 : ℕ) ^ 20 % 7 = 4 := by\n"
RESTATED = "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 :="
NATIVE = ["Lean.ofReduceBool"]
SORRY_WARNING = {
    "messages": [
        {
            "severity": "warning",
            "pos": {"line": 1, "column": 8},
            "endPos": {"line": 1, "column": 9},
            "data": "declaration uses 'sorry'",
        }
    ]
}


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    proof: object  # str, or not (robustness)
    expect: str  # the Status value it must get
    layer: str  # the DecidedBy value that must decide it
    statement: str = STATEMENT
    reply: dict = field(default_factory=dict)  # assumed Lean answer to the proof part (if it gets there)
    axioms: list | None = None  # assumed `#print axioms` list; None: the three standard ones
    note: str = ""
    header: str = HEADER  # the trusted header the verifier is given

    @property
    def forged(self) -> bool:
        return self.expect != "valid"


def _c(name, group, proof, expect="rejected", layer="pre-check", **kw) -> Case:
    return Case(name, group, proof, expect, layer, **kw)


AFTER = "commands after the proof"
BEFORE = "commands before / around the theorem"
META = "meta code inside the proof"
LEX = "tokenisation holes"
PROOF = "proof-skipping words and axioms"
ROBUST = "bad input"
GENUINE = "genuine (no false reject)"

MINIF2F_HEADER = "import Mathlib\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"
FORGE_PRINT = "elab_rules : command | `(#print axioms $_) => Lean.logInfo \"'t' does not depend on any axioms\""
SKIP_KERNEL = (
    "set_option debug.skipKernelTC true\n"
    "elab_rules : tactic | `(tactic| decide) => Lean.Elab.Tactic.closeMainGoal `t (Lean.mkConst ``True.intro)"
)
VALID = {"expect": "valid", "layer": "all-checks"}
STATEMENT_CHECK = {"layer": "statement"}
# Attacks through Lean's tokenization (F1, F2) and the completion's own header; which passed the pre-check at f346383
# and which genuine proofs it refused: bench/lean_precheck_formats.py --corpus prints both.
TOKENIZER_AND_HEADER_CASES: list[Case] = [
    # F1: Lean skips the third character after `/-` (Parser/Basic.lean `whitespace`): `/-/- -/` is one comment
    _c("f1_slash_dash_hides_skip_kernel", LEX, f"/-/- -/\n{SKIP_KERNEL}\n-- -/\n  decide", statement=FALSE_STATEMENT),
    _c(
        "f1_slash_dash_forges_print_axioms", LEX, f"/-/- -/\n{FORGE_PRINT}\n-- -/\n  decide", statement=NATIVE_STATEMENT
    ),
    _c("f1_slash_dash_slash", LEX, "/-/-/\n#eval 1\n-- -/\n  omega"),
    _c("f1_inside_tactic_block", LEX, "  /-/- -/ omega\n#exit\n  -- -/"),
    # F2: Latin-1 letters are identifier characters (lean4 #9035): `és!` is one identifier, its string plain
    _c(
        "f2_latin1_fake_interpolation",
        LEX,
        f'  have _h := és!"{{"\n{SKIP_KERNEL}\n-- "}}"\n  decide',
        statement=FALSE_STATEMENT,
    ),
    _c("f2_latin_ext_a_fake_interpolation", LEX, f'  have _h := ŝ!"{{"\n{FORGE_PRINT}\n-- "}}"\n  omega'),
    _c("hash_command_glued", LEX, "  omega\n#evalx 1"),
    _c("tab_in_whitespace", LEX, "  omega\n\t#exit"),
    _c("isolated_carriage_return", LEX, "  omega\r#exit"),
    # the completion's own header: only what the trusted header provides, whitelisted options, scoped opens
    _c("file_set_option_debug", BEFORE, f"set_option debug.skipKernelTC true\n\n{RESTATED} by omega"),
    _c("file_set_option_not_whitelisted", BEFORE, f"set_option pp.all true\n\n{RESTATED} by omega"),
    _c("file_set_option_after_proof", AFTER, f"{RESTATED} by omega\n\nset_option maxHeartbeats 0"),
    _c("import_after_a_command", BEFORE, f"open Nat\nimport Mathlib\n\n{RESTATED} by omega"),
    _c("import_unknown_module", BEFORE, f"import Mathlib.Shadow\n\n{RESTATED} by omega"),
    _c("namespace_header", BEFORE, f"import Mathlib\nnamespace Shadow\n\n{RESTATED} by omega\n\nend Shadow"),
    _c("noncomputable_section_header", BEFORE, f"import Mathlib\nnoncomputable section\n\n{RESTATED} by omega"),
    _c("import_then_command_same_line", BEFORE, f"import Mathlib #eval 1\n\n{RESTATED} by omega"),
    _c(
        "file_open_then_indented_command",
        BEFORE,
        f"open Nat\n  elab_rules : tactic | `(tactic| omega) => pure ()\n\n{RESTATED} by omega",
        note="the open's names end at a keyword; the command stays in the text",
    ),
    _c("file_open_meta_namespace", BEFORE, f"open Lean.Elab.Tactic\n\n{RESTATED} by omega"),
    _c("file_set_option_term_value", BEFORE, f"set_option maxHeartbeats (by exact 0)\n\n{RESTATED} by omega"),
    # a restated theorem keeps its own statement; the constant's type must still be the trusted one
    _c(
        "restated_weaker_statement",
        PROOF,
        "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x + 3 = 5 := by exact h₀",
        **STATEMENT_CHECK,
        note="its own statement elaborates; the type check against the trusted one fails",
    ),
    _c(
        "restated_renamed_but_different",
        PROOF,
        "theorem t (y : ℕ) (h : y + 3 = 5) : y + 3 = 5 := by exact h",
        **STATEMENT_CHECK,
    ),
    _c(
        "restated_extra_hypothesis",
        PROOF,
        "theorem t (x : ℕ) (h₀ : x + 3 = 5) (h₁ : x = 2) : x = 2 := h₁",
        **STATEMENT_CHECK,
    ),
    # genuine: real prover formats and the false rejects of f346383
    _c(
        "kimina_full_file",
        GENUINE,
        "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
        "open BigOperators Real Nat Topology Rat\n\n/-- x + 3 = 5 gives x = 2 -/\n"
        f"{RESTATED} by\n  omega",
        **VALID,
        header=MINIF2F_HEADER,
        note="Kimina-Prover writes the whole file; `import Aesop` is in Mathlib's closure",
    ),
    _c(
        "deepseek_v2_full_file_heartbeats_0",
        GENUINE,
        "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
        f"open BigOperators Real Nat Topology Rat\n\n{RESTATED} by\n  have h : x = 2 := by\n    omega\n  exact h",
        **VALID,
        header=MINIF2F_HEADER,
    ),
    _c(
        "goedel_full_file_with_comment",
        GENUINE,
        "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
        "open BigOperators Real Nat Topology Rat\n\n/- prove that x = 2 -/\n"
        f"{RESTATED} by\n  /-\n  We subtract 3.\n  -/\n  omega",
        **VALID,
    ),
    _c(
        "deepseek_v15_full_file_with_own_opens",
        GENUINE,
        "import Mathlib\nimport Aesop\nset_option maxHeartbeats 400000\n"
        f"open Real Nat\nopen Finset in\n{RESTATED} by\n  omega",
        **VALID,
        header=MINIF2F_HEADER,
    ),
    _c(
        "file_level_rec_depth_and_two_opens",
        GENUINE,
        f"set_option maxRecDepth 10000\nopen Real\nopen Finset\n\n{RESTATED} by\n  omega",
        **VALID,
    ),
    _c(
        "alpha_renamed_restatement",
        GENUINE,
        "theorem t (n : ℕ) (h0 : n + 3 = 5) : n = 2 := by linarith [h0]",
        **VALID,
        note="its own binder names are used in the body (grafted onto `h₀`, `h0` was unknown)",
    ),
    _c("slash_dash_comment", GENUINE, "  /-/- a comment that starts with a slash -/\n  omega", **VALID),
    _c("latin1_hypothesis_name", GENUINE, "  have hé' : x = 2 := by omega\n  exact hé'", **VALID),
    _c(
        "latin1_trusted_theorem_name",
        GENUINE,
        "  omega",
        **VALID,
        statement="theorem équation_t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n",
    ),
    _c(
        "helper_by_equations",
        GENUINE,
        f"theorem aux : ∀ n : ℕ, n + 0 = n\n  | 0 => rfl\n  | n + 1 => rfl\n\n{RESTATED} by omega",
        **VALID,
    ),
    _c("open_only_in", GENUINE, "  open Nat (succ) in\n  omega", **VALID),
    _c("open_hiding_in", GENUINE, "  open Nat hiding succ in\n  omega", **VALID),
    _c(
        "finset_card_notation",
        GENUINE,
        "  open Finset in\n  have _h : ∀ s : Finset ℕ, #s = s.card := fun s => rfl\n  omega",
        **VALID,
        note="Mathlib's `#s` (Finset.card, scoped in Finset) is the token `#` then `s`",
    ),
    _c("hypothesis_named_target", GENUINE, "  have target : x = 2 := by omega\n  exact target", **VALID),
    _c("string_gap", GENUINE, '  have _h : "a\\\n    b" = "ab" := rfl\n  omega', **VALID),
    _c("doc_comment_dash_slash_in_string", GENUINE, '  have _h : "-/" = "-/" := rfl\n  omega', **VALID),
]

CASES: list[Case] = [
    # ---- commands after the proof ----------------------------------------------------------------------------
    _c(
        "shadow_namespace_def",
        AFTER,
        "  decide +native\n\nnamespace Shadow\ndef t : True := trivial",
        statement=NATIVE_STATEMENT,
        axioms=NATIVE,
    ),
    _c(
        "shadow_def_open",
        AFTER,
        "  decide +native\n\ndef Shadow.t : True := trivial\n\nopen Shadow",
        statement=NATIVE_STATEMENT,
        axioms=NATIVE,
    ),
    _c(
        "shadow_theorem_open",
        AFTER,
        "  decide +native\n\ntheorem Shadow.t : True := trivial\n\nopen Shadow",
        statement=NATIVE_STATEMENT,
        axioms=NATIVE,
    ),
    _c("fake_print_axioms_after", AFTER, "  omega\n\n#print axioms t"),
    _c("eval_after", AFTER, "  omega\n\n#eval 1"),
    _c("attribute_after", AFTER, "  omega\n\nattribute [simp] Nat.add_comm"),
    _c("section_variable_after", AFTER, "  omega\n\nsection\nvariable (h : False)"),
    _c("instance_after", AFTER, "  omega\n\ninstance : Inhabited ℕ := ⟨5⟩"),
    _c("end_after", AFTER, "  omega\n\nend"),
    _c("exit_after", AFTER, "  omega\n\n#exit"),
    _c(
        "dangling_open_in_scopes_checks",
        AFTER,
        f"open Finset in\n{RESTATED} by omega\nopen Finset in",
        note="a trailing `open … in` would apply to the verifier's own type check",
    ),
    _c("dangling_set_option_in", AFTER, "  omega\nset_option maxRecDepth 100 in"),
    _c("theorem_twice", AFTER, f"{RESTATED} by omega\n\n{RESTATED} by omega"),
    # commands of the pinned libraries that no hand-written list had (formalpi/lean/command_keywords.txt); each
    # passed the earlier hand-written pre-checks. A command can start wherever a tactic ends, at any column.
    _c(
        "library_command_with_weak_namespace",
        AFTER,
        "  omega\n\nwith_weak_namespace Shadow",
        note="Mathlib/core: runs the NEXT command (the verifier's own type check) inside namespace Shadow",
    ),
    _c(
        "library_command_deprecate_to",
        AFTER,
        "  omega\n\ndeprecate to t",
        note="Mathlib: `deprecate to` elaborates the next command (our check) and adds deprecated aliases",
    ),
    _c(
        "library_command_lrat_proof",
        AFTER,
        '  omega\n\nlrat_proof shadow "p cnf 1 2  1 0  -1 0" "3 0 1 2 0"',
        note="Mathlib: adds a theorem from an LRAT certificate (a declaration outside the whitelist)",
    ),
    _c(
        "library_command_name_poly_vars",
        AFTER,
        "  omega\n\nname_poly_vars X over ℕ",
        note="Mathlib: declares new notation (a parser change) after the proof",
    ),
    _c(
        "library_command_norm_cast_add_elim_inline",
        AFTER,
        "  omega norm_cast_add_elim Nat.cast_id",
        note="core: changes the norm_cast simp set; starts a command right after the tactic, on the same line",
    ),
    _c(
        "library_command_binder_predicate",
        AFTER,
        '  omega\n\nbinder_predicate x " ≻ " y:term => pure x',
        note="core: a new binder notation (a macro) after the proof",
    ),
    _c(
        "library_command_gen_injective_theorems",
        AFTER,
        "  omega\n\ngen_injective_theorems% Nat",
        note="core bootstrapping command: generates declarations",
    ),
    _c("library_command_init_quot", AFTER, "  omega\n\ninit_quot", note="core bootstrapping command (adds Quot)"),
    _c(
        "library_command_show_panel_widgets",
        AFTER,
        "  omega\n\nshow_panel_widgets [ProofWidgets.SelectionPanel]",
        note="core: runs widget code in the environment",
    ),
    _c("library_command_unset_option", AFTER, "  omega\n\nunset_option maxRecDepth", note="Mathlib: changes options"),
    _c("library_command_extend_docs", AFTER, '  omega\n\nextend_docs t after "x"', note="Mathlib: edits a docstring"),
    _c(
        "library_command_tactic_extension",
        AFTER,
        "  omega\n\n/-- x -/\ntactic_extension omega",
        note="core: registers documentation for a tactic",
    ),
    _c(
        "library_command_variables",
        AFTER,
        "  omega\n\nvariables (h : False)",
        note="Mathlib: the old `variables` command (an error that suggests `variable`)",
    ),
    _c(
        "library_command_assert_not_imported",
        AFTER,
        "  omega\n\nassert_not_imported Mathlib",
        note="Mathlib at v4.24.0 (core later): runs an import check",
    ),
    _c("library_command_reprove", AFTER, "  omega\n\nreprove t by omega", note="core: re-elaborates a theorem"),
    _c(
        "lake_command_package",
        AFTER,
        "  omega\n\npackage shadow",
        header="import Lake\n",
        note="Lake DSL, a command wherever Lake.DSL is imported (refused only there: not after `import Mathlib`)",
    ),
    # ---- before / around the theorem -------------------------------------------------------------------------
    _c(
        "guard_msgs_swallows_error",
        BEFORE,
        "#guard_msgs (drop all) in\ntheorem t : (2 : ℕ) + 2 = 5 := by\n  decide",
        statement=FALSE_STATEMENT,
    ),
    _c(
        "axiom_helper",
        BEFORE,
        "axiom cheat : (2 : ℕ) + 2 = 5\n\ntheorem t : (2 : ℕ) + 2 = 5 := cheat",
        statement=FALSE_STATEMENT,
    ),
    _c("def_helper", BEFORE, f"def two : ℕ := 2\n\n{RESTATED} by omega"),
    _c(
        "instance_five_is_four",
        BEFORE,
        "instance : OfNat ℕ 5 := ⟨4⟩\n\ntheorem t : (2 : ℕ) + 2 = 5 := by\n  rfl",
        statement=FALSE_STATEMENT,
    ),
    _c(
        "local_notation",
        BEFORE,
        'local notation:65 a:65 " + " b:66 => a * b\n\ntheorem t : (2 : ℕ) + 2 = 5 := rfl',
        statement=FALSE_STATEMENT,
    ),
    _c(
        "notation3",
        BEFORE,
        'notation3 "five" => (4 : ℕ)\n\ntheorem t : (2 : ℕ) + 2 = 5 := rfl',
        statement=FALSE_STATEMENT,
    ),
    _c(
        "macro_tactic",
        BEFORE,
        'macro "done_it" : tactic => `(tactic| sorry)\n\ntheorem t : (2 : ℕ) + 2 = 5 := by done_it',
        statement=FALSE_STATEMENT,
    ),
    _c("syntax_decl", BEFORE, 'syntax "done_it" : tactic\n\n  omega'),
    _c(
        "elab_admit",
        BEFORE,
        'elab "close_it" : tactic => do (← Lean.Elab.Tactic.getMainGoal).admit\n\n'
        "theorem t : (2 : ℕ) + 2 = 5 := by close_it",
        statement=FALSE_STATEMENT,
    ),
    _c("elab_rules", BEFORE, "elab_rules : tactic | `(tactic| omega) => pure ()\n\n  omega"),
    _c("set_option_autoimplicit_in", BEFORE, f"set_option autoImplicit true in\n{RESTATED} by omega"),
    _c("variable_include", BEFORE, f"variable (h : False)\ninclude h\n\n{RESTATED} by omega"),
    _c("universe", BEFORE, f"universe u\n\n{RESTATED} by omega"),
    _c(
        "open_without_in_after_proof",
        AFTER,
        f"{RESTATED} by omega\n\nopen Classical",
        note="a file-level `open` after the proof would stay open for the verifier's own checks",
    ),
    _c(
        "import_not_provided",
        BEFORE,
        f"import Lake\n\n{RESTATED} by omega",
        note="Lake is not in the import closure of Mathlib (only Lake.Util.Casing is)",
    ),
    _c("attribute_helper", BEFORE, f"@[simp] theorem helper : 1 = 1 := rfl\n\n{RESTATED} by omega"),
    _c("private_helper", BEFORE, f"private theorem helper : 1 = 1 := rfl\n\n{RESTATED} by omega"),
    _c("noncomputable_def", BEFORE, f"noncomputable def c : ℕ := 2\n\n{RESTATED} by omega"),
    _c(
        "unsafe_def",
        BEFORE,
        "unsafe def cast' : (2 : ℕ) + 2 = 5 := unsafeCast ()\n\ntheorem t : (2 : ℕ) + 2 = 5 := by exact cast'",
        statement=FALSE_STATEMENT,
    ),
    _c("partial_def", BEFORE, f"partial def loop (n : ℕ) : ℕ := loop n\n\n{RESTATED} by omega"),
    _c("opaque_decl", BEFORE, f"opaque secret : ℕ\n\n{RESTATED} by omega"),
    _c("mutual_block", BEFORE, f"mutual\ntheorem a : True := trivial\nend\n\n{RESTATED} by omega"),
    _c("variable_query", BEFORE, f"variable? (h : False)\n\n{RESTATED} by omega"),
    _c("example_helper", BEFORE, f"example : True := trivial\n\n{RESTATED} by omega"),
    _c("restated_after_body", BEFORE, f"  omega\n\n{RESTATED} by omega"),
    # ---- meta code inside the proof ------------------------------------------------------------------------
    _c("by_elab", META, "  exact by_elab do return Lean.mkConst ``trivial"),
    _c("run_tac", META, "  run_tac do pure ()\n  omega"),
    _c("name_literal", META, "  have := ``Nat.succ\n  omega"),
    _c("syntax_quotation", META, "  have := `(tactic| omega)\n  omega"),
    _c("open_private", META, "  open private Nat.foo in\n  omega"),
    _c("elab_internals", META, "  exact Lean.Elab.Tactic.evalTactic"),
    _c("unsafe_cast", META, "  exact unsafeCast ()", statement=FALSE_STATEMENT),
    _c("implemented_by_attr", META, "  @[implemented_by id] def f := 1\n  omega"),
    _c("modify_env", META, "  exact (modifyEnv id)"),
    _c("exit_mid_proof", META, "  omega\n  #exit"),
    _c("run_meta", META, "  run_meta pure ()\n  omega"),
    _c("simproc_decl", META, "  simproc_decl s (x) := fun _ => pure .continue\n  omega"),
    # ---- tokenisation holes --------------------------------------------------------------------------------
    _c("debug_skip_kernel", LEX, "  set_option debug.skipKernelTC true in\n  decide", statement=FALSE_STATEMENT),
    _c("debug_guillemets_last", LEX, "  set_option debug.«skipKernelTC» true in\n  decide", statement=FALSE_STATEMENT),
    _c("debug_guillemets_first", LEX, "  set_option «debug».skipKernelTC true in\n  decide", statement=FALSE_STATEMENT),
    _c(
        "debug_guillemets_both", LEX, "  set_option «debug».«skipKernelTC» true in\n  decide", statement=FALSE_STATEMENT
    ),
    _c("pp_option_not_whitelisted", LEX, "  set_option pp.all true in\n  omega"),
    _c("dotted_ofreducebool", LEX, "  exact Lean.ofReduceBool _ _ rfl", statement=NATIVE_STATEMENT),
    _c("root_sorryax", LEX, "  exact _root_.sorryAx _ false", statement=FALSE_STATEMENT),
    _c("guillemet_sorryax", LEX, "  exact «sorryAx» _ false", statement=FALSE_STATEMENT),
    _c("guillemet_sorry", LEX, "  exact «sorry»", statement=FALSE_STATEMENT),
    _c(
        "raw_string_hides_elab", LEX, '  have _h : r#"\\"#.length = 1 := rfl\n  trivial\n\nelab "x" : tactic => pure ()'
    ),
    _c(
        "interpolation_hides_elab",
        LEX,
        '  have _h : s!"{\'"\'}".length = 1 := rfl\n  trivial\n\nelab "x" : tactic => pure ()',
    ),
    _c("interpolation_code", LEX, '  have _h := s!"{by_elab pure (Lean.mkConst ``True)}"\n  omega'),
    _c(
        "subtype_slash_comment_desync",
        LEX,
        "  have _h : {y : ℤ //-y < 0} := ⟨-1, by norm_num⟩\n  omega\n#eval 1 -- -/",
        note="Lean reads `//` then `-y`: a lexer that saw `/-` there would hide the `#eval`",
    ),
    _c("arrow_dash_comment_desync", LEX, "  omega <--1 #eval 1"),
    _c(
        "bang_ident_plain_string",
        LEX,
        '  have _h := String.toNat!"a{b"\n  omega\nrun_cmd pure ()\n#eval "}"',
        note="`String.toNat!` is an identifier, so its string is plain for Lean: reading it as interpolated would "
        "hide the run_cmd",
    ),
    _c("char_after_symbol_desync", LEX, "  have _h := (1 : ℕ) ∣'\"'\n  omega\n#eval \"'\""),
    _c("string_with_brace", LEX, '  have _h := toString "{x}"\n  omega'),
    _c("doc_comment_trick", LEX, '  omega\n\n/--/ -/ elab "x" : tactic => pure ()'),
    _c("unclosed_comment", LEX, "  omega /- never closed"),
    _c("unclosed_string", LEX, '  have := "never closed\n  omega'),
    _c("char_quote_then_elab", LEX, '  have _h : \'"\'.toNat = 34 := rfl\n  trivial\n\nelab "x" : tactic => pure ()'),
    # ---- proof-skipping words and axioms -------------------------------------------------------------------
    _c("sorry", PROOF, "  sorry", statement=FALSE_STATEMENT),
    _c("admit", PROOF, "  admit", statement=FALSE_STATEMENT),
    _c("native_decide", PROOF, "  native_decide", statement=NATIVE_STATEMENT),
    _c("apply_search", PROOF, "  apply?"),
    _c("exact_search", PROOF, "  exact?"),
    _c(
        "decide_native",
        PROOF,
        "  decide +native",
        "rejected",
        "axioms",
        statement=NATIVE_STATEMENT,
        axioms=NATIVE,
        note="decide +native compiles the decision: axiom Lean.ofReduceBool",
    ),
    _c(
        "stop_tactic",
        PROOF,
        "  stop\n  omega",
        "incomplete",
        "repl",
        statement=FALSE_STATEMENT,
        reply=SORRY_WARNING,
        axioms=["sorryAx"],
        note="`stop` is `repeat sorry`: warning, no sorries entry",
    ),
    _c(
        "trace_forges_axiom_message",
        PROOF,
        "  trace \"'t' does not depend on any axioms\"\n  decide +native",
        "rejected",
        "axioms",
        statement=NATIVE_STATEMENT,
        axioms=NATIVE,
        note="`trace` logs its text as an info message at its own line; the real `#print axioms` still names "
        "Lean.ofReduceBool",
    ),
    _c(
        "weaker_restated",
        PROOF,
        "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x + 3 = 5 := by\n  exact h₀",
        "error",
        "repl",
        reply={
            "messages": [
                {
                    "severity": "error",
                    "pos": {"line": 2, "column": 2},
                    "endPos": {"line": 2, "column": 10},
                    "data": "type mismatch\n  h₀\nhas type\n  x + 3 = 5 : Prop\nbut is "
                    "expected to have type\n  x = 2 : Prop",
                }
            ]
        },
        note="the body is checked against the trusted goal x = 2",
    ),
    _c(
        "renamed_restatement_weaker",
        PROOF,
        "theorem other (x : ℕ) (h₀ : x + 3 = 5) : True := by\n  trivial",
        "error",
        "repl",
        reply={
            "messages": [
                {
                    "severity": "error",
                    "pos": {"line": 2, "column": 2},
                    "endPos": {"line": 2, "column": 9},
                    "data": "The rfl tactic failed.",
                }
            ]
        },
        note="a restatement under another name: its body is checked against the trusted statement",
    ),
    # ---- bad input -----------------------------------------------------------------------------------------
    _c("lone_surrogate", ROBUST, "  omega -- \ud800"),
    _c("nul_character", ROBUST, "  omega\x00"),
    _c("oversized_64k", ROBUST, "  omega\n" + "  -- padding\n" * 6000),
    _c("not_text", ROBUST, None),
    _c("empty", ROBUST, "   \n", "no_answer", "pre-check"),
    # ---- genuine: must be valid ----------------------------------------------------------------------------
    _c("bare_tactics", GENUINE, "  omega", "valid", "all-checks"),
    _c("restated_tactics", GENUINE, f"{RESTATED} by\n  omega", "valid", "all-checks"),
    _c(
        "restated_term_mode",
        GENUINE,
        "theorem t : (17 : ℕ) % 5 = 2 :=\n  of_decide_eq_true rfl",
        "valid",
        "all-checks",
        statement="theorem t : (17 : ℕ) % 5 = 2 := by\n",
        axioms=[],
    ),
    _c(
        "comment_blank_between_assign_and_by",
        GENUINE,
        f"{RESTATED}\n  -- omega does it\n\n  by omega",
        "valid",
        "all-checks",
    ),
    _c(
        "block_comment_between_assign_and_term",
        GENUINE,
        "theorem t : (17 : ℕ) % 5 = 2 := /- by kernel -/\n  of_decide_eq_true rfl",
        "valid",
        "all-checks",
        statement="theorem t : (17 : ℕ) % 5 = 2 := by\n",
        axioms=[],
    ),
    _c(
        "helper_before",
        GENUINE,
        f"lemma helper (x : ℕ) (h : x + 3 = 5) : x = 2 := by omega\n\n{RESTATED} by\n  exact helper x h₀",
        "valid",
        "all-checks",
    ),
    _c(
        "helper_after_main",
        GENUINE,
        f"{RESTATED} by\n  omega\n\ntheorem unused : True := trivial",
        "valid",
        "all-checks",
        note="the helper after the proof is not sent",
    ),
    _c("bare_body_then_helper", GENUINE, "  omega\n\ntheorem unused : True := trivial", "valid", "all-checks"),
    _c(
        "set_option_prefix_on_theorem",
        GENUINE,
        f"set_option maxHeartbeats 400000 in\n{RESTATED} by\n  omega",
        "valid",
        "all-checks",
    ),
    _c("set_option_in_tactics", GENUINE, "  set_option maxRecDepth 10000 in\n  omega", "valid", "all-checks"),
    _c("open_in_tactics", GENUINE, "  open Nat in\n  omega", "valid", "all-checks"),
    _c("linter_option", GENUINE, "  set_option linter.unusedVariables false in\n  omega", "valid", "all-checks"),
    _c(
        "forbidden_words_in_comments",
        GENUINE,
        "  -- no sorry, no axiom, no #eval, no elab here\n  /- nested /- native_decide -/ still a comment -/\n  omega",
        "valid",
        "all-checks",
    ),
    _c(
        "forbidden_words_in_string",
        GENUINE,
        '  have _s : "sorry axiom #eval elab" = "sorry axiom #eval elab" := rfl\n  omega',
        "valid",
        "all-checks",
    ),
    _c(
        "identifiers_containing_keywords",
        GENUINE,
        "  have h_axiom_free : x = 2 := by omega\n  have instance_count : 1 = 1 := rfl\n  exact h_axiom_free",
        "valid",
        "all-checks",
    ),
    _c("raw_string_harmless", GENUINE, '  have _h : r#"a"b"#.length = 3 := rfl\n  omega', "valid", "all-checks"),
    _c("char_literal_quote", GENUINE, "  have _h : '\"'.toNat = 34 := rfl\n  omega", "valid", "all-checks"),
    _c("interpolated_string", GENUINE, '  have _h : s!"{1 + 1}" = "2" := rfl\n  omega', "valid", "all-checks"),
    _c("header_copied", GENUINE, HEADER + f"\n{RESTATED} by\n  omega", "valid", "all-checks"),
    _c(
        "preimage_and_tsum_notation",
        GENUINE,
        "  have _h : (id ⁻¹' ({1} : Set ℕ)) = {1} := rfl\n  have _z : (∑' _n : ℕ, (0 : ℝ)) = 0 := tsum_zero\n  omega",
        "valid",
        "all-checks",
    ),
    _c(
        "doc_comment_on_helper",
        GENUINE,
        f"/-- a helper -/\nlemma helper : 1 = 1 := rfl\n\n{RESTATED} by omega",
        "valid",
        "all-checks",
    ),
    _c("bare_body_with_by", GENUINE, "by\n  omega", "valid", "all-checks"),
    _c("unindented_tactics", GENUINE, "omega", "valid", "all-checks"),
    _c(
        "term_body_for_term_statement",
        GENUINE,
        "of_decide_eq_true rfl",
        "valid",
        "all-checks",
        statement="theorem t : (17 : ℕ) % 5 = 2 :=",
        axioms=[],
    ),
    _c(
        "example_statement",
        GENUINE,
        "  decide",
        "valid",
        "all-checks",
        statement="example : (17 : ℕ) % 5 = 2 := by\n",
        axioms=[],
    ),
    _c(
        "primes_projections_cases",
        GENUINE,
        "  have h' : x + 3 = 5 ∧ True := ⟨h₀, trivial⟩\n  cases' h' with h1 h2\n  exact (by omega : x = 2)",
        "valid",
        "all-checks",
    ),
    _c("char_literal_in_parens", GENUINE, "  have _h : ('\"' : Char) = '\"' := rfl\n  omega", "valid", "all-checks"),
    _c(
        "subtype_with_spaces",
        GENUINE,
        "  have _h : {y : ℤ // -y < 0} := ⟨-1, by norm_num⟩\n  omega -- done",
        "valid",
        "all-checks",
    ),
    _c(
        "aesop_clause_with_command_word",
        GENUINE,
        "  aesop (add norm (index := [target _ = _]) h₀)",
        "valid",
        "all-checks",
        note="`target` is a command word of Lake's DSL and an atom of Aesop's indexing clauses: inside "
        "brackets no command can start, so it is not refused there (ASSUMED: Aesop accepts this "
        "clause and closes the goal)",
    ),
    _c(
        "library_command_word_after_brackets",
        AFTER,
        "  aesop (add norm h₀) lrat_proof x",
        note="the same word once the brackets are closed starts a command",
    ),
    _c("open_scoped_in", GENUINE, "  open scoped BigOperators in\n  omega", "valid", "all-checks"),
    *TOKENIZER_AND_HEADER_CASES,
]


def replies_for(cases, prepare, split_checks) -> list[dict]:
    """The assumed Lean answers (double `--replies` rows) for every case that reaches Lean."""
    rows = []
    for c in cases:
        prep = prepare(c.statement, c.proof, c.header)
        if not hasattr(prep, "cmd"):
            continue
        rows.append(
            {
                "cmd": split_checks(prep.cmd)[0],
                "reply": c.reply,
                "provenance": c.note or "assumed",
                "axioms": c.axioms if c.axioms is not None else ["propext", "Classical.choice", "Quot.sound"],
            }
        )
    return rows


@dataclass
class Row:
    case: Case
    got: str
    decided_by: str
    reason: str

    @property
    def ok(self) -> bool:
        return self.got == self.case.expect and self.decided_by == self.case.layer


def run_corpus(tmp: Path, workers: int = 4, cases=CASES) -> list[Row]:
    from formalpi.lean import verdict as strict
    from formalpi.lean.canary import decided_by
    from formalpi.lean.double import split_checks
    from formalpi.lean.pool import LeanConfig, LeanPool
    from formalpi.lean.replay import standin_commands

    replies = tmp / "attack_replies.jsonl"
    replies.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in replies_for(cases, strict.prepare, split_checks)),
        encoding="utf-8",
    )
    root = Path(__file__).resolve().parent.parent
    cfg = LeanConfig(
        project_dir=root,
        workers=workers,
        timeout_s=10.0,
        repl_command=[sys.executable, "-m", "formalpi.lean.double", "--replies", str(replies)],
        **standin_commands(),
    )
    with LeanPool(cfg) as pool:
        verdicts = pool.verify_many([{"statement": c.statement, "proof": c.proof, "header": c.header} for c in cases])
    return [Row(c, v.status.value, decided_by(v).value, v.reason) for c, v in zip(cases, verdicts)]


def answer(case: Case) -> str:
    """What the scripted REPL answers for a case that reaches it (ASSUMED Lean v4.24 behaviour)."""
    if case.layer == "pre-check":
        return "not asked"
    msgs = case.reply.get("messages", [])
    said = "; ".join(f"{m['severity']}: {m['data'].splitlines()[0][:40]}" for m in msgs) or "no message"
    axioms = case.axioms if case.axioms is not None else ["propext", "Classical.choice", "Quot.sound"]
    return f"proof: {said}; type check: silent; #print axioms: [{', '.join(axioms)}]"


def table(rows: list[Row]) -> str:
    out = [
        "| # | group | case | expected | got | decided by | REPL answer (assumed) | ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(rows, 1):
        out.append(
            f"| {k} | {r.case.group} | {r.case.name} | {r.case.expect} | {r.got} | {r.decided_by} | "
            f"{answer(r.case)} | {'ok' if r.ok else 'MISMATCH'} |"
        )
    forged = [r for r in rows if r.case.forged]
    genuine = [r for r in rows if not r.case.forged]
    out.append("")
    out.append(
        f"{len(rows)} cases: {len(forged)} forged, {len(genuine)} genuine; false accepts "
        f"{sum(r.got == 'valid' for r in forged)}, false rejects {sum(r.got != 'valid' for r in genuine)}, "
        f"mismatches (status or layer) {sum(not r.ok for r in rows)}"
    )
    return "\n".join(out)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        print(table(run_corpus(Path(d))))
