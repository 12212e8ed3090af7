"""Have-skeletons of Lean 4 proofs and their proof-structure graphs.

`skeleton_of(text)` reads a Lean 4 theorem with a tactic (or term) proof as provers write it (DeepSeek-Prover,
Kimina, Goedel style) and returns a `Skeleton`: the theorem, its ordered `have`s, and a `ProofGraph`
(hypotheses → haves → goal). No Lean toolchain is needed: the parser follows Lean's layout rules (a tactic block
is the run of lines at the column of its first tactic; deeper lines continue a step, shallower ones end the block),
masks comments and strings first, and refuses what it cannot read with `SkeletonParseError(line, column)` rather
than guess.

Scope of the names it resolves: theorem binders, `have`/`obtain`/`suffices` names (anonymous `have` is `this`),
and names introduced by binding tactics (`intro`, `rintro`, `obtain … := e`, `rcases`, `cases'`, `induction … with`,
`case`/`next`, `by_contra`, `by_cases`, `choose`, `set`, `fun x =>`). A reference resolves to the latest visible
definition of the name (shadowing); a name bound by destructuring (`obtain ⟨x, hx⟩ := h₀`) stands for what it was
destructured from (`h₀`), so the graph keeps only hypotheses, haves and the goal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

import networkx as nx

from formalpi.errors import FormalpiError
from formalpi.lean.text import UnclosedLiteral, mask_comments_and_strings


class SkeletonParseError(FormalpiError):
    """The text is not a Lean 4 proof this parser can read; `line`/`column` (1-based line, 0-based column as
    Lean reports them) point at the offending place."""

    def __init__(self, message: str, line: int, column: int, source: str | None = None):
        self.line, self.column, self.source = line, column, source
        where = f"{source}:" if source else ""
        super().__init__(f"{where}{line}:{column}: {message}")


class HaveKind(str, Enum):
    HAVE = "have"
    OBTAIN = "obtain"  # obtain ⟨…⟩ : T := proof (a have whose result is destructured)
    SUFFICES = "suffices"


class NodeKind(str, Enum):
    HYPOTHESIS = "hypothesis"
    HAVE = "have"
    GOAL = "goal"


GOAL = "⊢"  # the goal's node id (no Lean name can be this)

_OPEN, _CLOSE = "([{⟨⦃⟪", ")]}⟩⦄⟫"
_MATCH = dict(zip(_CLOSE, _OPEN))
_IDENT = re.compile(r"(?<![.\w'!?])[^\W\d][\w'!?]*(?:\.[^\W\d][\w'!?]*)*")
_KEYWORDS = frozenset(
    """by fun at with using from have show then else if do let in match generalizing
    calc suffices obtain rcases rintro intro intros case next only and or not this_is_no_keyword""".split()
)
_NOT_NAMES = frozenset({"rfl", "_", "fun", "λ"})
_DECL = re.compile(
    r"^[ \t]*(?:@\[[^\]\n]*\][ \t\n]*)?(?:(?:private|protected|noncomputable|nonrec)[ \t]+)*"
    r"(theorem|lemma|example)\b",
    re.M,
)
# tactics that introduce names for the rest of their block, and where the names are
_BINDERS = {
    "intro",
    "intros",
    "rintro",
    "by_contra",
    "by_contra!",
    "by_cases",
    "rename_i",
    "obtain",
    "rcases",
    "cases'",
    "induction'",
    "induction",
    "choose",
    "set",
    "cases",
    "lift",
}
_PROP_MARK = re.compile(r"[=≠<>≤≥∧∨¬↔∣∈∉⊆⊂⊊∃∀]|\b(?:True|False)\b")
_TYPEISH = re.compile(r"^(?:ℝ|ℕ|ℤ|ℚ|ℂ|Prop|Type\S*|Sort\S*|Finset\b.*|Set\b.*|Polynomial\b.*|ℕ\+)$")


def _collapse(s: str) -> str:
    return " ".join(s.split())


# ---- records ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binder:
    name: str
    type: str
    is_hypothesis: bool  # a proposition (by the heuristic in `_looks_like_prop`): a node of the graph


@dataclass(frozen=True)
class Theorem:
    keyword: str  # theorem / lemma / example
    name: str | None  # None for `example`
    statement: str  # binders and goal, whitespace collapsed: "(a : ℝ) (h : 0 < a) : 0 < a ^ 2"
    binders: tuple[Binder, ...]
    goal: str


@dataclass(frozen=True)
class Have:
    kind: HaveKind
    name: str  # "this" for an anonymous have; the pattern names joined by ", " for obtain
    names: tuple[str, ...]  # every name it binds
    statement: str | None  # whitespace-collapsed; None for `have h := term` (no statement written)
    depth: int  # 1 = in the main proof; 2 = inside the proof of a depth-1 have, ...
    span: tuple[int, int]  # character span of the whole step in the source
    proof_span: tuple[int, int] | None  # character span of its proof (None: `have h : T` opens a goal)
    line: int  # 1-based line of the step
    in_closing: bool  # inside a closing step (bullet, case branch, calc step): dropped by to_lean
    header: str  # "have h : T", collapsed: what the skeleton keeps
    proof: str | None  # the proof text as written (comments masked)

    @property
    def key(self) -> tuple:
        """What identifies a have across re-parses (the round-trip property compares these)."""
        return (self.kind, self.name, self.statement, self.depth)


@dataclass
class _Def:
    """A name visible in [start, end): resolves to the graph nodes `targets`."""

    name: str
    start: int
    end: int
    targets: frozenset[str]


@dataclass
class _Step:
    start: int
    end: int
    col: int
    keyword: str
    have: Have | None = None
    kept_verbatim: bool = False  # a binding tactic the skeleton keeps (intro, obtain … := e)
    proof_block: "_Block | None" = None  # the have's `by` block, when its whole proof is one
    blocks: list["_Block"] = field(default_factory=list)


@dataclass
class _Block:
    start: int
    end: int
    col: int
    steps: list[_Step] = field(default_factory=list)


@dataclass(frozen=True)
class GraphSummary:
    hypotheses: int
    haves: int
    edges: int
    longest_chain: int  # edges on the longest path that ends at the goal
    width: int  # most haves on one level (level = longest path from a source)
    # the graph has only the names written in the proof text: a tactic that uses a hypothesis without naming it
    # (`linarith`, `simp [*]`, `omega`) leaves it here, so these are "not referenced by name", not "unused"
    unused_haves: tuple[str, ...]  # haves from which the goal cannot be reached through named references
    unused_hypotheses: tuple[str, ...]  # hypotheses no named reference leads from to the goal


class ProofGraph(nx.DiGraph):
    """Nodes: the theorem's hypotheses, each have, and the goal `⊢`; u → v when the proof of v (the closing
    steps, for the goal) refers to u by name. Node attributes: kind (NodeKind), name, statement, depth."""

    def haves(self) -> list[str]:
        return [n for n, k in self.nodes(data="kind") if k is NodeKind.HAVE]

    def hypotheses(self) -> list[str]:
        return [n for n, k in self.nodes(data="kind") if k is NodeKind.HYPOTHESIS]

    def summary(self) -> GraphSummary:
        to_goal = nx.ancestors(self, GOAL) | {GOAL}
        longest = nx.dag_longest_path_length(self.subgraph(to_goal)) if len(to_goal) > 1 else 0
        level: dict[str, int] = {}
        for n in nx.topological_sort(self):
            level[n] = max((level[p] + 1 for p in self.predecessors(n)), default=0)
        per_level: dict[int, int] = {}
        for n in self.haves():
            per_level[level[n]] = per_level.get(level[n], 0) + 1
        return GraphSummary(
            hypotheses=len(self.hypotheses()),
            haves=len(self.haves()),
            edges=self.number_of_edges(),
            longest_chain=longest,
            width=max(per_level.values(), default=0),
            unused_haves=tuple(n for n in self.haves() if n not in to_goal),
            unused_hypotheses=tuple(n for n in self.hypotheses() if n not in to_goal),
        )

    def to_dot(self) -> str:
        """Graphviz DOT text (written by hand: no pydot/graphviz dependency)."""

        def q(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

        shape = {NodeKind.HYPOTHESIS: "ellipse", NodeKind.HAVE: "box", NodeKind.GOAL: "doublecircle"}
        lines = ["digraph proof {", "  rankdir=LR;"]
        for n, d in self.nodes(data=True):
            label = n if d.get("statement") is None else f"{n} : {d['statement']}"
            lines.append(f"  {q(n)} [shape={shape[d['kind']]}, label={q(label)}];")
        lines += [f"  {q(u)} -> {q(v)};" for u, v in self.edges]
        return "\n".join(lines + ["}"]) + "\n"


@dataclass(frozen=True, eq=False)
class Skeleton:
    theorem: Theorem
    haves: tuple[Have, ...]
    graph: ProofGraph
    _main: _Block
    _code: str
    _fun_binders: tuple[str, ...] = ()

    def to_lean(self, depth: int | None = 1) -> str:
        """The theorem with the haves of depth ≤ `depth` (all when None) kept and every proof body and the
        closing steps replaced by `sorry`. Binding tactics of kept blocks (intro, obtain … := e) stay verbatim,
        because kept statements may name what they bind."""
        t = self.theorem
        head = f"{t.keyword} {t.name} {t.statement}" if t.name else f"{t.keyword} {t.statement}"
        lines = [f"{head} := by"]
        if self._fun_binders:
            lines.append("  intro " + " ".join(self._fun_binders))
        lines += self._render(self._main, "  ", depth)
        return "\n".join(lines) + "\n"

    def _render(self, block: _Block, indent: str, depth: int | None) -> list[str]:
        out: list[str] = []
        for st in block.steps:
            h = st.have
            if h is not None and h.statement is not None and (depth is None or h.depth <= depth):
                if h.kind is HaveKind.SUFFICES:
                    out.append(f"{indent}{h.header} by sorry")
                    continue
                inner = st.proof_block
                if (
                    inner is not None
                    and (depth is None or h.depth < depth)
                    and any(s.have is not None or s.kept_verbatim for s in inner.steps)
                ):
                    out.append(f"{indent}{h.header} := by")
                    out += self._render(inner, indent + "  ", depth)
                else:
                    out.append(f"{indent}{h.header} := by sorry")
            elif st.kept_verbatim or (h is not None and h.statement is None and not h.in_closing):
                out += _reindent(self._code[st.start : st.end], st.col, indent)
        out.append(f"{indent}sorry")
        return out


def _reindent(text: str, col: int, indent: str) -> list[str]:
    lines = [ln.rstrip() for ln in text.rstrip().split("\n")]
    out = [indent + lines[0].strip()]
    for ln in lines[1:]:
        if ln.strip():
            lead = len(ln) - len(ln.lstrip())
            out.append(indent + " " * max(lead - col, 2) + ln.strip())
    return out


# ---- the parser -------------------------------------------------------------------------------------------


def skeleton_of(lean_text: str, source: str | None = None) -> Skeleton:
    """Parse a Lean 4 theorem and its proof (imports and other declarations before it are skipped; the last
    `theorem`/`lemma`/`example` is the one read). Raises SkeletonParseError with line and column."""
    return _Parser(lean_text, source).parse()


class _Parser:
    def __init__(self, text: str, source: str | None):
        if "\t" in text:
            i = text.index("\t")
            raise self._err_at(text, i, "tab character: Lean layout is column based; replace tabs by spaces", source)
        self.text, self.source = text, source
        self.code = _mask(text, source)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.code)]
        self.defs: list[_Def] = []
        self.owners: list[tuple[int, int, str]] = []  # (start, end, node): refs inside belong to node
        self.excluded: list[tuple[int, int]] = []  # binding positions, have headers: not references
        self.haves: list[tuple[Have, str]] = []
        self.graph = ProofGraph()
        self.node_names: dict[str, int] = {}

    # -- positions
    @staticmethod
    def _err_at(text: str, i: int, msg: str, source: str | None) -> SkeletonParseError:
        line = text.count("\n", 0, i) + 1
        return SkeletonParseError(msg, line, i - (text.rfind("\n", 0, i) + 1), source)

    def err(self, i: int, msg: str) -> SkeletonParseError:
        return self._err_at(self.text, i, msg, self.source)

    def line_of(self, i: int) -> int:
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= i:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def col(self, i: int) -> int:
        return i - self.line_starts[self.line_of(i)]

    def skip_ws(self, i: int, end: int) -> int:
        while i < end and self.code[i].isspace():
            i += 1
        return i

    def word_at(self, i: int) -> str:
        m = re.compile(r"[^\s(\[{⟨⦃,;:]+").match(self.code, i)
        return m.group(0) if m else ""

    def find_top(self, start: int, end: int, token: str) -> int:
        """First `token` at bracket depth 0 in [start, end), or -1."""
        depth, i = 0, start
        while i < end:
            c = self.code[i]
            if c in _OPEN:
                depth += 1
            elif c in _CLOSE:
                depth -= 1
                if depth < 0:
                    return -1
            elif depth == 0 and self.code.startswith(token, i) and (token != ":" or not self.code.startswith(":=", i)):
                return i
            i += 1
        return -1

    # -- entry
    def parse(self) -> Skeleton:
        self.check_brackets()
        decls = list(_DECL.finditer(self.code))
        if not decls:
            raise SkeletonParseError(
                "no `theorem`, `lemma` or `example` declaration: give the theorem with its "
                "proof (a bare proof body needs its statement in front)",
                1,
                0,
                self.source,
            )
        m = decls[-1]
        keyword = m.group(1)
        i = self.skip_ws(m.end(), len(self.code))
        name = None
        if keyword != "example":
            nm = re.compile(r"[^\s(\[{⟨⦃:]+").match(self.code, i)
            if not nm:
                raise self.err(i, f"`{keyword}` without a name")
            name, i = nm.group(0), nm.end()
        assign = self.find_top(i, len(self.code), ":=")
        if assign < 0:
            raise self.err(
                m.start(1),
                f"`{keyword}` statement has no `:=` at bracket depth 0 (equation-style "
                "`| pat => …` proofs are not read)",
            )
        stmt_raw = self.code[i:assign]
        binders, goal = self.split_statement(i, assign)
        theorem = Theorem(keyword, name, _collapse(stmt_raw), binders, goal)
        for b in binders:
            if b.is_hypothesis:
                self.add_node(b.name, NodeKind.HYPOTHESIS, b.type, 0, bind=False)
        self.graph.add_node(GOAL, kind=NodeKind.GOAL, name=GOAL, statement=goal, depth=0)
        end = len(self.code)
        for b in binders:
            self.defs.append(_Def(b.name, i, end, frozenset({b.name} if b.is_hypothesis else ())))
        p = self.skip_ws(assign + 2, end)
        fun_binders: tuple[str, ...] = ()
        self.owners.append((p, end, GOAL))
        if self.code.startswith("by", p) and self.word_at(p) == "by":
            main = self.block(p + 2, end, depth=1, closing=False, bracketed=False)
        else:  # term-mode proof: `fun x y =>` then a layout block of `have`s and a final term
            fm = re.compile(r"(?:fun|λ)\s+([^=↦]*?)\s*(?:=>|↦)").match(self.code, p)
            if fm:
                fun_binders = tuple(n for n in _IDENT.findall(fm.group(1)) if n not in _NOT_NAMES)
                self.excluded.append((fm.start(), fm.end()))
                for n in fun_binders:
                    self.defs.append(_Def(n, fm.end(), end, frozenset()))
                p = fm.end()
            main = self.block(p, end, depth=1, closing=False, bracketed=False)
        tail = self.skip_ws(main.end, end)
        if tail < end:
            raise self.err(
                tail,
                f"text after the proof at column {self.col(tail)} belongs to no tactic block "
                f"(the proof's block is at column {main.col}): indent it or remove it",
            )
        self.resolve_references(assign + 2)
        haves = tuple(h for h, _ in sorted(self.haves, key=lambda t: t[0].span[0]))
        return Skeleton(theorem, haves, self.graph, main, self.code, fun_binders)

    def check_brackets(self) -> None:
        stack: list[int] = []
        for i, c in enumerate(self.code):
            if c in _OPEN:
                stack.append(i)
            elif c in _CLOSE:
                if not stack or self.code[stack[-1]] != _MATCH[c]:
                    raise self.err(i, f"unmatched closing bracket {c!r}")
                stack.pop()
        if stack:
            raise self.err(stack[-1], f"bracket {self.code[stack[-1]]!r} is never closed")

    def split_statement(self, start: int, end: int) -> tuple[tuple[Binder, ...], str]:
        binders: list[Binder] = []
        i = self.skip_ws(start, end)
        while i < end and self.code[i] in "([{⦃⟨":
            close = self._match_close(i, end)
            inner = self.code[i + 1 : close]
            if self.code[i] == "{" and inner.startswith("{"):
                inner = inner[1:-1]
            colon = inner.find(":")
            if colon > 0 and self.code[i] != "[":
                typ = _collapse(inner[colon + 1 :].lstrip("="))
                for n in _IDENT.findall(inner[:colon]):
                    binders.append(Binder(n, typ, _looks_like_prop(n, typ)))
            i = self.skip_ws(close + 1, end)
        goal = self.code[i:end]
        if goal.lstrip().startswith(":"):
            goal = goal.lstrip()[1:]
        return tuple(binders), _collapse(goal)

    def _match_close(self, i: int, end: int) -> int:
        depth = 0
        for j in range(i, end):
            if self.code[j] in _OPEN:
                depth += 1
            elif self.code[j] in _CLOSE:
                depth -= 1
                if depth == 0:
                    return j
        raise self.err(i, "binder bracket is never closed")

    def add_node(self, name: str, kind: NodeKind, statement: str | None, depth: int, bind: bool = True) -> str:
        k = self.node_names.get(name, 0) + 1
        self.node_names[name] = k
        node = name if k == 1 else f"{name}#{k}"  # a shadowing have gets its own node
        self.graph.add_node(node, kind=kind, name=name, statement=statement, depth=depth)
        return node

    # -- blocks and steps
    def block(self, start: int, limit: int, depth: int, closing: bool, bracketed: bool) -> _Block:
        """The tactic (or term-layout) block whose first token follows `start`, ending at a shallower line, an
        unmatched closing bracket, a `,` when the block sits inside brackets, or `limit`."""
        p = self.skip_ws(start, limit)
        if p >= limit:
            return _Block(p, p, self.col(p) if p < len(self.code) else 0)
        c = self.col(p)
        blk = _Block(p, p, c)
        step_start, i, bracket = p, p, 0
        while i < limit:
            ch = self.code[i]
            if ch in _OPEN:
                bracket += 1
            elif ch in _CLOSE:
                bracket -= 1
                if bracket < 0:
                    break
            elif ch == "," and bracket == 0 and bracketed:
                break
            elif ch == "\n" and bracket == 0:
                j = self.skip_ws(i, limit)
                if j >= limit:
                    break
                jc = self.col(j)
                prev = self.code[step_start:i].rstrip()
                continued = prev.endswith(("<;>", ":=", "by", "=>", "·", "fun", ",", "|")) or self.code.startswith(
                    "<;>", j
                )
                if jc < c and not (continued and jc >= c):
                    break
                if jc == c and not continued:
                    self.add_step(blk, step_start, self._trim(step_start, i), depth, closing)
                    step_start = j
                i = j
                continue
            i += 1
        end = self._trim(step_start, i)
        self.add_step(blk, step_start, end, depth, closing)
        blk.end = end
        return blk

    def _trim(self, start: int, end: int) -> int:
        while end > start and self.code[end - 1].isspace():
            end -= 1
        return end

    def add_step(self, blk: _Block, start: int, end: int, depth: int, closing: bool) -> None:
        if end <= start:
            return
        kw = self.word_at(start)
        st = _Step(start, end, self.col(start), kw)
        blk.steps.append(st)
        if kw in ("have", "suffices") or (kw == "obtain" and self._obtain_typed(start, end)):
            self.have_step(st, blk, depth, closing)
        elif kw in ("·", ".") or kw.startswith("·"):
            off = start + 1
            st.blocks.append(self.block(off, end, depth, closing=True, bracketed=False))
        elif kw in ("case", "next"):
            arrow = self.find_top(start, end, "=>")
            if arrow < 0:
                raise self.err(start, f"`{kw}` without `=>`")
            names = [n for n in _IDENT.findall(self.code[start + len(kw) : arrow]) if n not in _NOT_NAMES]
            if kw == "case":
                names = names[1:]
            self.excluded.append((start, arrow))
            for n in names:
                self.defs.append(_Def(n, arrow, end, frozenset()))
            st.blocks.append(self.block(arrow + 2, end, depth, closing=True, bracketed=False))
        else:
            if kw in _BINDERS:
                self.binding_step(st, blk)
            self.nested(st, start, end, depth, closing=True)

    def nested(self, st: _Step, start: int, end: int, depth: int, closing: bool) -> None:
        """Parse every `by` block and every `| alt =>` tactic block inside [start, end)."""
        i, depth_br = start, 0
        while i < end:
            ch = self.code[i]
            if ch in _OPEN:
                depth_br += 1
            elif ch in _CLOSE:
                depth_br -= 1
            elif (
                self.code.startswith("by", i)
                and self.word_at(i) == "by"
                and (i == 0 or not (self.code[i - 1].isalnum() or self.code[i - 1] in "_.'"))
            ):
                b = self.block(i + 2, end, depth, closing, bracketed=depth_br > 0)
                st.blocks.append(b)
                i = max(b.end, i + 2)
                continue
            elif self.code.startswith("=>", i) and depth_br == 0:
                seg_start = self.code.rfind("|", start, i)
                fun = self.code.rfind("fun", start, i)
                if seg_start >= 0 and fun < seg_start:  # `| ctor x y =>` of induction/match/rcases: tactics
                    names = [n for n in _IDENT.findall(self.code[seg_start + 1 : i]) if n not in _NOT_NAMES][1:]
                    self.excluded.append((seg_start, i))
                    b = self.block(i + 2, end, depth, closing, bracketed=False)
                    for n in names:
                        self.defs.append(_Def(n, i, b.end, frozenset()))
                    st.blocks.append(b)
                    i = max(b.end, i + 2)
                    continue
            elif (
                self.code.startswith("fun", i)
                and self.word_at(i) == "fun"
                and (i == 0 or not (self.code[i - 1].isalnum() or self.code[i - 1] in "_.'"))
            ):
                arrow = min(
                    [k for k in (self.code.find("=>", i, end), self.code.find("↦", i, end)) if k >= 0], default=-1
                )
                if arrow > 0:
                    self.excluded.append((i, arrow))
                    for n in _IDENT.findall(self.code[i + 3 : arrow]):
                        if n not in _NOT_NAMES:
                            self.defs.append(_Def(n, arrow, end, frozenset()))
            i += 1

    def _obtain_typed(self, start: int, end: int) -> bool:
        assign = self.find_top(start, end, ":=")
        colon = self.find_top(start, assign if assign >= 0 else end, ":")
        return colon >= 0

    def have_step(self, st: _Step, blk: _Block, depth: int, closing: bool) -> None:
        start, end, kw = st.start, st.end, st.keyword
        after_kw = start + len(kw)
        if kw == "suffices":
            by = self._find_word(after_kw, end, ("by", "from"))
            head_end = by if by >= 0 else end
            assign = -1
        else:
            assign = self.find_top(after_kw, end, ":=")
            head_end = assign if assign >= 0 else end
            by_in_head = self._find_word(after_kw, head_end, ("by", "from"))
            if by_in_head >= 0 and self.find_top(after_kw, head_end, ":") < 0:
                pass  # `have h := by …` never reaches here (`:=` found); nothing to do
            elif by_in_head >= 0 and assign < 0:
                raise self.err(
                    by_in_head,
                    f"`{kw} … {self.word_at(by_in_head)}` without `:=` is Lean 3 syntax; write `{kw} h : T := by …`",
                )
        head = self.code[after_kw:head_end]
        colon = self.find_top(after_kw, head_end, ":")
        if kw == "obtain":
            pattern = self.code[after_kw:colon]
            names = tuple(n for n in _IDENT.findall(pattern) if n not in _NOT_NAMES)
            name = ", ".join(names) or "_"
            statement = _collapse(self.code[colon + 1 : head_end])
        else:
            before = self.code[after_kw:colon] if colon >= 0 else head
            nm = _IDENT.match(before.strip()) if before.strip() else None
            if before.strip().startswith("⟨"):  # `have ⟨x, hx⟩ := e`: destructuring, a binding step
                self.binding_step(st, blk, pattern=(after_kw, head_end), sources=(head_end, end))
                self.nested(st, head_end, end, depth, closing=True)
                return
            name = nm.group(0) if nm else "this"
            names = (name,)
            if colon < 0:
                statement = None
            else:
                rest = before.strip()[len(nm.group(0)) :] if nm else before.strip()
                statement = (
                    _collapse(rest + " : " + self.code[colon + 1 : head_end])
                    if rest.strip()
                    else _collapse(self.code[colon + 1 : head_end])
                )
            if statement == "":
                raise self.err(colon, f"`{kw}` with an empty statement after `:`")
        proof_start = self.skip_ws(head_end + (2 if assign >= 0 else 0), end) if head_end < end else None
        if kw == "suffices" and proof_start is not None:
            proof_start = head_end
        proof_span = (proof_start, end) if proof_start is not None and proof_start < end else None
        if statement is None and proof_span and "by" in re.findall(r"\w+", self.code[proof_span[0] : end]):
            closing = True  # `have h := by …`: no statement to keep, so the skeleton drops it
        h = Have(
            HaveKind(kw),
            name,
            names,
            statement,
            depth,
            (start, end),
            proof_span,
            self.line_of(start) + 1,
            closing,
            _collapse(f"{kw}{head}"),
            self.code[proof_span[0] : proof_span[1]] if proof_span else None,
        )
        st.have = h
        node = self.add_node(name, NodeKind.HAVE, statement, depth)
        self.haves.append((h, node))
        self.excluded.append((start, head_end))
        scope = self._scope_end(start)
        for n in names:
            self.defs.append(_Def(n, end, scope, frozenset({node})))
        if kw == "suffices":
            # the `by`/`from` part closes the current goal using the name; the rest of the block proves it
            self.graph.add_edge(node, self._owner_at(start))
            self.owners.append((end, scope, node))
            if proof_span:
                self.nested(st, proof_span[0], end, depth, closing=True)
            return
        if proof_span:
            self.owners.append((proof_span[0], end, node))
            p = proof_span[0]
            if self.word_at(p) == "by":
                b = self.block(p + 2, end, depth + 1, closing, bracketed=False)
                st.blocks.append(b)
                st.proof_block = b
                tail = self.skip_ws(b.end, end)
                if tail < end:
                    raise self.err(
                        tail,
                        f"text after the proof of `{kw} {name}` is at column {self.col(tail)}, "
                        f"inside no block: indent it to column {b.col} or dedent it to "
                        f"{st.col}",
                    )
            else:  # a term proof: haves inside its `by`s are not kept by the skeleton
                self.nested(st, p, end, depth + 1, closing=True)

    def _find_word(self, start: int, end: int, words: tuple[str, ...]) -> int:
        depth = 0
        for i in range(start, end):
            c = self.code[i]
            if c in _OPEN:
                depth += 1
            elif c in _CLOSE:
                depth -= 1
            elif depth == 0 and self.word_at(i) in words and (i == 0 or self.code[i - 1].isspace()):
                return i
        return -1

    def binding_step(
        self, st: _Step, blk: _Block, pattern: tuple[int, int] | None = None, sources: tuple[int, int] | None = None
    ) -> None:
        """Names a tactic binds: visible after the step to the end of its block; they stand for what they
        were destructured from (`sources`), or for nothing (intro, by_contra)."""
        start, end, kw = st.start, st.end, st.keyword
        body = start + len(kw)
        if pattern is None:
            if kw in ("obtain", "set"):
                assign = self.find_top(body, end, ":=")
                w = self._find_word(body, end, ("with",)) if kw == "set" else -1
                pattern = (body, assign if assign >= 0 else end)
                sources = (assign + 2, w if w >= 0 else end) if assign >= 0 else None
                if w >= 0:
                    self.excluded.append((w, end))
                    self._bind_names(w + 4, end, end, sources, start)
            elif kw in ("rcases", "cases'", "induction'", "induction", "cases", "choose", "lift"):
                w = self._find_word(body, end, ("with", "using"))
                if kw == "choose":
                    pattern, sources = (body, w if w >= 0 else end), ((w + 5, end) if w >= 0 else None)
                elif w >= 0 and self.word_at(w) == "with":
                    then = self.code.find("<;>", w, end)  # `rcases h with ⟨x, hx⟩ <;> tac`: tac is no pattern
                    pattern, sources = (w + 4, then if then >= 0 else end), (body, w)
                else:
                    return
            elif kw == "by_cases":
                colon = self.find_top(body, end, ":")
                pattern, sources = (body, colon if colon >= 0 else body), None
            else:  # intro, intros, rintro, by_contra, rename_i
                pattern, sources = (body, end), None
            if kw in ("induction", "cases") and "|" in self.code[pattern[0] : pattern[1]]:
                return  # `| ctor x =>` alternatives: `nested` binds those names per branch
        self.excluded.append(pattern)
        if (
            "|" not in self.code[pattern[0] : pattern[1]]
            and "<;>" not in self.code[start:end]
            and "by" not in re.findall(r"\w+", self.code[start:end])
            and kw in ("intro", "intros", "rintro", "obtain", "rcases", "set", "have", "choose")
        ):
            st.kept_verbatim = True
        self._bind_names(pattern[0], pattern[1], end, sources, start)

    def _bind_names(self, ps: int, pe: int, step_end: int, sources: tuple[int, int] | None, at: int) -> None:
        targets = frozenset(self._resolve_span(*sources)) if sources else frozenset()
        scope = self._scope_end(at)
        for n in _IDENT.findall(self.code[ps:pe]):
            if n not in _NOT_NAMES and n not in _KEYWORDS:
                self.defs.append(_Def(n, step_end, scope, targets))

    def _resolve_span(self, start: int, end: int) -> set[str]:
        out: set[str] = set()
        for m in _IDENT.finditer(self.code, start, end):
            out |= self._resolve(m.group(0).split(".")[0], m.start())
        return out

    def _resolve(self, name: str, at: int) -> frozenset[str]:
        best: _Def | None = None
        for d in self.defs:
            if d.name == name and d.start <= at < d.end and (best is None or d.start >= best.start):
                best = d
        return best.targets if best else frozenset()

    def _scope_end(self, at: int) -> int:
        """Names bound at `at` are visible to the end of the innermost enclosing owner range (a have's proof
        or the whole proof); blocks inside a closing step end earlier, which only widens visibility slightly."""
        inner = min((o for o in self.owners if o[0] <= at < o[1]), key=lambda o: o[1] - o[0], default=None)
        return inner[1] if inner else len(self.code)

    def _owner_at(self, at: int) -> str:
        inner = min((o for o in self.owners if o[0] <= at < o[1]), key=lambda o: o[1] - o[0], default=None)
        return inner[2] if inner else GOAL

    def resolve_references(self, start: int) -> None:
        excluded = sorted(self.excluded)
        for m in _IDENT.finditer(self.code, start):
            p = m.start()
            if any(a <= p < b for a, b in excluded):
                continue
            name = m.group(0).split(".")[0]
            if name in _KEYWORDS:
                continue
            owner = self._owner_at(p)
            for u in self._resolve(name, p):
                if u != owner:
                    self.graph.add_edge(u, owner)


def _looks_like_prop(name: str, typ: str) -> bool:
    """A heuristic without Lean's elaborator: a binder is a hypothesis when its type has a relation or
    connective, or its name starts with `h` and its type is not a plain type (ℝ, ℕ, Finset …)."""
    if _PROP_MARK.search(typ):
        return True
    return name[:1] in "hH" and not _TYPEISH.match(typ) and "→" not in typ


def _mask(text: str, source: str | None = None) -> str:
    """The text with comments and literals blanked (positions kept); an unclosed one is a parse error."""
    try:
        return mask_comments_and_strings(text, strict=True)
    except UnclosedLiteral as e:
        raise _Parser._err_at(text, e.offset, e.what, source) from None
