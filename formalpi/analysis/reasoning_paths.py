"""The reasoning PATH of a completion, per domain: a sequence of steps, each a normalised string.

Path diversity (formalpi/analysis/diversity.py, defined in docs/diversity.md) compares these sequences, so every
domain is measured the same way: steps are matched exactly after normalisation, and two paths are similar as far as
their step sequences align.

- math: the intermediate expressions, in order. Equation chains are split at top-level `=` so
  `2*4-2*8=8-2*8=8-16=-6` is the four steps `2*4-2*8`, `8-2*8`, `8-16`, `-6`. Expressions come from LaTeX math
  (`$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`, align/equation environments split at `\\\\`) and from plain-text formulas
  (runs of numbers, one-letter variables and operators that contain an operator). Spacing, `\\left`/`\\right`,
  `\\dfrac`, `\\cdot`/`\\times` and trailing punctuation are normalised; bare atoms (`$x$`, `$5$`) are mentions,
  not steps; the final `\\boxed{}` answer is not a step, nor is any expression equal to it (correct solutions
  share it by construction, and the path is what leads to it).
- code: the normalised AST shape, one step per statement in source order (compound statements contribute their
  header, then their bodies): identifiers are renamed by first appearance (`v0`, `v1`, …; builtins and attribute
  names kept, since `sorted` or `.append` is part of the method), constants replaced by their type.
- Lean: the tactic sequence with the have-skeleton in it: one step per tactic (its name), except `have`/`obtain`/
  `suffices`/`show` steps, which keep their stated proposition (name dropped, spacing collapsed), so two proofs
  with the same tactics but different intermediate claims differ.

Every domain measures its VERIFIED ARTIFACT (`artifact`), the text the verifier checks: in math the solution after
a thinking model's `</think>` (the think trace is not the solution), in code the program the code verifier
extracts, in Lean the LAST fenced block (as the Lean verifier reads it; earlier blocks are drafts).
"""

from __future__ import annotations

import ast
import builtins
import copy
import re
from collections.abc import Callable, Iterator
from difflib import SequenceMatcher

from formalpi.lean.text import mask_comments_and_strings

Path_ = tuple[str, ...]

# ---- shared helpers --------------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[\w+-]*\n?(.*?)```", re.S)
_WS = re.compile(r"\s+")


def _unfence(text: str) -> str:
    """The content of the first fenced block when the completion has one; else the text."""
    m = _FENCE.search(text)
    return m.group(1) if m else text


def _dedupe_consecutive(steps: list[str]) -> Path_:
    out: list[str] = []
    for s in steps:
        if s and (not out or out[-1] != s):
            out.append(s)
    return tuple(out)


def path_similarity(a: Path_, b: Path_) -> float:
    """Similarity of two step sequences in [0, 1]: 2·M / (|a| + |b|), M = steps in matching blocks (difflib's
    Ratcliff/Obershelp alignment, autojunk off so long paths are not thinned). 1 iff equal (two empty paths are
    equal), 0 iff no step in common."""
    if not a and not b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


# ---- math --------------------------------------------------------------------------------------------------

_MATH_ENVS = re.compile(r"\\begin\{(align|aligned|equation|eqnarray|gather|multline)\*?\}(.*?)\\end\{\1\*?\}", re.S)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|\$(.+?)\$", re.S)
_BOXED = re.compile(r"\\boxed\s*\{")
_PLAIN_TOKEN = re.compile(r"\d+(?:\.\d+)?|[A-Za-z]+|\*\*|[-+*/^=<>()×÷·−]|\n|\S")
_OPERATORS = set("+-*/^=<>×÷·−") | {"**"}
_LATEX_NOISE = re.compile(r"\\left|\\right|\\[,;:!]|\\displaystyle|\\quad|\\qquad|&|\\text\{[^{}]*\}")
_LATEX_RENAME = (
    (r"\dfrac", r"\frac"),
    (r"\tfrac", r"\frac"),
    (r"\cdot", "*"),
    (r"\times", "*"),
    ("·", "*"),
    ("×", "*"),
    ("÷", "/"),
    ("−", "-"),
    ("**", "^"),
    (r"\le ", "<="),
    (r"\leq", "<="),
    (r"\ge ", ">="),
    (r"\geq", ">="),
)
_ATOM = re.compile(r"^[A-Za-z0-9.]*$|^\\[A-Za-z]+$")


def _strip_boxed(text: str) -> tuple[str, set[str]]:
    """Remove every `\\boxed{…}` (braces matched); returns the text and the normalised boxed answers."""
    out, answers, i = [], set(), 0
    for m in _BOXED.finditer(text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        answers.add(normalise_math(text[m.end() : j - 1]))
        i = j
    out.append(text[i:])
    return "".join(out), answers


def _split_top_level(expr: str, sep: str = "=") -> list[str]:
    """Split at `sep` outside braces/brackets/parentheses, leaving `<=`, `>=`, `!=`, `==` alone."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(expr):
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            prev, nxt = expr[i - 1 : i], expr[i + 1 : i + 2]
            if prev in ("<", ">", "!", "=") or nxt == "=":
                continue
            parts.append(expr[start:i])
            start = i + 1
    parts.append(expr[start:])
    return parts


def normalise_math(expr: str) -> str:
    """One expression in a canonical spelling: LaTeX noise removed, synonyms unified, no spaces or trailing
    punctuation."""
    e = _LATEX_NOISE.sub(" ", expr)
    for old, new in _LATEX_RENAME:
        e = e.replace(old, new)
    e = _WS.sub("", e)
    return e.strip(".,;:")


def _steps_of_expression(expr: str) -> list[str]:
    steps: list[str] = []
    for line in re.split(r"\\\\", expr):
        sides = [normalise_math(side) for side in _split_top_level(line)]
        if len(sides) > 1:  # an equation: every side is a step, atoms too (`= 99`)
            steps.extend(s for s in sides if s)
        elif sides[0] and not _ATOM.match(sides[0]):
            steps.append(sides[0])
    return steps


def _plain_formulas(text: str) -> Iterator[tuple[int, str]]:
    """Formulas written without LaTeX: maximal runs of numbers, one-letter names, operators and parentheses (no
    line break inside) holding at least one operator and two operands. Yields (offset, formula)."""
    run: list[re.Match] = []

    def flush() -> Iterator[tuple[int, str]]:
        toks = [m.group(0) for m in run]
        operands = sum(1 for t in toks if t[0].isalnum())
        if operands >= 2 and any(t in _OPERATORS for t in toks):
            yield run[0].start(), "".join(toks)

    for m in _PLAIN_TOKEN.finditer(text):
        t = m.group(0)
        ok = t[0].isdigit() or (t.isalpha() and len(t) == 1) or t in _OPERATORS or t in "()"
        if ok:
            run.append(m)
        else:
            yield from flush()
            run = []
    yield from flush()


_ASY = re.compile(r"\[asy\].*?\[/asy\]", re.S)  # Asymptote figures in MATH solutions: drawing code, not steps


def math_path(completion: str) -> Path_:
    """The sequence of intermediate expressions of a math solution (see the module docstring)."""
    text, answers = _strip_boxed(completion)
    text = _ASY.sub(" ", text)
    found: list[tuple[int, str]] = []
    masked = list(text)

    def take(start: int, end: int, body: str) -> None:
        found.append((start, body))
        masked[start:end] = " " * (end - start)

    for m in _MATH_ENVS.finditer(text):
        take(m.start(), m.end(), m.group(2))
    rest = "".join(masked)
    for m in _DISPLAY.finditer(rest):
        take(m.start(), m.end(), next(g for g in m.groups() if g is not None))
    rest = "".join(masked)
    found.extend(_plain_formulas(rest))
    steps: list[str] = []
    for _, expr in sorted(found, key=lambda x: x[0]):
        steps.extend(s for s in _steps_of_expression(expr) if s not in answers)
    return _dedupe_consecutive(steps)


# ---- code --------------------------------------------------------------------------------------------------

_BUILTINS = frozenset(dir(builtins))
_BODY_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


class _Renamer(ast.NodeTransformer):
    """Identifiers → v0, v1, … by first appearance (builtins kept); constants → their type name."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        if name in _BUILTINS:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(id=self._name(node.id), ctx=ast.Load()), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.copy_location(ast.arg(arg=self._name(node.arg)), node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.copy_location(ast.Constant(value=type(node.value).__name__), node)

    def _def(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.AST:
        node.name = self._name(node.name)
        node.decorator_list = []
        if not isinstance(node, ast.ClassDef):  # a class has no return annotation
            node.returns = None
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _def


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements in source order, each compound statement before the statements of its bodies."""
    for stmt in body:
        yield stmt
        for name in _BODY_FIELDS:
            for child in getattr(stmt, name, None) or []:
                if isinstance(child, ast.stmt):
                    yield from _statements([child])
                else:  # except handlers, match cases: their bodies
                    yield from _statements(getattr(child, "body", []))


def _header(stmt: ast.stmt) -> str:
    """The statement without its nested bodies (they are steps of their own), as an AST dump."""
    head = copy.copy(stmt)
    for name in _BODY_FIELDS:
        if getattr(head, name, None):
            setattr(head, name, [])
    return ast.dump(head, annotate_fields=False)


def code_path(completion: str) -> Path_:
    """One normalised AST shape per statement (see the module docstring); the docstring of a function is not a
    step. Code that does not parse has the path of its whitespace-collapsed lines."""
    code = _unfence(completion)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return _dedupe_consecutive([_WS.sub(" ", ln).strip() for ln in code.splitlines()])
    tree = _Renamer().visit(tree)
    steps = []
    for stmt in _statements(tree.body):
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstrings and bare constants: not steps
        steps.append(_header(stmt))
    return tuple(steps)


# ---- Lean --------------------------------------------------------------------------------------------------

_TACTIC = re.compile(r"[A-Za-z_][\w'!?.]*")
_CLAIM = re.compile(r"^(have|obtain|suffices|show|replace)\b\s*(.*)$", re.S)


def lean_proof_body(completion: str) -> str:
    """The proof after the first `:= by` (the model's restated theorem is not part of its path), comments gone."""
    text = mask_comments_and_strings(_unfence(completion))  # the verifier's own Lean lexer
    m = re.search(r":=\s*by\b", text) or re.match(r"\s*by\b", text)  # a bare `by ...` block too
    return text[m.end() :] if m else text


def _claim(keyword: str, rest: str) -> str:
    """`have h : P := …` → `have:P` (name and proof dropped, spacing collapsed)."""
    rest = re.split(r":=|\bby\b|\bfrom\b", rest, maxsplit=1)[0]
    if keyword in ("have", "replace", "obtain"):
        colon = rest.find(":")
        rest = rest[colon + 1 :] if colon >= 0 else rest
    return f"{keyword}:{_WS.sub(' ', rest).strip()}"


def lean_path(completion: str) -> Path_:
    """Tactic names in order, with the stated proposition of each have/obtain/suffices/show step."""
    steps = []
    for step in re.split(r"\n|;|<;>", lean_proof_body(completion)):
        step = step.strip().lstrip("·.").strip()
        m = _CLAIM.match(step)
        if m:
            steps.append(_claim(m.group(1), m.group(2)))
            continue
        t = _TACTIC.match(step)
        if t:
            steps.append(t.group(0))
    return tuple(steps)


PATHS: dict[str, Callable[[str], Path_]] = {"math": math_path, "code": code_path, "lean": lean_path}


def artifact(domain: str, completion: str) -> str:
    """The part of a completion its domain's verifier checks (see the module docstring), by the verifier's own
    extraction where the domain has one."""
    if domain == "math":
        from formalpi.pi_condition import after_thinking

        return after_thinking(completion)
    if domain == "code":
        from formalpi.domains.code.domain import extract_code

        return extract_code(completion) or ""
    if domain == "lean":
        from formalpi.domains.lean.domain import extract_code as lean_block

        return lean_block(completion)
    raise ValueError(f"path diversity: unknown domain {domain!r} (known: {', '.join(PATHS)})")


def path_of(domain: str, completion: str) -> Path_:
    """The path of the completion's verified artifact."""
    if domain not in PATHS:
        raise ValueError(f"path diversity: unknown domain {domain!r} (known: {', '.join(PATHS)})")
    return PATHS[domain](artifact(domain, completion))
