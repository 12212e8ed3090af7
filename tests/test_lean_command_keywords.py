"""Every command keyword of the pinned Lean libraries (formalpi/lean/command_keywords.txt) is refused by the
pre-check wherever a command could start, and the extractor that produced the list reads Lean declarations right."""

from __future__ import annotations

from pathlib import Path

import pytest

from formalpi.lean import verdict as strict
from formalpi.lean.tools.extract_command_keywords import scan_file

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "formalpi" / "lean" / "command_keywords.txt"
STATEMENT = "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n"
DECLARATIONS = {"theorem", "lemma", "example"}  # allowed as helpers before the proof; after it they are not sent


def _rows() -> list[list[str]]:
    return [
        ln.split("\t")
        for ln in DATA.read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("## ")
    ]


KEYWORDS = sorted({r[0] for r in _rows()})


def test_data_file_names_its_sources_and_covers_every_library() -> None:
    header = [ln for ln in DATA.read_text(encoding="utf-8").splitlines() if ln.startswith("## ")]
    for commit in (
        "f897ebcf72cd16f89ab4577d0c826cd14afaafc7",
        "8da40b72fece29b7d3fe3d768bac4c8910ce9bee",
        "725ac8cd67acd70a7beaf47c3725e23484c1ef50",
        "dea6a3361fa36d5a13f87333dc506ada582e025c",
        "556caed0eadb7901e068131d1be208dd907d07a2",
        "dfd06ebfe8d0e8fa7faba9cb5e5a2e74e7bd2805",
        "d768126816be17600904726ca7976b185786e6b9",
        "99657ad92e23804e279f77ea6dbdeebaa1317b98",
    ):
        assert any(commit in h for h in header), commit  # the revisions pinned by Mathlib v4.24.0's manifest
    libraries = {r[1] for r in _rows()}
    assert {
        "lean-core",
        "mathlib",
        "batteries",
        "aesop",
        "importGraph",
        "LeanSearchClient",
        "plausible",
        "proofwidgets",
    } <= libraries
    curated = [
        ln.split("\t")[:2]
        for ln in (ROOT / "formalpi/lean/tools/lean_core_commands.tsv").read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("## ")
    ]
    assert all(r in [x[:2] for x in _rows()] for r in curated)  # the data file was generated with them
    for kw in (
        "irreducible_def",
        "assert_not_exists",
        "recall",
        "initialize",
        "add_decl_doc",
        "compile_inductive%",
        "library_note",
        "suppress_compilation",
        "unseal",
        "seal",
        "omit",
        "include",
        "export",
        "deriving",
        "with_weak_namespace",
        "scoped",
        "local",
        "proof_wanted",
        "lemma",
        "alias",
        "variable?",
    ):
        assert kw in KEYWORDS, kw


def _sent(proof: str):
    return strict.prepare(STATEMENT, proof, HEADER)


@pytest.mark.parametrize("layout", ["own line after the proof", "same line as the last tactic"])
def test_every_keyword_is_refused_where_a_command_could_start(layout: str) -> None:
    passed = []
    for kw in KEYWORDS:
        if kw in strict.LAKE_DSL_WORDS:
            continue  # Lake's DSL: not in scope after `import Mathlib` (test_lake_dsl_words_only_where_lake_is_in_scope)
        word = kw.rstrip("%") if not kw.startswith("#") else kw
        proof = f"  omega\n\n{word} x" if layout.startswith("own") else f"  omega {word} x"
        if word in DECLARATIONS:
            proof += " : True := trivial"
        prep = _sent(proof)
        if word in DECLARATIONS:  # a declaration after the proof is dropped, never sent
            if isinstance(prep, strict.PreparedProof) and f"{word} x" in prep.cmd:
                passed.append(kw)
        elif isinstance(prep, strict.PreparedProof):
            passed.append(kw)
    assert passed == []


def test_keywords_before_the_theorem_and_dotted_or_escaped_names() -> None:
    for kw in ("with_weak_namespace", "lrat_proof", "name_poly_vars", "reprove"):
        prep = _sent(f"{kw} x\n\ntheorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by omega")
        assert isinstance(prep, strict.Verdict) and f"`{kw}` starts a command" in prep.reason
    assert isinstance(_sent("  omega\n  exact end.x"), strict.Verdict)  # a keyword as first component: refused
    assert isinstance(_sent("  have «end» : x = 2 := by omega\n  exact «end»"), strict.PreparedProof)  # escaped
    assert isinstance(_sent("  have h_recall : x = 2 := by omega\n  exact h_recall"), strict.PreparedProof)


def test_extractor_reads_each_declaration_form() -> None:
    src = """
/-- doc with "syntax "fake" : command" inside -/
syntax (name := foo) "foo_cmd " ident : command
-- macro "commented" : command => `(end)
@[inherit_doc] local macro "bar_cmd" x:ident : command => `(end)
elab (name := stacksTags) "#stacks_tags" tk:("!")?: command => pure ()
elab tk:"#whnf " e:term : command => pure ()
syntax (name := lemma) declModifiers
  group("lemma " declId ppIndent(declSig) declVal) : command
syntax "not_a_command" term : tactic
macro "term_kw" : term => `(1)
syntax (name := nr) &"soft_cmd" ident : command
elab_rules : command
  | `(foo_cmd $x) => pure ()
@[command_parser]
def «proof_wanted» := leading_parser
  declModifiers false >> "proof_wanted" >> declId >> ppIndent declSig
elab "whatsnew " "in" ppLine cmd:command : command => pure ()
"""
    got = {(e.keyword, e.reserved, e.prefix) for e in scan_file("X.lean", src, "lib")}
    assert got == {
        ("foo_cmd", True, ""),
        ("bar_cmd", True, ""),
        ("#stacks_tags", True, ""),
        ("#whnf", True, ""),
        ("lemma", True, "declModifiers"),
        ("soft_cmd", False, ""),
        ("proof_wanted", True, "declModifiers false"),
        ("whatsnew", True, ""),
    }


def test_library_words_inside_brackets_are_clause_atoms_not_commands() -> None:
    assert isinstance(_sent("  aesop (add norm (index := [target _ = _]) h₀)"), strict.PreparedProof)
    for proof in (
        "  aesop (add norm h₀) lrat_proof x",
        "  exact (by omega)\nwith_weak_namespace Shadow",
        "  have h : x = 2 := (by omega)\n  exact h ) with_weak_namespace Shadow",
    ):
        assert isinstance(_sent(proof), strict.Verdict), proof  # depth back to 0 (or below): refused
    # the hand-written list (`unsafe`, `def`, …) stays refused at any depth
    assert isinstance(_sent("  exact (unsafe foo)"), strict.Verdict)


def test_lake_dsl_words_only_where_lake_is_in_scope() -> None:
    """Lake's DSL commands are `scoped syntax` of Lake.DSL (lean4 src/lake/Lake/DSL/Syntax.lean); Mathlib's import
    closure (mathlib_imports.txt) reaches no Lake.DSL module, so there they are identifiers (a hypothesis `target`);
    after a header that imports Lake they stay refused."""
    assert not strict.lake_in_scope(HEADER) and strict.lake_in_scope("import Lake\n")
    named = "  have target : x = 2 := by omega\n  exact target"
    assert isinstance(_sent(named), strict.PreparedProof)
    for kw in sorted(strict.LAKE_DSL_WORDS):
        assert kw in KEYWORDS, kw
        assert isinstance(_sent(f"  omega\n\n{kw} x"), strict.PreparedProof), kw  # Lean: an identifier (parse error)
        prep = strict.prepare(STATEMENT, f"  omega\n\n{kw} x", "import Lake\n")
        assert isinstance(prep, strict.Verdict) and f"`{kw}` starts a command" in prep.reason, kw
