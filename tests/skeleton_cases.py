"""Prover-style Lean 4 proofs written for the parser's tests, each with its expected haves and graph edges.

`haves`: (name, statement, depth) in textual order; `edges`: the ProofGraph's edges (⊢ is the goal).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    haves: list[tuple[str, str | None, int]]
    edges: set[tuple[str, str]]
    closing: frozenset[str] = frozenset()  # haves inside closing steps (dropped by to_lean)


HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n\n"
)

CASES = [
    Case(
        "flat",
        """theorem t (a b : ℝ) (h₀ : 0 < a) (h₁ : 0 < b) : 0 < a * b + a := by
  have h₂ : 0 < a * b := by positivity
  have h₃ : 0 < a * b + a := by linarith [h₂, h₀]
  exact h₃
""",
        [("h₂", "0 < a * b", 1), ("h₃", "0 < a * b + a", 1)],
        {("h₂", "h₃"), ("h₀", "h₃"), ("h₃", "⊢")},
    ),
    Case(
        "no_haves",
        """theorem t (x : ℝ) (h : 0 ≤ x) : 0 ≤ x ^ 2 := by
  nlinarith [sq_nonneg x, h]
""",
        [],
        {("h", "⊢")},
    ),
    Case(
        "empty_proof_minif2f",
        """theorem t (x : ℕ) (h₀ : x = 2) : x + 1 = 3 := by
""",
        [],
        set(),
    ),
    Case(
        "anonymous_this",
        """theorem t (n : ℕ) (h : 2 ≤ n) : 1 < n := by
  have : 1 < 2 := by norm_num
  exact lt_of_lt_of_le this h
""",
        [("this", "1 < 2", 1)],
        {("this", "⊢"), ("h", "⊢")},
    ),
    Case(
        "nested_by",
        """theorem t (a : ℝ) (ha : 1 < a) : 0 < a ^ 2 - 1 := by
  have h₁ : 1 < a ^ 2 := by
    have h₂ : 0 < a := by linarith
    nlinarith [h₂, ha]
  linarith [h₁]
""",
        [("h₁", "1 < a ^ 2", 1), ("h₂", "0 < a", 2)],
        {("h₂", "h₁"), ("ha", "h₁"), ("h₁", "⊢")},
    ),
    Case(
        "line_comments",
        """theorem t (x : ℝ) (hx : 2 < x) : 4 < x ^ 2 := by
  -- have fake : False := by trivial
  have h₁ : 0 < x := by linarith -- uses hx? no: the comment names hx
  nlinarith [h₁, hx] -- closing
""",
        [("h₁", "0 < x", 1)],
        {("h₁", "⊢"), ("hx", "⊢")},
    ),
    Case(
        "block_comments_nested",
        """/- outer /- nested have bogus : 1 = 2 := by rfl -/ still comment -/
theorem t (x : ℝ) (hx : 0 < x) : 0 < x * x := by
  /- Proof sketch:
     have h : 0 < x -/
  have hpos : 0 < x := hx
  exact mul_pos hpos hpos
""",
        [("hpos", "0 < x", 1)],
        {("hx", "hpos"), ("hpos", "⊢")},
    ),
    Case(
        "unicode_names",
        """theorem t (x y : ℝ) (h₀ : x = 2 * y) (hy' : 0 < y) : 0 < x := by
  have hx' : 0 < 2 * y := by linarith [hy']
  have h₁₀ : 0 < x := by rw [h₀]; exact hx'
  exact h₁₀
""",
        [("hx'", "0 < 2 * y", 1), ("h₁₀", "0 < x", 1)],
        {("hy'", "hx'"), ("h₀", "h₁₀"), ("hx'", "h₁₀"), ("h₁₀", "⊢")},
    ),
    Case(
        "multiline_statement",
        """theorem t
    (f : ℕ → ℕ)
    (h₀ : ∀ n, f (n + 1) = f n + 2)
    (h₁ : f 0 = 1) :
    f 2 = 5 := by
  have h₂ : f 1 = 3 := by
    rw [h₀ 0, h₁]
  have h₃ :
      f 2 = f 1 + 2 := h₀ 1
  rw [h₃, h₂]
""",
        [("h₂", "f 1 = 3", 1), ("h₃", "f 2 = f 1 + 2", 1)],
        {("h₀", "h₂"), ("h₁", "h₂"), ("h₀", "h₃"), ("h₃", "⊢"), ("h₂", "⊢")},
    ),
    Case(
        "restated_header",
        HEADER
        + """/-- The model restates the theorem with a docstring. -/
theorem mathd_algebra_10 (x : ℝ) (h₀ : 3 * x = 12) : x = 4 := by
  have h₁ : x = 12 / 3 := by
    field_simp
    linarith [h₀]
  norm_num [h₁]
""",
        [("h₁", "x = 12 / 3", 1)],
        {("h₀", "h₁"), ("h₁", "⊢")},
    ),
    Case(
        "bullets",
        """theorem t (a b : ℝ) (h₀ : 0 < a) (h₁ : 0 < b) : 0 < a ∧ 0 < a + b := by
  have h₂ : 0 < a + b := by linarith
  constructor
  · exact h₀
  · have h₃ : 0 < a + b := h₂
    exact h₃
""",
        [("h₂", "0 < a + b", 1), ("h₃", "0 < a + b", 1)],
        {("h₀", "⊢"), ("h₂", "h₃"), ("h₃", "⊢")},
        frozenset({"h₃"}),
    ),
    Case(
        "bullets_inside_have",
        """theorem t (x : ℝ) (hx : 0 < x) : 0 < x ∧ 0 < 2 * x := by
  have h₁ : 0 < x ∧ 0 < 2 * x := by
    constructor
    · exact hx
    · linarith [hx]
  exact h₁
""",
        [("h₁", "0 < x ∧ 0 < 2 * x", 1)],
        {("hx", "h₁"), ("h₁", "⊢")},
    ),
    Case(
        "case_next",
        """theorem t (p q : Prop) (hp : p) (hq : q) : p ∧ q := by
  constructor
  case left =>
    have h₁ : p := hp
    exact h₁
  next =>
    exact hq
""",
        [("h₁", "p", 1)],
        {("hp", "h₁"), ("h₁", "⊢"), ("hq", "⊢")},
        frozenset({"h₁"}),
    ),
    Case(
        "then_combinator",
        """theorem t (a b : ℝ) (hab : a ≤ b) : min a b = a := by
  have h₁ : a ≤ b := hab
  cases' le_total a b with h h <;>
  simp_all [min_def] <;>
  linarith [h₁]
""",
        [("h₁", "a ≤ b", 1)],
        {("hab", "h₁"), ("h₁", "⊢")},
    ),
    Case(
        "then_on_next_line",
        """theorem t (x : ℝ) (h : x = 1) : x ^ 2 = 1 := by
  have h₂ : x ^ 2 = 1 ^ 2 := by rw [h]
  simp at h₂
  -- comment between
  <;> linarith [h₂]
""",
        [("h₂", "x ^ 2 = 1 ^ 2", 1)],
        {("h", "h₂"), ("h₂", "⊢")},
    ),
    Case(
        "calc",
        """theorem t (a b : ℝ) (h₀ : a = 2 * b) (h₁ : b = 3) : a = 6 := by
  have h₂ : 2 * b = 6 := by rw [h₁]; norm_num
  calc a = 2 * b := by rw [h₀]
    _ = 6 := by exact h₂
""",
        [("h₂", "2 * b = 6", 1)],
        {("h₁", "h₂"), ("h₀", "⊢"), ("h₂", "⊢")},
    ),
    Case(
        "obtain_destructure",
        """theorem t (f : ℕ → ℕ) (h₀ : ∃ n, f n = 0 ∧ 0 < n) : ∃ m, f m = 0 := by
  obtain ⟨n, hn, hpos⟩ := h₀
  have h₁ : f n = 0 := hn
  exact ⟨n, h₁⟩
""",
        [("h₁", "f n = 0", 1)],
        {("h₀", "h₁"), ("h₁", "⊢"), ("h₀", "⊢")},
    ),  # n stands for h₀
    Case(
        "obtain_typed",
        """theorem t (x : ℤ) (h : x % 2 = 1) : x % 2 ≠ 0 := by
  obtain ⟨k, hk⟩ : ∃ k, x = 2 * k + 1 := by
    exact ⟨x / 2, by omega⟩
  have h₂ : x % 2 = 1 := by omega
  omega
""",
        [("k, hk", "∃ k, x = 2 * k + 1", 1), ("h₂", "x % 2 = 1", 1)],
        set(),
    ),
    Case(
        "rcases_alternatives",
        """theorem t (x : ℝ) (h : x = 1 ∨ x = -1) : x ^ 2 = 1 := by
  have h₁ : x ^ 2 = x * x := by ring
  rcases h with hx | hx
  · rw [h₁, hx]; norm_num
  · rw [h₁, hx]; norm_num
""",
        [("h₁", "x ^ 2 = x * x", 1)],
        {("h₁", "⊢"), ("h", "⊢")},
    ),
    Case(
        "suffices",
        """theorem t (a : ℝ) (ha : 0 < a) : 0 < a ^ 3 := by
  suffices h : 0 < a * a * a by nlinarith [h]
  have h₁ : 0 < a * a := by positivity
  exact mul_pos h₁ ha
""",
        [("h", "0 < a * a * a", 1), ("h₁", "0 < a * a", 1)],
        {("h", "⊢"), ("h₁", "h"), ("ha", "h")},
    ),
    Case(
        "show_from",
        """theorem t (n : ℕ) (h₀ : n = 3) : n + 1 = 4 := by
  have h₁ : n + 1 = 3 + 1 := by rw [h₀]
  show n + 1 = 4
  simpa using h₁
""",
        [("h₁", "n + 1 = 3 + 1", 1)],
        {("h₀", "h₁"), ("h₁", "⊢")},
    ),
    Case(
        "term_mode",
        """theorem t (a b : ℕ) (h₀ : a = b) (h₁ : b = 2) : a = 2 :=
  have h₂ : a = 2 := h₀.trans h₁
  show a = 2 from h₂
""",
        [("h₂", "a = 2", 1)],
        {("h₀", "h₂"), ("h₁", "h₂"), ("h₂", "⊢")},
    ),
    Case(
        "term_mode_fun",
        """theorem t (f : ℕ → ℕ) (h₀ : ∀ x, f x = x) : ∀ y, f y ≤ y :=
  fun y =>
    have hy : f y = y := h₀ y
    le_of_eq hy
""",
        [("hy", "f y = y", 1)],
        {("h₀", "hy"), ("hy", "⊢")},
    ),
    Case(
        "fun_shadows",
        """theorem t (p : ℕ → Prop) (h : ∀ n, p n) : ∀ n, p n ∧ p n := by
  have h₁ : ∀ m, p m := fun h => by exact (‹∀ n, p n›) h
  intro n
  exact ⟨h₁ n, h n⟩
""",
        [("h₁", "∀ m, p m", 1)],
        {("h₁", "⊢"), ("h", "⊢")},
    ),
    Case(
        "shadowing_have",
        """theorem t (x : ℝ) (h : 0 < x) : 0 < x + 2 := by
  have h : 0 < x + 1 := by linarith [h]
  have h : 0 < x + 2 := by linarith [h]
  exact h
""",
        [("h", "0 < x + 1", 1), ("h", "0 < x + 2", 1)],
        {("h", "h#2"), ("h#2", "h#3"), ("h#3", "⊢")},
    ),
    Case(
        "intro_shadows_hypothesis",
        """theorem t (h₀ : 1 = 1) : ∀ h₀ : ℕ, h₀ = h₀ := by
  intro h₀
  have h₁ : h₀ = h₀ := rfl
  exact h₁
""",
        [("h₁", "h₀ = h₀", 1)],
        {("h₁", "⊢")},
    ),
    Case(
        "have_term_without_type",
        """theorem t (a b : ℝ) (h₀ : ∀ x : ℝ, x ^ 2 ≥ 0) : (a - b) ^ 2 ≥ 0 := by
  have h₁ := h₀ (a - b)
  exact h₁
""",
        [("h₁", None, 1)],
        {("h₀", "h₁"), ("h₁", "⊢")},
    ),
    Case(
        "have_with_binders",
        """theorem t (f : ℝ → ℝ) (hf : ∀ x, f x = 2 * x) : f 1 + f 2 = 6 := by
  have key (x : ℝ) : f x = 2 * x := hf x
  rw [key 1, key 2]
  norm_num
""",
        [("key", "(x : ℝ) : f x = 2 * x", 1)],
        {("hf", "key"), ("key", "⊢")},
    ),
    Case(
        "induction_alternatives",
        """theorem t (n : ℕ) (h₀ : 0 < n) : 1 ≤ n := by
  have h₁ : 0 < n := h₀
  induction n with
  | zero => exact absurd h₁ (lt_irrefl 0)
  | succ k ih =>
    have h₂ : 1 ≤ k + 1 := by omega
    exact h₂
""",
        [("h₁", "0 < n", 1), ("h₂", "1 ≤ k + 1", 1)],
        {("h₀", "h₁"), ("h₁", "⊢"), ("h₂", "⊢")},
        frozenset({"h₂"}),
    ),
    Case(
        "anonymous_constructor_by",
        """theorem t (x : ℝ) (hx : 1 < x) : 0 < x ∧ 0 < x - 1 := by
  have h₁ : 0 < x := by linarith
  exact ⟨by linarith [h₁], by linarith [hx]⟩
""",
        [("h₁", "0 < x", 1)],
        {("h₁", "⊢"), ("hx", "⊢")},
    ),
    Case(
        "deep_nesting",
        """theorem t (a : ℝ) (h : 0 < a) : 0 < a ^ 4 := by
  have h₁ : 0 < a ^ 4 := by
    have h₂ : 0 < a ^ 2 := by
      have h₃ : 0 < a * a := mul_pos h h
      nlinarith [h₃]
    nlinarith [h₂]
  exact h₁
""",
        [("h₁", "0 < a ^ 4", 1), ("h₂", "0 < a ^ 2", 2), ("h₃", "0 < a * a", 3)],
        {("h", "h₃"), ("h₃", "h₂"), ("h₂", "h₁"), ("h₁", "⊢")},
    ),
    Case(
        "lemma_and_example",
        """lemma helper (x : ℕ) (hx : x = 1) : x + x = 2 := by omega

example (y : ℕ) (hy : y = 1) : y + y = 2 := by
  have hh : y + y = 2 := helper y hy
  exact hh
""",
        [("hh", "y + y = 2", 1)],
        {("hy", "hh"), ("hh", "⊢")},
    ),
]

# inputs the parser must refuse with SkeletonParseError(line, column)
BAD = [
    ("unclosed_comment", "theorem t : True := by\n  /- never closed\n  trivial\n", 2, 2),
    ("unclosed_bracket", "theorem t (x : ℕ : x = x := by\n  rfl\n", 1, 10),
    ("extra_close", "theorem t : True := by\n  exact (trivial))\n", 2, 17),
    ("no_declaration", "  have h : 1 = 1 := rfl\n  exact h\n", 1, 0),
    ("lean3_have", "theorem t : 1 = 1 := by\n  have h : 1 = 1, by refl\n  exact h\n", 2, 18),
    ("tab", "theorem t : True := by\n\ttrivial\n", 2, 0),
    ("misindented_tail", "theorem t : 1 = 1 := by\n  have h : 1 = 1 := by\n      rfl\n     rfl\n  exact h\n", 4, 5),
    ("trailing_garbage", "theorem t : 1 = 1 := by\n  rfl\n```\n", 3, 0),
]
