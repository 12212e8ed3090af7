"""Reading math answers strictly: what a completion boxed, and whether that answer has the form of the gold answer.

Pure Python, no sympy; every function is linear in its (capped) input and uses only regexes without nested
quantifiers. formalpi/domains/math/domain.py runs all of it inside its pool workers, under the hard per-check timeout.

Extraction (`extract_boxes`) reads what a reader of the rendered completion sees:
  * LaTeX comments (`%` to the end of the line, not `\\%`), `\\iffalse … \\fi`, `\\verb|…|`, the verbatim and
    comment environments, anything after `\\end{document}` / `\\endinput`, Markdown ``` code fences and
    `<!-- comments -->` are not rendered, so a box in them is not a box. A `%` right after a digit or a closing `$`
    (`rose by 2.5%`, `$10$ %`) is a percent sign in prose, not a comment: the rest of its line is read;
  * a completion that defines or redefines macros (`\\def`, `\\newcommand`, `\\let`, …), uses any other TeX
    conditional, or recolours text (`\\color`) cannot be read reliably: it is refused;
  * a box inside another command's argument (`\\text{\\boxed{5}}`, `\\phantom{…}`, `\\textcolor{white}{…}`) is
    refused, except in the typographic wrappers in `_TRANSPARENT` (`\\textbf{…}`, …); a box that is the whole content
    of its box (`\\boxed{\\boxed{5}}`) is that box; a box beside other content in a box (`\\boxed{4\\boxed{5}}`) is
    refused;
  * every distinct box is an answer: the checker (formalpi/domains/math/domain.py) requires all of them to be right, with one
    exception: when the gold is a list (`list_length` > 1) and each box holds one element, the boxes together are
    read as one list (`\\boxed{(2,2)}` and `\\boxed{(6,2)}` for `(2,2), (6,2)`), which must then equal the gold list
    (an extra box is an extra element: wrong). For a gold that is one value, several different boxes are a hedge.

The form check (`read_answer` + `compare_form`) is a whitelist: the candidate must be one mathematical object of the
gold's kind before any value is compared:
  * a gold that is a number written out (integer, decimal, fraction, mixed number) accepts only a number written
    out, compared exactly (an integer gold accepts an integer or a decimal, not `\\frac{10}{2}`);
  * a text gold (`\\text{(C)}`, `\\text{Evelyn}`) accepts exactly its words;
  * otherwise the candidate may use each separator, relation, function and operator class (`count_classes`) at
    most as often as the gold does: `,` `;` `=` `<` `\\lor` "or" `\\pm` `\\ldots` `\\quad` `\\text` brackets, binary
    `+`/`-` (terms), fractions, powers, `\\binom`, functions, any unknown command … — several values, hedges, and
    the question's own expression restated or expanded all need more of some class than the gold answer has
    (multiplication, explicit or implied, is free: `2\\cdot\\sqrt2` is `2\\sqrt2`; a relation read the other way
    round, `>` for `<`, and one function for another are the same class);
  * two numbers side by side (`4 \\quad 5`, `4\\,5`, `4 5`) are never one value, except a thousands-grouped numeral;
  * `x = 5` is read as 5 (a name on the left), `x \\in [a, b]` as the interval; an inequality in one variable
    (`3 < \\lambda \\le 4`, `5 \\ge x`) is read as its interval when the gold is an interval or an inequality.

Accepted forms (presentation only, never a second value): typeface wrappers `\\mathbf{5}` `\\boldsymbol{5}` `\\bm`
`\\mathit` `\\mathsf`, a number typeset as text (`\\text{5}`, `\\textbf{-3.5}`), one value in one pair of parentheses
(`\\left(\\frac13\\right)`), a sign on either part of a fraction (`\\frac{-3}{8}`), ASCII relations (`<=` `>=` `!=`),
a trailing percent sign or word (`10\\%`, `28 percent`) read as a unit — never as /100, so one answer cannot match
two golds (`28\\%` is not `0.28`); lists written with words or semicolons on either side (`6 \\text{ and } 8`,
`19, 46, and 82`, `-12; -11`), `x = -2, x = 1` for one unknown, `\\quad` after a list's comma.

Deliberate strictness (right answers refused, because the same freedom would let a wrong or hedged answer pass):
chains and restatements (`x = 5+5+1 = 7 = 11`, `5+5+1`, `\\frac{x}{7}+\\frac{2}{7}` for `\\frac{x+2}{7}`: more terms
than the gold), approximations (`x \\approx 11`, `0.0833` for `\\frac{1}{12}`), an integer gold as an unreduced
fraction (`\\frac{3}{3}`), European decimal commas and space-grouped thousands (`1000,99`, `1 000`: two values),
different names dropped from a list (`b = 1, a = 2` is not `1, 2`), a list with repeated elements, and answers with no
box at all (math-verify reads a last number from prose; a completion must box its answer).

Thousands separators (the rule, decided on the trusted side): when the gold is one number, a candidate written
`d{1,3}(SEP ddd)+` with SEP one of `,` `{,}` `,\\!` `\\,` is that one number (`58,500`, `58{,}500`, `10,\\!080`,
`58\\,500`). A comma followed by a plain space is never a separator (`58, 500` is two values), and when the gold is
a list (`3, 125`) a comma is always a list separator.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from fractions import Fraction

MAX_COMPLETION_CHARS = 200_000  # longer completions are refused unread
MAX_ANSWER_CHARS = 10_000  # longer boxed answers are refused (a 5000-digit integer still fits)
MAX_DISTINCT_BOXES = 8
MAX_NESTING = 40  # brace/bracket depth of an answer
EXACT_DIGITS = 4000  # numerals up to this many digits are compared as exact fractions; longer ones as digit strings


class Malformed(ValueError):
    """An answer that cannot be read as one LaTeX expression (unbalanced braces, too deep, too long)."""


# --------------------------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------------------------

# One token at a time: a comment (to the end of the line, with the next line's indentation, as TeX reads it), a
# control word, a control symbol, a lone trailing backslash, or a run of ordinary text.
_LEX = re.compile(r"%[^\n]*\n?[ \t]*|\\[A-Za-z@]+\*?|\\.|\\|[^%\\]+", re.S)
_ENV_NAME = re.compile(r"\s*\{([A-Za-z*]+)\}")
_VERBATIM_ENVS = {"verbatim", "verbatim*", "Verbatim", "comment", "lstlisting", "minted", "filecontents"}
# Macro (re)definition, catcode changes, file input: what the completion renders can no longer be read from it.
_REDEFINING = {"def", "edef", "gdef", "xdef", "let", "futurelet", "newcommand", "renewcommand", "providecommand",
               "DeclareRobustCommand", "DeclareMathOperator", "newenvironment", "renewenvironment", "catcode",
               "csname", "expandafter", "input", "include", "makeatletter", "newif", "global", "uppercase",
               "lowercase", "scantokens", "detokenize", "mathcode", "active"}
# Switches that recolour everything after them (a box in white is invisible). Argument-taking hiders (`\\phantom`,
# `\\textcolor`, `\\colorbox`, `\\smash`, …) need no list: a box inside any non-typographic argument is refused.
_HIDING = {"color", "pagecolor"}
_STOP = {"endinput", "bye", "stop"}  # TeX stops reading here
_BOX_CMDS = {"boxed", "fbox"}
# Typographic wrappers a box may sit in and still be the same visible box.
_TRANSPARENT = {None, "textbf", "mathbf", "boldsymbol", "bm", "emph", "textit", "underline", "large", "Large"}
# A `%` right after a digit or a closing `$` (spaces between allowed, same line) is a percent sign written in prose
# (`rose by 2.5%`, `$10$ %`), not a comment. Reading it as text only ever shows the checker more boxes, and every
# distinct box must be right, so this cannot turn a wrong completion into a right one.
_PERCENT_AFTER = frozenset("0123456789$")
_X2 = re.compile(r"\\[A-Za-z@]+\*?|\\.|\\|[{}]|[^\\{}]+", re.S)


@dataclass(frozen=True)
class Extraction:
    """What a completion answers: its distinct boxed answers (last one last), or why it cannot be read."""

    boxes: tuple[str, ...] = ()
    refused: str = ""  # non-empty: the completion is refused (hidden/redefined/too many boxes): REJECTED
    missing: str = ""  # non-empty: nothing to check (no box, empty or unbalanced box): NO_ANSWER

    @property
    def answer(self) -> str | None:
        """The last boxed answer (what is shown), or None."""
        return self.boxes[-1] if self.boxes else None


def _markdown_visible(text: str) -> str:
    """The completion without what Markdown does not render as math: ``` fenced code and <!-- comments -->."""
    out: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        fence, comment = text.find("```", pos), text.find("<!--", pos)
        starts = [i for i in (fence, comment) if i >= 0]
        if not starts:
            out.append(text[pos:])
            break
        i = min(starts)
        out.append(text[pos:i])
        if i == fence:
            close = text.find("```", i + 3)
            pos = n if close < 0 else close + 3
        else:
            close = text.find("-->", i + 4)
            pos = n if close < 0 else close + 3
        out.append(" ")
    return "".join(out)


def _visible_text(text: str) -> tuple[str, str]:
    """The completion without comments, `\\iffalse…\\fi`, verbatim, Markdown code and comments, anything after
    `\\end{document}`; and a refusal reason ('' if none)."""
    text = _markdown_visible(text)
    out: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        if text[pos] == "%" and text[max(0, pos - 64):pos].rstrip(" \t")[-1:] in _PERCENT_AFTER:
            out.append("%")  # a percent sign after a number (`2.5%`, `10 %`), not a comment
            pos += 1
            continue
        m = _LEX.match(text, pos)
        tok = m.group(0)
        pos = m.end()
        if tok[0] == "%":
            continue
        if tok[0] != "\\" or len(tok) == 1:
            out.append(tok)
            continue
        name = tok[1:]
        if name in ("verb", "verb*"):
            if pos >= n:
                break
            end = text.find(text[pos], pos + 1)
            pos = n if end < 0 else end + 1
            out.append(" ")
            continue
        if name in _STOP:
            break
        if name in ("begin", "end"):
            env = _ENV_NAME.match(text, pos)
            if name == "end" and env and env.group(1) == "document":
                break  # TeX reads nothing after \end{document}
            if name == "begin" and env and env.group(1) in _VERBATIM_ENVS:
                close = text.find("\\end{" + env.group(1) + "}", env.end())
                pos = n if close < 0 else close + len(env.group(1)) + 6
                out.append(" ")
                continue
        if name == "iffalse":
            pos, why = _skip_false_branch(text, pos)
            if why:
                return "", why
            out.append(" ")
            continue
        if name in _REDEFINING:
            return "", f"the completion uses \\{name}: with macros redefined its answer cannot be read"
        if (name.startswith("if") and name != "iff") or name in ("fi", "else"):
            return "", f"the completion uses the TeX conditional \\{name}: its answer cannot be read"
        if name in _HIDING:
            return "", f"the completion uses \\{name}, which can hide or disguise text: its answer cannot be read"
        out.append(tok)
    return "".join(out), ""


def _skip_false_branch(text: str, pos: int) -> tuple[int, str]:
    """Position after the `\\fi` that closes an `\\iffalse` (nested conditionals counted, as TeX skips them)."""
    depth, n = 1, len(text)
    while pos < n:
        m = _LEX.match(text, pos)
        tok = m.group(0)
        pos = m.end()
        if tok[0] != "\\":
            continue
        name = tok[1:]
        if name.startswith("if") and name != "iff":
            depth += 1
        elif name == "fi":
            depth -= 1
            if depth == 0:
                return pos, ""
        elif name in ("else", "or") and depth == 1:
            return pos, f"the completion uses \\iffalse … \\{name}: its answer cannot be read"
    return n, ""  # an \iffalse never closed hides the rest, as in TeX


def braced(text: str, start: int) -> str | None:
    """The content of the brace group opening at text[start] == '{', or None if it never closes.

    Escaped braces (`\\{`, `\\}`) are content, not structure: a backslash always consumes the next character.
    """
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
        i += 1
    return None


_SPACE_TOKEN = re.compile(r"[^\s$]+")


def extract_boxes(text: str | None) -> Extraction:
    """Every distinct visible `\\boxed{…}` / `\\fbox{…}` / `\\boxed X` in `text`, in order of last appearance."""
    if not isinstance(text, str) or not text.strip():
        return Extraction(missing="empty completion")
    if len(text) > MAX_COMPLETION_CHARS:
        return Extraction(refused=f"the completion is longer than {MAX_COMPLETION_CHARS} characters")
    visible, why = _visible_text(text)
    if why:
        return Extraction(refused=why)
    boxes: list[str] = []
    stack: list[str | None] = []  # per open brace group: the command it is an argument of (None: plain group)
    prev_cmd: str | None = None  # the control word just before, if nothing but spaces came after it
    closed_tag: str | None = None  # the tag of the group that just closed (a command's next argument follows)
    pos, n = 0, len(visible)
    while pos < n:
        m = _X2.match(visible, pos)
        tok = m.group(0)
        pos = m.end()
        if tok == "{":
            stack.append(prev_cmd if prev_cmd is not None else closed_tag)
            if len(stack) > 10_000:
                return Extraction(refused="braces nested too deeply")
            prev_cmd = closed_tag = None
            continue
        if tok == "}":
            closed_tag = stack.pop() if stack else None
            prev_cmd = None
            continue
        if tok[0] == "\\" and len(tok) > 1 and tok[1].isalpha():
            name = tok[1:].rstrip("*")
            if name in _BOX_CMDS:
                hosts = [t for t in stack if t not in _TRANSPARENT]
                if hosts:
                    return Extraction(refused=f"a \\{name} inside \\{hosts[-1]}{{…}}: a hidden or nested box")
                content, pos = _box_argument(visible, pos)
                content = _unwrap_boxes(content)
                if content is None:
                    return Extraction(missing=f"an unbalanced or empty \\{name}")
                if _BOX_INSIDE.search(content):
                    return Extraction(refused=f"a box inside \\{name}{{…}} beside other content: a nested box")
                if len(content) > MAX_ANSWER_CHARS:
                    return Extraction(refused=f"a boxed answer longer than {MAX_ANSWER_CHARS} characters")
                if content in boxes:
                    boxes.remove(content)
                boxes.append(content)
                if len(boxes) > MAX_DISTINCT_BOXES:
                    return Extraction(refused=f"more than {MAX_DISTINCT_BOXES} different boxed answers")
                prev_cmd = closed_tag = None
                continue
            prev_cmd, closed_tag = name, None
            continue
        if not tok.isspace():
            prev_cmd = closed_tag = None
    if not boxes:
        return Extraction(missing="no \\boxed{} answer in the completion")
    return Extraction(boxes=tuple(boxes))


def _box_argument(text: str, pos: int) -> tuple[str | None, int]:
    """The stripped content of a box's argument starting at `pos` (after the command), and the position after it."""
    i = pos
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        content = braced(text, i)
        if content is None:
            return None, len(text)
        return content.strip() or None, i + len(content) + 2  # the raw content's length: past the closing brace
    if i > pos:  # `\boxed 5`: one token up to the next space or `$`
        m = _SPACE_TOKEN.match(text, i)
        if m:
            return m.group(0).rstrip(".,;") or None, m.end()
    return None, i


_BOX_INSIDE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_WHOLE_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")


def _unwrap_boxes(content: str | None) -> str | None:
    """`\\boxed{\\boxed{5}}` is the box `5`: a box that is all of its outer box's content is the same answer."""
    for _ in range(MAX_NESTING):
        m = _WHOLE_BOX.match(content or "")
        if m is None:
            break
        inner = braced(content, m.end() - 1)
        if inner is None or m.end() + len(inner) + 1 != len(content):
            break
        content = inner.strip() or None
    return content


def extract_answer(text: str | None) -> str | None:
    """The last boxed answer of a completion as a reader sees it; None if there is none or the completion is refused."""
    return extract_boxes(text).answer


# --------------------------------------------------------------------------------------------------------------
# Reading one answer into a small tree
# --------------------------------------------------------------------------------------------------------------

_ATOK = re.compile(r"\\begin\s*\{[A-Za-z*]*\}|\\end\s*\{[A-Za-z*]*\}|\\[A-Za-z]+|\\.|\\|<=|>=|!="
                   r"|[0-9]+(?:\.[0-9]+)?|\.[0-9]+|\s+|.", re.S)
_ALIAS = {"dfrac": "frac", "tfrac": "frac", "cfrac": "frac", "leq": "le", "leqslant": "le", "geq": "ge",
          "geqslant": "ge", "neq": "ne", "lbrace": "{", "rbrace": "}", "vee": "lor", "wedge": "land",
          "dots": "ldots", "cdots": "ldots", "dotsc": "ldots", "dotsb": "ldots", "dotsm": "ldots", "dotsi": "ldots",
          "dotso": "ldots", "hdots": "ldots", "times": "cdot", "ast": "cdot", "div": "/", "lt": "<", "gt": ">",
          "dbinom": "binom", "tbinom": "binom", "lvert": "|", "rvert": "|", "vert": "|", "mid": "|",
          "lbrack": "[", "rbrack": "]", "rightarrow": "to", "implies": "Rightarrow", "land": "land",
          "varepsilon": "epsilon", "varphi": "phi", "vartheta": "theta", "infin": "infty"}
_UNICODE = {"<=": "\\le", ">=": "\\ge", "!=": "\\ne", "−": "-", "–": "-", "≤": "\\le", "≥": "\\ge", "≠": "\\ne", "×": "\\cdot", "·": "\\cdot", "π": "\\pi",
            "∞": "\\infty", "√": "\\sqrt", "∨": "\\lor", "∧": "\\land", "±": "\\pm", "…": "\\ldots", "∪": "\\cup"}
_DROP = {"left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "bigg", "Bigg", "biggl", "biggr", "Biggl",
         "Biggr", "middle", "displaystyle", "textstyle", "scriptstyle", "limits", "nolimits", "strut", "mathstrut",
         "degree"}
_DIGITS = frozenset("0123456789")
_SIZED = {"left", "right", "middle", "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "bigg", "Bigg", "biggl", "biggr",
          "Biggl", "Biggr"}
_THIN = {"!", ",", ";", ":", ">", " "}
_ARITY = {"frac": 2, "binom": 2, "sqrt": 1, "overline": 1, "underline": 1, "bar": 1, "hat": 1, "vec": 1,
          "tilde": 1, "dot": 1, "ddot": 1, "mathbb": 1, "mathcal": 1, "mathfrak": 1, "overset": 2, "underset": 2, "stackrel": 2, "boxed": 1, "fbox": 1,
          "hspace": 1, "vspace": 1, "pmod": 1, "overrightarrow": 1, "widehat": 1, "widetilde": 1, "overbrace": 1,
          "underbrace": 1, "substack": 1, "cancel": 1, "not": 0}
# Typeface switches: the argument is the same mathematics in another font.
_STYLE = {"mathbf", "boldsymbol", "bm", "mathit", "mathsf", "mathnormal", "pmb"}
# Text made only of these characters, with a digit, is a number typeset as text and is read as mathematics.
_MATH_IN_TEXT = frozenset("-+0123456789.,()[]/ ")
_TEXT_CMDS = {"text", "textrm", "textnormal", "mbox", "textbf", "textit", "textsf", "texttt", "textup", "hbox",
              "mathrm", "emph", "operatorname"}
_OPERAND_CMDS = {"pi", "infty", "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
                 "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
                 "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi",
                 "Omega", "imath", "jmath", "ell", "emptyset", "varnothing"}
_FUNCTIONS = {"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
              "log", "ln", "lg", "exp"}
_FREE = {"cdot"}  # multiplication, explicit or not, is never counted: `2\cdot\sqrt2` is `2\sqrt2`
_RELATIONS = {"<": "<", ">": ">", "le": "\\le", "ge": "\\ge"}
# Closed-class English words (conjunctions, prepositions, determiners, degree adverbs): a unit is a noun phrase of at
# most three words without these, so a trailing text containing one is not a unit but a hedge or a sentence
# (`5 \text{ or more}`, `5 \text{ (or 6)}`).
_FUNCTION_WORDS = frozenset(
    "a an the or and nor but either neither not no yes both all any each every some more less most least than "
    "at about around approximately roughly nearly almost over under above below between to from of in on by for "
    "with without plus minus times if else otherwise then so also only exactly maybe perhaps possibly probably "
    "is are was be equals equal answer answers value values none other others etc per".split())


@dataclass(frozen=True)
class Tok:
    kind: str  # num | letter | sym | cmd | text | space | thin
    value: str


@dataclass(frozen=True)
class Node:
    """A command with its arguments (`\\frac{…}{…}`, `^`, `_`), or an environment (`name` 'env:pmatrix')."""

    name: str
    args: tuple[tuple, ...]
    opt: tuple | None = None


Item = Tok | Node


def _tokens(s: str) -> list[tuple[str, int]]:
    out = []
    for m in _ATOK.finditer(s):
        t = m.group(0)
        if t.startswith(("\\begin", "\\end")):
            t = "".join(t.split())
        out.append((_UNICODE.get(t, t), m.start()))
    return out


class _Parser:
    """A recursive reader of one answer into sequences of `Tok` and `Node`; plain `{…}` groups are flattened."""

    def __init__(self, s: str):
        self.s = s
        self.toks = _tokens(s)
        self.i = 0
        self.end = len(self.toks)  # narrowed to one token while reading an unbraced macro argument

    def parse(self) -> list[Item]:
        return self.seq(0, None)

    def seq(self, depth: int, closer: str | None) -> list[Item]:
        if depth > MAX_NESTING:
            raise Malformed(f"nested more than {MAX_NESTING} levels deep")
        items: list[Item] = []
        while self.i < self.end:
            t, start = self.toks[self.i]
            if closer is not None and t == closer:
                self.i += 1
                return items
            if t == "}":
                raise Malformed("unbalanced braces")
            if t.startswith("\\end"):
                raise Malformed(f"{t} without its \\begin")
            self.i += 1
            if t == "{":
                items.extend(self.seq(depth + 1, "}"))
            elif t.startswith("\\begin"):
                name = t[t.index("{") + 1:-1]
                env = "matrix" if name in ("pmatrix", "bmatrix", "matrix", "smallmatrix") else name
                body = self.seq(depth + 1, "\\end{" + name + "}")
                items.append(Node("env:" + env, (tuple(body),)))
            elif t.startswith("\\") and len(t) > 1 and t[1].isalpha():
                self.command(t[1:], depth, items)
            elif t.startswith("\\") and len(t) == 2:
                c = t[1]
                if c in _THIN:
                    items.append(Tok("thin", c))
                elif c == "$":
                    pass  # currency
                else:
                    items.append(Tok("sym", t))  # \{ \} \% \\ \&
            elif t in ("^", "_"):
                arg = self.argument(depth, whole_number=True)
                if t == "^" and arg == (Tok("cmd", "circ"),):
                    continue  # degrees
                items.append(Node(t, (arg,)))
            elif t[0] in _DIGITS or (t[0] == "." and len(t) > 1):  # ASCII digits only: `５`, `²` are not numbers
                items.append(Tok("num", t))
            elif t.isspace() or t == "~":
                items.append(Tok("space", " "))
            elif t.isalpha():
                items.append(Tok("letter", t))
            elif t in ("$", "°"):
                pass
            else:
                items.append(Tok("sym", t))
        if closer is not None:
            raise Malformed("unbalanced braces" if closer == "}" else f"missing {closer}")
        return items

    def command(self, name: str, depth: int, items: list[Item]) -> None:
        name = _ALIAS.get(name, name)
        if name in ("{", "}", "|", "[", "]", "<", ">", "/"):
            items.append(Tok("sym", "\\" + name if name in "{}" else name))
            return
        if name in _DROP:
            if name in _SIZED:
                self.skip_spaces()
                if self.i < self.end and self.toks[self.i][0] == ".":
                    self.i += 1
            return
        if name in _TEXT_CMDS:
            self.skip_spaces()
            if self.i < self.end and self.toks[self.i][0] == "{":
                pos = self.toks[self.i][1]
                content = braced(self.s, pos)
                if content is None:
                    raise Malformed(f"unbalanced \\{name}{{")
                stop = pos + len(content) + 2
                while self.i < len(self.toks) and self.toks[self.i][1] < stop:
                    self.i += 1
                self.end = max(self.end, self.i)
                word = content.strip()
                if set(word) <= _MATH_IN_TEXT and any(c in _DIGITS for c in word) and depth < MAX_NESTING:
                    sub = _Parser(word)  # `\\text{5}`, `\\textbf{-3.5}`: a number typeset as text is that number
                    items.extend(sub.seq(depth + 1, None))
                elif name in ("mathrm", "operatorname") and len(word) == 1 and word.isalpha():
                    items.append(Tok("letter", word))
                elif name == "operatorname":
                    items.append(Tok("cmd", word))
                else:
                    items.append(Tok("text", content))
            return
        if name in _STYLE:  # `\\mathbf{5}` is 5 in bold: the same value
            items.extend(self.argument(depth))
            return
        if name == "sqrt":
            self.skip_spaces()
            opt = None
            if self.i < self.end and self.toks[self.i][0] == "[":
                self.i += 1
                opt = tuple(self.seq(depth + 1, "]"))
            items.append(Node("sqrt", (self.argument(depth),), opt))
            return
        arity = _ARITY.get(name, 0)
        if arity:
            items.append(Node(name, tuple(self.argument(depth) for _ in range(arity))))
        else:
            items.append(Tok("cmd", name))

    def skip_spaces(self) -> None:
        while self.i < self.end and self.toks[self.i][0].isspace():
            self.i += 1

    def argument(self, depth: int, whole_number: bool = False) -> tuple:
        """One macro argument: a brace group, or (TeX's rule) the next single token; `\\frac12` is 1 and 2."""
        self.skip_spaces()
        if self.i >= self.end:
            raise Malformed("a command without its argument")
        t, start = self.toks[self.i]
        if t == "{":
            self.i += 1
            return tuple(self.seq(depth + 1, "}"))
        if t == "}":
            raise Malformed("a command without its argument")
        if t[0] in _DIGITS and len(t) > 1 and not whole_number:
            self.toks[self.i] = (t[1:], start + 1)  # the rest of the digits stay for what follows
            return (Tok("num", t[0]),)
        saved = self.end
        self.end = self.i + 1
        try:
            return tuple(self.seq(depth + 1, None))
        finally:
            self.end = max(saved, self.i)


# --------------------------------------------------------------------------------------------------------------
# Rendering, counting, numerals
# --------------------------------------------------------------------------------------------------------------

def render(items) -> str:
    """A canonical LaTeX string for the items (math-verify reads it; equal strings are equal answers).

    No whitespace except inside text, after a comma (`3, 125` is not math-verify's 3125) and between a control
    word and a letter (`\\alpha b`): math-verify reads `9 i` as a symbol i but `9i` as the imaginary unit.
    """
    out: list[str] = []
    for it in items:
        if isinstance(it, Node):
            if it.name.startswith("env:"):
                piece = ("\\begin{pmatrix}" if it.name == "env:matrix" else f"\\begin{{{it.name[4:]}}}") \
                    + render(it.args[0]) + ("\\end{pmatrix}" if it.name == "env:matrix" else f"\\end{{{it.name[4:]}}}")
            elif it.name in ("^", "_"):
                piece = it.name + "{" + render(it.args[0]) + "}"
            else:
                piece = "\\" + it.name + ("[" + render(it.opt) + "]" if it.opt is not None else "") \
                    + "".join("{" + render(a) + "}" for a in it.args)
        elif it.kind == "cmd":
            piece = "\\" + it.value
        elif it.kind == "text":
            piece = "\\text{" + it.value + "}"
        elif it.kind in ("space", "thin"):
            continue
        elif it.value == ",":
            piece = ", "
        else:
            piece = it.value
        if out and piece[:1].isalpha() and _CONTROL_WORD_END.search(out[-1]):
            out.append(" ")
        out.append(piece)
    return "".join(out).strip()


_CONTROL_WORD_END = re.compile(r"\\[A-Za-z]+$")


def _ends_operand(it: Item | None) -> bool:
    if it is None:
        return False
    if isinstance(it, Node):
        return True
    if it.kind in ("num", "letter", "text"):
        return True
    if it.kind == "cmd":
        return it.value in _OPERAND_CMDS
    return it.value in (")", "]", "\\}", "|", "!", "'")


def _significant(items) -> list[Item]:
    return [it for it in items if not (isinstance(it, Tok) and it.kind in ("space", "thin"))]


def count_classes(items, counts: Counter | None = None) -> Counter:
    """How often the answer uses each separator/relation/operator/function class (see `_hedge_class`)."""
    counts = Counter() if counts is None else counts
    prev: Item | None = None
    sig = _significant(items)
    for w in _letter_words(items):
        if len(w) > 1 and w.lower() in _FUNCTION_WORDS:
            counts["word:" + w.lower()] += 1
    for it in sig:
        if isinstance(it, Node):
            key = {"frac": "div", "^": "pow", "_": "sub"}.get(it.name, it.name)
            counts[key] += 1
            for a in it.args:
                count_classes(a, counts)
            if it.opt is not None:
                count_classes(it.opt, counts)
        elif it.kind == "sym":
            v = it.value
            if v in "+-":
                if _ends_operand(prev):
                    counts["addop"] += 1
            elif v in ("(", "["):
                if not (isinstance(prev, Tok) and prev.kind == "cmd" and prev.value in _FUNCTIONS):
                    counts["bracket"] += 1  # `\\cot(x)` is `\\cot x`: an argument's brackets are not counted
            elif v in (")", "]", "\\}"):
                pass  # counted at the opener
            elif v == "\\{":
                counts["set"] += 1
            elif v == "*":
                pass
            elif v == "/":
                counts["div"] += 1
            else:
                counts[_SAME_CLASS.get(v, v)] += 1
        elif it.kind == "cmd" and it.value not in _OPERAND_CMDS and it.value not in _FREE:
            counts[_SAME_CLASS.get("\\" + it.value, "\\" + it.value)] += 1
        elif it.kind == "text":
            counts["text"] += 1
        prev = it
    return counts


# Counted as one class: a relation read the other way round (`5 \\ge x` is `x \\le 5`), one function for another
# (`\\sec^2 y` for `\\tan^2 y + 1`). Neither can add a value to an answer.
_SAME_CLASS = {">": "<", "\\ge": "\\le", **{"\\" + f: "a function" for f in _FUNCTIONS}}
_CLASS_NAMES = {",": "a comma (several values)", ";": "a semicolon (several values)",
                "=": "an equals sign", "addop": "a binary + or - (more terms)", "bracket": "a bracket",
                "set": "a set brace", "text": "words", "div": "a fraction or division", "pow": "a power",
                "sub": "a subscript", "\\lor": "\\lor (a hedge)", "\\pm": "\\pm (two values)",
                "\\ldots": "an ellipsis (several values)", "\\quad": "\\quad (several values)",
                "\\qquad": "\\qquad (several values)", "\\\\": "a line break (several values)"}


def _letter_words(items) -> list[str]:
    """Runs of adjacent letters (`4 or 5` has the run 'or')."""
    runs, cur = [], ""
    for it in items:
        if isinstance(it, Tok) and it.kind == "letter":
            cur += it.value
        else:
            if cur:
                runs.append(cur)
            cur = ""
    if cur:
        runs.append(cur)
    return runs


def _class_name(c: str) -> str:
    if c.startswith("word:"):
        return f"the word '{c[5:]}'"
    return _CLASS_NAMES.get(c, c)


@dataclass(frozen=True)
class Numeral:
    """A number written out: exact value (None when beyond EXACT_DIGITS) and a canonical digit string."""

    form: str  # int | dec | frac | mixed
    value: Fraction | None
    digits: str  # canonical sign/int/fraction digits for int and dec; '' otherwise


_INTDEC = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")


def _intdec(sign: str, text: str) -> Numeral | None:
    m = _INTDEC.fullmatch(text)
    if m is None or not (m.group(2) or m.group(3)):
        return None
    whole = m.group(2).lstrip("0") or "0"
    frac = (m.group(3) or "").rstrip("0")
    neg = sign == "-" and (whole != "0" or frac)
    digits = ("-" if neg else "") + whole + ("." + frac if frac else "")
    form = "dec" if m.group(3) is not None else "int"
    if len(whole) + len(frac) > EXACT_DIGITS:
        return Numeral(form, None, digits)
    value = Fraction(int(whole) * 10 ** len(frac) + (int(frac) if frac else 0), 10 ** len(frac))
    return Numeral(form, -value if neg else value, digits)


def _scientific(sign: str, mantissa: str, exponent: tuple) -> Numeral | None:
    """`6.72 \\cdot 10^{-5}` / `6.72 \\times 10^{-5}`: a decimal number in scientific notation."""
    m, e = _intdec(sign, mantissa), _intdec(*_signed(exponent))
    if m is None or e is None or m.value is None or e.value is None or e.form != "int" or abs(e.value) > EXACT_DIGITS:
        return None
    return Numeral("dec", m.value * Fraction(10) ** int(e.value), "")


def _signed(items) -> tuple[str, str]:
    its = _significant(items)
    if len(its) == 2 and isinstance(its[0], Tok) and its[0].value in "+-" and isinstance(its[1], Tok) \
            and its[1].kind == "num":
        return its[0].value, its[1].value
    if len(its) == 1 and isinstance(its[0], Tok) and its[0].kind == "num":
        return "", its[0].value
    return "", ""


def _numeral(items) -> Numeral | None:
    """The number `items` write out (`-12`, `0.5`, `\\frac{3}{4}`, `3/4`, `2\\frac{1}{2}`), else None."""
    its = _significant(items)
    sign = ""
    if its and isinstance(its[0], Tok) and its[0].kind == "sym" and its[0].value in "+-":
        sign, its = its[0].value, its[1:]
    if len(its) == 1 and isinstance(its[0], Tok) and its[0].kind == "num":
        return _intdec(sign, its[0].value)
    if len(its) == 4 and isinstance(its[0], Tok) and its[0].kind == "num" and its[1] == Tok("cmd", "cdot") \
            and its[2] == Tok("num", "10") and isinstance(its[3], Node) and its[3].name == "^":
        return _scientific(sign, its[0].value, its[3].args[0])
    frac = None
    if len(its) == 1 and isinstance(its[0], Node) and its[0].name == "frac":
        frac = its[0].args
    elif len(its) == 3 and isinstance(its[1], Tok) and its[1].value == "/":
        frac = ((its[0],), (its[2],))
    elif len(its) == 2 and isinstance(its[0], Tok) and its[0].kind == "num" and "." not in its[0].value and \
            isinstance(its[1], Node) and its[1].name == "frac":
        whole = _intdec("", its[0].value)
        part = _numeral(its[1:])
        if whole and part and part.value is not None and whole.value is not None and part.value >= 0:
            v = whole.value + part.value
            return Numeral("mixed", -v if sign == "-" else v, "")
        return None
    if frac is None:
        return None
    p, q = _numeral(frac[0]), _numeral(frac[1])
    if not (p and q and p.form == "int" and q.form == "int" and p.value is not None and q.value is not None):
        return None
    if q.value == 0:
        return None
    v = p.value / q.value  # `\\frac{-3}{8}` is -3/8: a sign on either part is the fraction's sign
    return Numeral("frac", -v if sign == "-" else v, "")


# --------------------------------------------------------------------------------------------------------------
# An answer, read
# --------------------------------------------------------------------------------------------------------------

@dataclass
class Answer:
    """One answer string read into items, with what the form check needs."""

    source: str
    items: list = field(default_factory=list)
    malformed: str = ""
    side_by_side: str = ""  # two numbers next to each other, if any
    lhs: list | None = None  # `x = …` / `x \in …`: the name on the left (removed from items)
    lhs_op: str = ""

    @property
    def text(self) -> str:
        return render(self.items)


def _is_name(items) -> bool:
    """A name on the left of `=`: letters, Greek, subscripts, primes, one application `f(3)`; no operators."""
    its = _significant(items)
    if not its:
        return False
    has_letter = False
    depth = 0
    for it in its:
        if isinstance(it, Node):
            if it.name not in ("_", "angle", "overline", "vec", "mathbf"):
                if depth == 0:
                    return False
            continue
        if it.kind == "letter" or (it.kind == "cmd" and it.value in _OPERAND_CMDS | {"angle"}):
            has_letter = True
        elif it.kind == "sym" and it.value in ("(", "["):
            depth += 1
        elif it.kind == "sym" and it.value in (")", "]"):
            depth -= 1
        elif it.kind == "sym" and it.value == "'":
            pass
        elif depth > 0 and it.kind in ("num", "sym") and it.value not in ("=", ";"):
            pass
        else:
            return False
    return has_letter and depth == 0


def _is_unit(it: Item) -> bool:
    if not (isinstance(it, Tok) and it.kind == "text"):
        return False
    words = it.value.replace(".", " ").split()
    if not words or len(words) > 3 or not all(w.isalpha() for w in words):
        return False
    return not any(w.lower() in _FUNCTION_WORDS for w in words)  # `12 \text{ different ways}`, `\text{ sq units}`


def _strip_unit(items: list) -> list:
    its = list(items)
    while its and isinstance(its[-1], Tok) and its[-1].kind in ("space", "thin"):
        its.pop()
    tail = 1
    if len(its) >= 2 and isinstance(its[-1], Node) and its[-1].name == "^" and _is_unit(its[-2]):
        tail = 2
    if len(its) > tail and _is_unit(its[-tail]) and any(
            not (isinstance(x, Tok) and x.kind in ("space", "thin")) for x in its[:-tail]):
        return its[:-tail]
    return items


_PERCENT_WORDS = ("percentage", "percent", "pct")


def _strip_percent(items: list) -> list:
    """`10\\%`, `10 %`, `10 percent` are the number 10: a percent sign is read as a unit (never as /100).

    So a gold `28\\%` accepts `28` and `28\\%`, a gold `10` accepts `10\\%`, and a gold `0.28` accepts neither.
    """
    its = list(items)
    while its and isinstance(its[-1], Tok) and its[-1].kind in ("space", "thin"):
        its.pop()
    if its and isinstance(its[-1], Tok) and its[-1].kind == "sym" and its[-1].value in ("\\%", "%"):
        its.pop()
    else:
        letters = ""
        k = len(its)
        while k and isinstance(its[k - 1], Tok) and its[k - 1].kind == "letter" and len(letters) < 10:
            k -= 1
            letters = its[k].value + letters
        if letters.lower() not in _PERCENT_WORDS or (k and isinstance(its[k - 1], Tok) and its[k - 1].kind == "letter"):
            return items
        its = its[:k]
    return its if _significant(its) else items


def _drop_spacing_after_commas(items: list) -> list:
    """`19,\\quad 46`: a `\\quad` right after a comma is the comma's spacing, not a second separator."""
    out: list = []
    for it in items:
        if isinstance(it, Tok) and it.kind == "cmd" and it.value in ("quad", "qquad"):
            sig = _significant(out[-3:])
            if sig and sig[-1] == Tok("sym", ","):
                continue
        out.append(it)
    return out


def _unwrap_parens(items: list) -> list:
    """`(5)`, `\\left(\\frac{1}{3}\\right)`: one value in one pair of parentheses is that value (no comma inside)."""
    sig = _significant(items)
    if len(sig) < 3 or sig[0] != Tok("sym", "(") or sig[-1] != Tok("sym", ")"):
        return items
    levels = _top_level(sig)
    if any(d == 0 for d, _ in levels[1:-1]) or any(d == 1 and it == Tok("sym", ",") for d, it in levels):
        return items
    return sig[1:-1]


def _group_thousands(items: list) -> list:
    """`d{1,3}(SEP ddd)+[.d+]` with SEP `,` / `,\\!` / `\\,` as one numeral; anything else unchanged."""
    its = list(items)
    sign = []
    if its and isinstance(its[0], Tok) and its[0].kind == "sym" and its[0].value in "+-":
        sign, its = [its[0]], its[1:]
    groups: list[str] = []
    i = 0
    while i < len(its):
        t = its[i]
        if not (isinstance(t, Tok) and t.kind == "num"):
            return items
        groups.append(t.value)
        i += 1
        if i == len(its):
            break
        # a separator: `,` then thin spaces then optional space, or a lone thin space
        j = i
        if isinstance(its[j], Tok) and its[j].kind == "sym" and its[j].value == ",":
            j += 1
            thin = False
            while j < len(its) and isinstance(its[j], Tok) and its[j].kind == "thin":
                j += 1
                thin = True
            if thin and j < len(its) and isinstance(its[j], Tok) and its[j].kind == "space":
                j += 1
        elif isinstance(its[j], Tok) and its[j].kind == "thin" and its[j].value == ",":
            j += 1
        else:
            return items
        i = j
    if len(groups) < 2 or not (1 <= len(groups[0]) <= 3 and groups[0].isdigit()):
        return items
    for g in groups[1:-1]:
        if not (len(g) == 3 and g.isdigit()):
            return items
    last = groups[-1]
    head = last.split(".")[0]
    if len(head) != 3 or not head.isdigit():
        return items
    return sign + [Tok("num", "".join(groups))]


def _side_by_side(items) -> str:
    """Two numbers separated only by spaces (`4 5`, `4\\,5`, `4~5`): never one value."""
    prev_num = None
    gap = False
    for it in items:
        if isinstance(it, Node):
            for a in it.args:
                why = _side_by_side(a)
                if why:
                    return why
            prev_num, gap = None, False
            continue
        if it.kind == "num":
            if prev_num is not None and gap:
                return f"two numbers side by side ({prev_num} and {it.value})"
            prev_num, gap = it.value, False
        elif it.kind in ("space", "thin"):
            gap = prev_num is not None
        else:
            prev_num, gap = None, False
    return ""


def _merge_adjacent_numbers(items: list) -> list:
    """`{5}{6}` renders as 56: adjacent digit runs with nothing between them are one number."""
    out: list = []
    for it in items:
        if isinstance(it, Tok) and it.kind == "num" and out and isinstance(out[-1], Tok) and out[-1].kind == "num" \
                and "." not in out[-1].value and not it.value.startswith("."):
            out[-1] = Tok("num", out[-1].value + it.value)
        else:
            out.append(it)
    return out


def read_answer(source: str, *, thousands: bool = False) -> Answer:
    """Read one answer. `thousands`: group separators may join digit groups into one number (gold is one number).

    A name on the left of a top-level `=` or `\\in` is split off into `lhs` (`x = 5`: items are `5`).
    """
    a = Answer(source=source)
    if len(source) > MAX_ANSWER_CHARS:
        a.malformed = f"longer than {MAX_ANSWER_CHARS} characters"
        return a
    try:
        items = _Parser(source).parse()
    except Malformed as e:
        a.malformed = str(e)
        return a
    except RecursionError:
        a.malformed = "nested too deeply"
        return a
    while items and isinstance(items[-1], Tok) and (items[-1].kind in ("space", "thin") or items[-1].value == "."):
        items.pop()  # a sentence's full stop
    items = _merge_adjacent_numbers(items)
    items = _drop_spacing_after_commas(items)
    items = _strip_percent(items)
    items = _strip_unit(items)
    items = _unwrap_parens(items)
    if thousands:
        items = _group_thousands(items)
    a.side_by_side = _side_by_side(items)
    sig = _significant(items)
    for k, it in enumerate(sig):
        if isinstance(it, Tok) and ((it.kind == "sym" and it.value == "=") or (it.kind == "cmd" and it.value == "in")):
            if k and _is_name(sig[:k]):
                a.lhs, a.lhs_op = sig[:k], it.value
                items = sig[k + 1:]
            break
    a.items = list(items)
    return a


def join_lhs(a: Answer) -> None:
    """Put a split-off `x =` back (the answer is an equation, compared whole)."""
    if a.lhs is not None:
        a.items = list(a.lhs) + [Tok("sym", "=") if a.lhs_op == "=" else Tok("cmd", "in")] + list(a.items)
        a.lhs, a.lhs_op = None, ""


def numeral(a: Answer) -> Numeral | None:
    return _numeral(a.items) if not a.malformed else None


def words(a: Answer) -> list[str] | None:
    """The words of a text answer (`\\text{(C)}` → ['c']); None if the answer is not only text and letters."""
    parts: list[str] = []
    has_text = False
    for it in a.items:
        if isinstance(it, Node):
            return None
        if it.kind == "text":
            parts.append(" " + it.value + " ")
            has_text = True
        elif it.kind == "letter":
            parts.append(it.value)
        elif it.kind in ("space", "thin"):
            parts.append(" ")
        elif it.kind == "sym" and it.value in "().,":
            parts.append(" ")
        else:
            return None
    joined = "".join(parts).lower()
    ws = "".join(c if c.isalnum() else " " for c in joined).split()
    return ws if ws and (has_text or len(ws) == 1) else None


def is_text_gold(a: Answer) -> bool:
    return any(isinstance(it, Tok) and it.kind == "text" for it in a.items) and words(a) is not None


def _top_level(items) -> list[tuple[int, Item]]:
    """(bracket depth, item) for each significant item; `(`/`[` open and `)`/`]` close (intervals mix them)."""
    out, depth = [], 0
    for it in _significant(items):
        if isinstance(it, Tok) and it.kind == "sym" and it.value in (")", "]", "\\}"):
            depth -= 1
        out.append((depth, it))
        if isinstance(it, Tok) and it.kind == "sym" and it.value in ("(", "[", "\\{"):
            depth += 1
    return out


def is_interval_like(a: Answer) -> bool:
    """`(a, b]`, `[a, ∞)`, unions of those."""
    sig = _significant(a.items)
    if not sig:
        return False
    if any(isinstance(it, Tok) and it.kind == "cmd" and it.value == "cup" for it in sig):
        return True
    first, last = sig[0], sig[-1]
    return (isinstance(first, Tok) and first.value in ("(", "[") and isinstance(last, Tok)
            and last.value in (")", "]") and any(d == 1 and isinstance(it, Tok) and it.value == ","
                                                  for d, it in _top_level(sig)))


def is_bare_list(a: Answer) -> bool:
    return any(d == 0 and isinstance(it, Tok) and it.value == "," for d, it in _top_level(a.items))


def unwrap_set(a: Answer) -> None:
    """`\\{3, 5, 7\\}` → `3, 5, 7` (a list gold accepts its elements as a set)."""
    sig = _significant(a.items)
    if len(sig) >= 2 and isinstance(sig[0], Tok) and sig[0].value == "\\{" and isinstance(sig[-1], Tok) \
            and sig[-1].value == "\\}" and all(d >= 1 for d, _ in _top_level(sig)[1:-1]):
        a.items = sig[1:-1]


_LIST_WORDS = {"or", "and"}


def _is_list_separator(it: Item) -> bool:
    if not isinstance(it, Tok):
        return False
    return (it.kind == "sym" and it.value in (",", ";")) or (it.kind == "cmd" and it.value == "lor") \
        or (it.kind == "text" and it.value.strip().lower() in _LIST_WORDS)


def list_elements(a: Answer) -> None:
    """A list gold's candidate, element by element: `x = -2, x = 1`, `-2 \\text{ or } 1` are the list `-2, 1`.

    Only for a gold that is itself a bare list: there "or"/"and" between the values name the same solutions.
    """
    elements: list[list] = [[]]
    depth = 0
    sig = _significant(a.items)
    k = 0
    while k < len(sig):
        it = sig[k]
        if isinstance(it, Tok) and it.kind == "sym" and it.value in ("(", "[", "\\{"):
            depth += 1
        elif isinstance(it, Tok) and it.kind == "sym" and it.value in (")", "]", "\\}"):
            depth -= 1
        if depth == 0 and _is_list_separator(it):
            elements.append([])
        elif depth == 0 and isinstance(it, Tok) and it.kind == "letter" and k + 1 < len(sig) and \
                (it.value + getattr(sig[k + 1], "value", "")).lower() in _LIST_WORDS and \
                getattr(sig[k + 1], "kind", "") == "letter":
            elements.append([])
            k += 1  # the two letters of "or"
        elif depth == 0 and isinstance(it, Tok) and it.kind == "letter" and k + 2 < len(sig) and \
                "".join(getattr(x, "value", "") for x in sig[k:k + 3]).lower() == "and" and \
                all(getattr(x, "kind", "") == "letter" for x in sig[k:k + 3]):
            elements.append([])
            k += 2
        else:
            elements[-1].append(it)
        k += 1
    if len(elements) > 2 and not elements[-2]:
        del elements[-2]  # `19, 46, and 82`: the serial comma before the last "and"/"or"
    if len(elements) < 2 or any(not e for e in elements):
        return
    names = []
    for e in elements:
        eq = [i for i, x in enumerate(e) if isinstance(x, Tok) and x.kind == "sym" and x.value == "="]
        names.append(render(e[:eq[0]]) if len(eq) == 1 and _is_name(e[:eq[0]]) else None)
    if len(set(names)) == 1 and names[0] is not None:  # `x = -2, x = 1`: the values of one unknown
        elements = [e[next(i for i, x in enumerate(e) if x == Tok("sym", "=")) + 1:] for e in elements]
    out: list = []
    for e in elements:
        if out:
            out.append(Tok("sym", ","))
        out.extend(e)
    a.items = out


def _is_or(it: Item) -> bool:
    return isinstance(it, Tok) and ((it.kind == "cmd" and it.value in ("lor", "cup"))
                                    or (it.kind == "text" and it.value.strip().lower() == "or"))


def inequality_to_interval(a: Answer) -> bool:
    """Rewrite `3 < x \\le 4` (or `x > 3`, or such parts joined by `\\lor`/`\\cup`/"or") as an interval in place.

    One variable throughout; False (unchanged) when the answer is not such an inequality.
    """
    sig = _significant(a.items)
    if a.lhs is not None:
        return False
    parts, cur = [], []
    for it in sig:
        if _is_or(it):
            parts.append(cur)
            cur = []
        else:
            cur.append(it)
    parts.append(cur)
    var = None
    out: list[str] = []
    for part in parts:
        segs, rels, cur = [], [], []
        for it in part:
            r = _RELATIONS.get(it.value) if isinstance(it, Tok) and it.kind in ("sym", "cmd") else None
            if r:
                segs.append(cur)
                rels.append(r)
                cur = []
            else:
                cur.append(it)
        segs.append(cur)
        if not rels or len(segs) > 3 or any(not s for s in segs):
            return False
        names = [k for k, s in enumerate(segs) if _is_name(s) and not any(
            isinstance(x, Tok) and x.kind == "num" for x in s)]
        if len(names) != 1:
            return False
        k = names[0]
        name = render(segs[k])
        if var is not None and name != var:
            return False
        var = name
        up = [r in ("<", "\\le") for r in rels]
        if len(segs) == 3:
            if k != 1 or up[0] != up[1]:
                return False
            lo, hi = (0, 2) if up[0] else (2, 0)
            lo_closed = rels[0 if up[0] else 1] in ("\\le", "\\ge")
            hi_closed = rels[1 if up[0] else 0] in ("\\le", "\\ge")
            out.append(("[" if lo_closed else "(") + render(segs[lo]) + "," + render(segs[hi])
                       + ("]" if hi_closed else ")"))
        else:
            other = render(segs[1 - k])
            closed = rels[0] in ("\\le", "\\ge")
            below = up[0] == (k == 0)  # x < a, or a > x
            out.append(("(-\\infty," + other + ("]" if closed else ")")) if below
                       else (("[" if closed else "(") + other + ",\\infty)"))
    new = read_answer(" \\cup ".join(out))
    if new.malformed:
        return False
    a.items = new.items
    return True


@dataclass(frozen=True)
class FormCheck:
    """The verdict of the form check: refused (hedge / not the gold's kind), decided, or passed on to math-verify."""

    refused: str = ""  # non-empty: REJECTED with this reason
    decided: bool | None = None  # True/False: decided exactly here (numerals, text)
    score: float | None = 0.0  # partial credit when decided False; None: from the values (math-verify parses)
    gold_text: str = ""  # what math-verify compares (always set unless refused)
    cand_text: str = ""


def partial_credit_exact(gold: Fraction, predicted: Fraction, cap: float) -> float:
    """max(0, 1 - |p - g| / max(|g|, 1)), capped; exact, so huge numbers cannot overflow."""
    ratio = abs(predicted - gold) / max(abs(gold), Fraction(1))
    return 0.0 if ratio >= 1 else min(cap, float(1 - ratio))


def _top_commas(a: Answer) -> int:
    return sum(d == 0 and isinstance(it, Tok) and it.value == "," for d, it in _top_level(a.items))


def _compare_numerals(gnum: Numeral, cnum: Numeral, credit_cap: float, texts: dict) -> FormCheck:
    if gnum.form == "int" and cnum.form not in ("int", "dec"):
        return FormCheck(refused="not in the gold's form: the gold is an integer, the answer is not")
    if gnum.value is not None and cnum.value is not None:
        if gnum.value == cnum.value:
            return FormCheck(decided=True, score=1.0, **texts)
        return FormCheck(decided=False, score=partial_credit_exact(gnum.value, cnum.value, credit_cap), **texts)
    if gnum.digits and cnum.digits:  # beyond EXACT_DIGITS: canonical digit strings are exact
        same = gnum.digits == cnum.digits
        return FormCheck(decided=same, score=1.0 if same else 0.0, **texts)
    return FormCheck(refused=f"numbers beyond {EXACT_DIGITS} digits are compared only as integers or decimals")


def _is_equation(a: Answer) -> bool:
    return any(d == 0 and isinstance(it, Tok) and it.value in ("=", "<", ">", "le", "ge")
               for d, it in _top_level(a.items))


def _has_letters(items) -> bool:
    for it in items:
        if isinstance(it, Node):
            if any(_has_letters(x) for x in it.args):
                return True
        elif it.kind == "letter":
            return True
    return False


def list_length(gold_src: str) -> int:
    """How many values a gold answer lists at top level (`(2,2), (6,2)` and `6 \\text{ and } 8`: 2; `5`: 1)."""
    gold = read_answer(gold_src)
    if gold.malformed or is_text_gold(gold):
        return 1
    join_lhs(gold)
    list_elements(gold)
    return _top_commas(gold) + 1


def compare_form(gold_src: str, cand_src: str, *, credit_cap: float) -> FormCheck:
    """Read gold and candidate; refuse what is not one object of the gold's kind; decide numerals and text exactly.

    Undecided pairs come back with the canonical texts math-verify compares.
    """
    gold = read_answer(gold_src, thousands=True)
    if gold.malformed:
        return FormCheck(refused=f"the gold answer cannot be read ({gold.malformed})")
    if gold.lhs is not None and gold.lhs_op == "=" and _has_letters(gold.items):
        join_lhs(gold)  # `y = 2x + 3` is an equation; `x = 5` is the value 5
    gnum = numeral(gold)
    cand = read_answer(cand_src, thousands=gnum is not None)
    if cand.malformed:
        return FormCheck(refused=f"the answer cannot be read ({cand.malformed})")
    if cand.side_by_side:
        return FormCheck(refused=f"hedge: {cand.side_by_side}")
    if cand.lhs is not None and _is_equation(gold) and not (cand.lhs_op == "in" and is_interval_like(cand)):
        join_lhs(cand)
    if is_text_gold(gold):
        gw, cw = words(gold), words(cand)
        same = cw is not None and gw == cw
        return FormCheck(decided=same, score=1.0 if same else 0.0, gold_text=gold.text, cand_text=cand.text)
    if is_interval_like(gold):
        inequality_to_interval(cand)
    elif is_interval_like(cand):
        inequality_to_interval(gold)
    else:  # `x \\le 5` and `5 \\ge x`: two inequalities in one variable are compared as the sets they describe
        g2, c2 = replace(gold, items=list(gold.items)), replace(cand, items=list(cand.items))
        if inequality_to_interval(g2) and inequality_to_interval(c2):
            gold, cand = g2, c2
    list_elements(gold)  # `6 \\text{ and } 8`, `-12; -11`, `(11,7) or (7,11)`: a gold list written with words
    if is_bare_list(gold):
        if cand.lhs is not None and cand.lhs_op == "=" and any(
                d == 0 and it == Tok("sym", "=") for d, it in _top_level(cand.items)):
            join_lhs(cand)  # `x = -2, x = 1`: read element by element (`n = 1, 2, 3` is the list 1, 2, 3)
        unwrap_set(cand)
        list_elements(cand)
    cnum = numeral(cand)
    texts = {"gold_text": gold.text, "cand_text": cand.text}
    if gnum is not None and cnum is not None:  # two numbers written out: decided exactly, whatever their notation
        return _compare_numerals(gnum, cnum, credit_cap, texts)
    gcount, ccount = count_classes(gold.items), count_classes(cand.items)
    allowance = Counter(gcount)
    pm = gcount["\\pm"] + gcount["\\mp"]
    if pm:  # `a \pm b` is two values: written out (`a + b, a - b`) every class may appear twice, plus a comma
        allowance = Counter({c: 2 * n for c, n in gcount.items()})
        allowance[","] += pm
        allowance["addop"] += 2 * pm
        allowance["set"] += pm
    over = sorted(c for c, n in ccount.items() if n > allowance[c])
    if over:
        c = over[0]
        return FormCheck(refused=f"hedge or not in the gold's form: uses {_class_name(c)} {ccount[c]} time(s), "
                                 f"the gold answer {allowance[c]}")
    if gnum is not None:
        return FormCheck(refused="not in the gold's form: the gold is a number written out, the answer is not")
    if is_bare_list(gold) and not pm and _top_commas(cand) < _top_commas(gold):
        return FormCheck(decided=False, score=0.0, **texts)  # fewer values than the gold's list: never a number
    if cnum is not None and cnum.form == "dec":  # 4.472 for 2\sqrt{5}: an approximation is not the exact answer
        return FormCheck(decided=False, score=None, **texts)
    if gold.text == cand.text:  # the same canonical text (only presentation differed): the same answer
        return FormCheck(decided=True, score=1.0, **texts)
    return FormCheck(**texts)
