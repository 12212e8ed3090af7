"""One boxed answer read into a small tree of tokens and commands (`Parser`): the LaTeX an answer may use,
without evaluating it. Unreadable input raises `Malformed`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from formalpi.domains.math.extraction import MAX_NESTING, braced


class Malformed(ValueError):
    """An answer that cannot be read as one LaTeX expression (unbalanced braces, too deep, too long)."""


_ATOK = re.compile(
    r"\\begin\s*\{[A-Za-z*]*\}|\\end\s*\{[A-Za-z*]*\}|\\[A-Za-z]+|\\.|\\|<=|>=|!="
    r"|[0-9]+(?:\.[0-9]+)?|\.[0-9]+|\s+|.",
    re.S,
)
_ALIAS = {
    "dfrac": "frac",
    "tfrac": "frac",
    "cfrac": "frac",
    "leq": "le",
    "leqslant": "le",
    "geq": "ge",
    "geqslant": "ge",
    "neq": "ne",
    "lbrace": "{",
    "rbrace": "}",
    "vee": "lor",
    "wedge": "land",
    "dots": "ldots",
    "cdots": "ldots",
    "dotsc": "ldots",
    "dotsb": "ldots",
    "dotsm": "ldots",
    "dotsi": "ldots",
    "dotso": "ldots",
    "hdots": "ldots",
    "times": "cdot",
    "ast": "cdot",
    "div": "/",
    "lt": "<",
    "gt": ">",
    "dbinom": "binom",
    "tbinom": "binom",
    "lvert": "|",
    "rvert": "|",
    "vert": "|",
    "mid": "|",
    "lbrack": "[",
    "rbrack": "]",
    "rightarrow": "to",
    "implies": "Rightarrow",
    "land": "land",
    "varepsilon": "epsilon",
    "varphi": "phi",
    "vartheta": "theta",
    "infin": "infty",
}
_UNICODE = {
    "<=": "\\le",
    ">=": "\\ge",
    "!=": "\\ne",
    "−": "-",
    "–": "-",
    "≤": "\\le",
    "≥": "\\ge",
    "≠": "\\ne",
    "×": "\\cdot",
    "·": "\\cdot",
    "π": "\\pi",
    "∞": "\\infty",
    "√": "\\sqrt",
    "∨": "\\lor",
    "∧": "\\land",
    "±": "\\pm",
    "…": "\\ldots",
    "∪": "\\cup",
}
_SIZED = {
    "left",
    "right",
    "middle",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "big",
    "Big",
    "bigg",
    "Bigg",
    "biggl",
    "biggr",
    "Biggl",
    "Biggr",
}
# size and style commands that change no value (dropped); after a `_SIZED` one, a `.` (the empty delimiter) goes too
_DROP = {*_SIZED, "displaystyle", "textstyle", "scriptstyle", "limits", "nolimits", "strut", "mathstrut", "degree"}
_DIGITS = frozenset("0123456789")
_THIN = {"!", ",", ";", ":", ">", " "}
_ARITY = {
    "frac": 2,
    "binom": 2,
    "sqrt": 1,
    "overline": 1,
    "underline": 1,
    "bar": 1,
    "hat": 1,
    "vec": 1,
    "tilde": 1,
    "dot": 1,
    "ddot": 1,
    "mathbb": 1,
    "mathcal": 1,
    "mathfrak": 1,
    "overset": 2,
    "underset": 2,
    "stackrel": 2,
    "boxed": 1,
    "fbox": 1,
    "hspace": 1,
    "vspace": 1,
    "pmod": 1,
    "overrightarrow": 1,
    "widehat": 1,
    "widetilde": 1,
    "overbrace": 1,
    "underbrace": 1,
    "substack": 1,
    "cancel": 1,
    "not": 0,
}
# Typeface switches: the argument is the same mathematics in another font.
_STYLE = {"mathbf", "boldsymbol", "bm", "mathit", "mathsf", "mathnormal", "pmb"}
# Text made only of these characters, with a digit, is a number typeset as text and is read as mathematics.
_MATH_IN_TEXT = frozenset("-+0123456789.,()[]/ ")
_TEXT_CMDS = {
    "text",
    "textrm",
    "textnormal",
    "mbox",
    "textbf",
    "textit",
    "textsf",
    "texttt",
    "textup",
    "hbox",
    "mathrm",
    "emph",
    "operatorname",
}
OPERAND_CMDS = {
    "pi",
    "infty",
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Pi",
    "Sigma",
    "Upsilon",
    "Phi",
    "Psi",
    "Omega",
    "imath",
    "jmath",
    "ell",
    "emptyset",
    "varnothing",
}
FUNCTIONS = {
    "sin",
    "cos",
    "tan",
    "cot",
    "sec",
    "csc",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "log",
    "ln",
    "lg",
    "exp",
}
FREE = {"cdot"}  # multiplication, explicit or not, is never counted: `2\cdot\sqrt2` is `2\sqrt2`
RELATIONS = {"<": "<", ">": ">", "le": "\\le", "ge": "\\ge"}
# Closed-class English words (conjunctions, prepositions, determiners, degree adverbs): a unit is a noun phrase of at
# most three words without these, so a trailing text containing one is not a unit but a hedge or a sentence
# (`5 \text{ or more}`, `5 \text{ (or 6)}`).
FUNCTION_WORDS = frozenset(
    "a an the or and nor but either neither not no yes both all any each every some more less most least than "
    "at about around approximately roughly nearly almost over under above below between to from of in on by for "
    "with without plus minus times if else otherwise then so also only exactly maybe perhaps possibly probably "
    "is are was be equals equal answer answers value values none other others etc per".split()
)


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


class Parser:
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
                name = t[t.index("{") + 1 : -1]
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
                    sub = Parser(word)  # `\\text{5}`, `\\textbf{-3.5}`: a number typeset as text is that number
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
