"""The have-skeleton parser on hand-written prover-style proofs, real Goedel-Prover proofs and MiniF2F."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from formalpi.lean.skeleton import GOAL, HaveKind, SkeletonParseError, skeleton_of
from tests.conftest import shared_path
from tests.skeleton_cases import BAD, CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_haves_and_edges(case):
    sk = skeleton_of(case.text)
    assert [(h.name, h.statement, h.depth) for h in sk.haves] == case.haves
    assert set(sk.graph.edges) == case.edges
    assert {h.name for h in sk.haves if h.in_closing} == set(case.closing)
    assert GOAL in sk.graph


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("depth", [1, None])
def test_round_trip_and_fixed_point(case, depth):
    sk = skeleton_of(case.text)
    text = sk.to_lean(depth)
    again = skeleton_of(text)
    kept = [h.key for h in sk.haves if not h.in_closing and (depth is None or h.depth <= depth)]
    assert [h.key for h in again.haves] == kept
    assert again.to_lean(depth) == text  # the skeleton of a skeleton is itself
    assert "sorry" in text


def test_to_lean_exact_text():
    sk = skeleton_of(next(c for c in CASES if c.id == "nested_by").text)
    assert sk.to_lean() == (
        "theorem t (a : ℝ) (ha : 1 < a) : 0 < a ^ 2 - 1 := by\n  have h₁ : 1 < a ^ 2 := by sorry\n  sorry\n"
    )
    assert sk.to_lean(None) == (
        "theorem t (a : ℝ) (ha : 1 < a) : 0 < a ^ 2 - 1 := by\n"
        "  have h₁ : 1 < a ^ 2 := by\n"
        "    have h₂ : 0 < a := by sorry\n"
        "    sorry\n"
        "  sorry\n"
    )


def test_obtain_binding_kept_verbatim_and_term_mode_rendered_as_tactics():
    sk = skeleton_of(next(c for c in CASES if c.id == "obtain_destructure").text)
    assert "  obtain ⟨n, hn, hpos⟩ := h₀\n  have h₁ : f n = 0 := by sorry\n  sorry\n" in sk.to_lean()
    sk = skeleton_of(next(c for c in CASES if c.id == "term_mode_fun").text)
    assert sk.to_lean().endswith(":= by\n  intro y\n  have hy : f y = y := by sorry\n  sorry\n")
    sk = skeleton_of(next(c for c in CASES if c.id == "suffices").text)
    assert sk.haves[0].kind is HaveKind.SUFFICES
    assert "  suffices h : 0 < a * a * a by sorry\n" in sk.to_lean()


def test_graph_summary():
    s = skeleton_of(next(c for c in CASES if c.id == "deep_nesting").text).graph.summary()
    assert (s.haves, s.hypotheses, s.longest_chain, s.width) == (3, 1, 4, 1)
    assert s.unused_haves == () and s.unused_hypotheses == ()
    s = skeleton_of(next(c for c in CASES if c.id == "flat").text).graph.summary()
    assert s.unused_hypotheses == ("h₁",) and s.longest_chain == 2 and s.width == 1
    s = skeleton_of("theorem t (h : 1 = 1) : True := by\n  have u : 2 = 2 := rfl\n  trivial\n").graph.summary()
    assert s.unused_haves == ("u",) and s.unused_hypotheses == ("h",)


@pytest.mark.parametrize("name,text,line,column", BAD, ids=[b[0] for b in BAD])
def test_unparseable_input_raises_typed_error_with_position(name, text, line, column):
    with pytest.raises(SkeletonParseError) as e:
        skeleton_of(text, source="x.lean")
    assert (e.value.line, e.value.column) == (line, column)
    assert str(e.value).startswith(f"x.lean:{line}:{column}: ")


def test_recorded_prover_proofs_all_parse():
    files = sorted(shared_path("lean", "recorded-mathlib-checks", "input").glob("*.lean"))
    assert len(files) == 102
    parsed, refused, haves = 0, 0, 0
    for f in files:
        text = f.read_text(encoding="utf-8")
        try:
            sk = skeleton_of(text, source=f.name)
        except SkeletonParseError:
            refused += 1
            continue
        parsed += 1
        haves += len(sk.haves)
        assert sk.theorem.name and sk.theorem.goal
        again = skeleton_of(sk.to_lean(None))
        assert [h.key for h in again.haves] == [h.key for h in sk.haves if not h.in_closing]
    # measured: every one parses; they hold 74 `have` lines (grep '^\s*have\b' counts 74 too)
    assert (parsed, refused, haves) == (102, 0, 74)


def test_minif2f_statements_parse_with_no_haves():
    rows = [json.loads(line) for line in shared_path("data", "minif2f_lean4_v4.24.jsonl").open(encoding="utf-8")]
    parsed = 0
    for r in rows:
        sk = skeleton_of(r["header"] + r["formal_statement"], source=r["name"])
        assert sk.haves == () and sk.theorem.name == r["name"]
        parsed += 1
    assert parsed == 488


def test_cli_prints_skeleton_and_writes_dot_and_png(tmp_path):
    from formalpi.cli import app

    src = tmp_path / "p.lean"
    src.write_text(next(c for c in CASES if c.id == "nested_by").text, encoding="utf-8")
    dot, png = tmp_path / "g.dot", tmp_path / "g.png"
    res = CliRunner().invoke(app, ["lean", "skeleton", str(src), "--dot", str(dot), "--png", str(png)])
    assert res.exit_code == 0, res.output
    assert "  have h₁ : 1 < a ^ 2 := by sorry" in res.output
    assert "haves: 2  hypotheses: 1  edges: 3  longest chain to goal: 2  width: 1" in res.output
    assert '"h₂" -> "h₁";' in dot.read_text(encoding="utf-8")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bad_file_is_a_typed_error(tmp_path):
    from formalpi.cli import app

    bad = tmp_path / "b.lean"
    bad.write_text("theorem t : True := by\n  /- open\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["lean", "skeleton", str(bad)])
    assert isinstance(res.exception, SkeletonParseError) and res.exception.line == 2


def test_cli_says_not_referenced_by_name_when_a_tactic_uses_hypotheses_unnamed(tmp_path):
    """`linarith` uses h₀ and h₁ without naming them: the text cannot show that, so the CLI must not call them
    unused."""
    from typer.testing import CliRunner

    from formalpi.cli.lean import app

    f = tmp_path / "p.lean"
    f.write_text(
        "theorem t (x : ℝ) (h₀ : x + 1 = 3) (h₁ : 0 < x) : x = 2 := by\n  have h₂ : x = 2 := by linarith\n  linarith\n"
    )
    res = CliRunner().invoke(app, ["skeleton", str(f)], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert "unused" not in res.output and "never used" not in res.output
    assert "not referenced by name on the way to the goal: haves h₂; hypotheses h₀, h₁" in res.output
