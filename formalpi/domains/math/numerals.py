"""A read answer rendered back to text, its separator/operator classes counted (`count_classes`, the form
check's whitelist), and a number written out read exactly (`Numeral`)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from formalpi.domains.math.expression import FREE, FUNCTION_WORDS, FUNCTIONS, OPERAND_CMDS, Item, Node, Tok

EXACT_DIGITS = 4000  # numerals up to this many digits are compared as exact fractions; longer ones as digit strings


def render(items) -> str:
    """A canonical LaTeX string for the items (math-verify reads it; equal strings are equal answers).

    No whitespace except inside text, after a comma (`3, 125` is not math-verify's 3125) and between a control
    word and a letter (`\\alpha b`): math-verify reads `9 i` as a symbol i but `9i` as the imaginary unit.
    """
    out: list[str] = []
    for it in items:
        if isinstance(it, Node):
            if it.name.startswith("env:"):
                piece = (
                    ("\\begin{pmatrix}" if it.name == "env:matrix" else f"\\begin{{{it.name[4:]}}}")
                    + render(it.args[0])
                    + ("\\end{pmatrix}" if it.name == "env:matrix" else f"\\end{{{it.name[4:]}}}")
                )
            elif it.name in ("^", "_"):
                piece = it.name + "{" + render(it.args[0]) + "}"
            else:
                piece = (
                    "\\"
                    + it.name
                    + ("[" + render(it.opt) + "]" if it.opt is not None else "")
                    + "".join("{" + render(a) + "}" for a in it.args)
                )
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
        return it.value in OPERAND_CMDS
    return it.value in (")", "]", "\\}", "|", "!", "'")


def significant(items) -> list[Item]:
    return [it for it in items if not (isinstance(it, Tok) and it.kind in ("space", "thin"))]


def count_classes(items, counts: Counter | None = None) -> Counter:
    """How often the answer uses each separator/relation/operator/function class (see `_hedge_class`)."""
    counts = Counter() if counts is None else counts
    prev: Item | None = None
    sig = significant(items)
    for w in _letter_words(items):
        if len(w) > 1 and w.lower() in FUNCTION_WORDS:
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
                if not (isinstance(prev, Tok) and prev.kind == "cmd" and prev.value in FUNCTIONS):
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
        elif it.kind == "cmd" and it.value not in OPERAND_CMDS and it.value not in FREE:
            counts[_SAME_CLASS.get("\\" + it.value, "\\" + it.value)] += 1
        elif it.kind == "text":
            counts["text"] += 1
        prev = it
    return counts


# Counted as one class: a relation read the other way round (`5 \\ge x` is `x \\le 5`), one function for another
# (`\\sec^2 y` for `\\tan^2 y + 1`). Neither can add a value to an answer.
_SAME_CLASS = {">": "<", "\\ge": "\\le", **{"\\" + f: "a function" for f in FUNCTIONS}}
_CLASS_NAMES = {
    ",": "a comma (several values)",
    ";": "a semicolon (several values)",
    "=": "an equals sign",
    "addop": "a binary + or - (more terms)",
    "bracket": "a bracket",
    "set": "a set brace",
    "text": "words",
    "div": "a fraction or division",
    "pow": "a power",
    "sub": "a subscript",
    "\\lor": "\\lor (a hedge)",
    "\\pm": "\\pm (two values)",
    "\\ldots": "an ellipsis (several values)",
    "\\quad": "\\quad (several values)",
    "\\qquad": "\\qquad (several values)",
    "\\\\": "a line break (several values)",
}


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


def class_name(c: str) -> str:
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
    its = significant(items)
    if (
        len(its) == 2
        and isinstance(its[0], Tok)
        and its[0].value in "+-"
        and isinstance(its[1], Tok)
        and its[1].kind == "num"
    ):
        return its[0].value, its[1].value
    if len(its) == 1 and isinstance(its[0], Tok) and its[0].kind == "num":
        return "", its[0].value
    return "", ""


def items_numeral(items) -> Numeral | None:
    """The number `items` write out (`-12`, `0.5`, `\\frac{3}{4}`, `3/4`, `2\\frac{1}{2}`), else None."""
    its = significant(items)
    sign = ""
    if its and isinstance(its[0], Tok) and its[0].kind == "sym" and its[0].value in "+-":
        sign, its = its[0].value, its[1:]
    if len(its) == 1 and isinstance(its[0], Tok) and its[0].kind == "num":
        return _intdec(sign, its[0].value)
    if (
        len(its) == 4
        and isinstance(its[0], Tok)
        and its[0].kind == "num"
        and its[1] == Tok("cmd", "cdot")
        and its[2] == Tok("num", "10")
        and isinstance(its[3], Node)
        and its[3].name == "^"
    ):
        return _scientific(sign, its[0].value, its[3].args[0])
    frac = None
    if len(its) == 1 and isinstance(its[0], Node) and its[0].name == "frac":
        frac = its[0].args
    elif len(its) == 3 and isinstance(its[1], Tok) and its[1].value == "/":
        frac = ((its[0],), (its[2],))
    elif (
        len(its) == 2
        and isinstance(its[0], Tok)
        and its[0].kind == "num"
        and "." not in its[0].value
        and isinstance(its[1], Node)
        and its[1].name == "frac"
    ):
        whole = _intdec("", its[0].value)
        part = items_numeral(its[1:])
        if whole and part and part.value is not None and whole.value is not None and part.value >= 0:
            v = whole.value + part.value
            return Numeral("mixed", -v if sign == "-" else v, "")
        return None
    if frac is None:
        return None
    p, q = items_numeral(frac[0]), items_numeral(frac[1])
    if not (p and q and p.form == "int" and q.form == "int" and p.value is not None and q.value is not None):
        return None
    if q.value == 0:
        return None
    v = p.value / q.value  # `\\frac{-3}{8}` is -3/8: a sign on either part is the fraction's sign
    return Numeral("frac", -v if sign == "-" else v, "")
