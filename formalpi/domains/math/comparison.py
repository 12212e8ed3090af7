"""Whether a candidate answer has the form of the gold answer, and then the same value (`read_answer`,
`compare_form`): the strict reader's grader, after `extraction` (Math-Verify splits parser and grader alike).

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

from collections import Counter
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TypedDict

from formalpi.domains.math.expression import FUNCTION_WORDS, OPERAND_CMDS, RELATIONS, Item, Malformed, Node, Parser, Tok
from formalpi.domains.math.extraction import MAX_ANSWER_CHARS
from formalpi.domains.math.numerals import (
    EXACT_DIGITS,
    Numeral,
    class_name,
    count_classes,
    items_numeral,
    render,
    significant,
)


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
    its = significant(items)
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
        if it.kind == "letter" or (it.kind == "cmd" and it.value in OPERAND_CMDS | {"angle"}):
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
    return not any(w.lower() in FUNCTION_WORDS for w in words)  # `12 \text{ different ways}`, `\text{ sq units}`


def _strip_unit(items: list) -> list:
    its = list(items)
    while its and isinstance(its[-1], Tok) and its[-1].kind in ("space", "thin"):
        its.pop()
    tail = 1
    if len(its) >= 2 and isinstance(its[-1], Node) and its[-1].name == "^" and _is_unit(its[-2]):
        tail = 2
    if (
        len(its) > tail
        and _is_unit(its[-tail])
        and any(not (isinstance(x, Tok) and x.kind in ("space", "thin")) for x in its[:-tail])
    ):
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
    return its if significant(its) else items


def _drop_spacing_after_commas(items: list) -> list:
    """`19,\\quad 46`: a `\\quad` right after a comma is the comma's spacing, not a second separator."""
    out: list = []
    for it in items:
        if isinstance(it, Tok) and it.kind == "cmd" and it.value in ("quad", "qquad"):
            sig = significant(out[-3:])
            if sig and sig[-1] == Tok("sym", ","):
                continue
        out.append(it)
    return out


def _unwrap_parens(items: list) -> list:
    """`(5)`, `\\left(\\frac{1}{3}\\right)`: one value in one pair of parentheses is that value (no comma inside)."""
    sig = significant(items)
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
        if (
            isinstance(it, Tok)
            and it.kind == "num"
            and out
            and isinstance(out[-1], Tok)
            and out[-1].kind == "num"
            and "." not in out[-1].value
            and not it.value.startswith(".")
        ):
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
        items = Parser(source).parse()
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
    sig = significant(items)
    for k, it in enumerate(sig):
        if isinstance(it, Tok) and ((it.kind == "sym" and it.value == "=") or (it.kind == "cmd" and it.value == "in")):
            if k and _is_name(sig[:k]):
                a.lhs, a.lhs_op = sig[:k], it.value
                items = sig[k + 1 :]
            break
    a.items = list(items)
    return a


def join_lhs(a: Answer) -> None:
    """Put a split-off `x =` back (the answer is an equation, compared whole)."""
    if a.lhs is not None:
        a.items = list(a.lhs) + [Tok("sym", "=") if a.lhs_op == "=" else Tok("cmd", "in")] + list(a.items)
        a.lhs, a.lhs_op = None, ""


def numeral(a: Answer) -> Numeral | None:
    return items_numeral(a.items) if not a.malformed else None


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
    for it in significant(items):
        if isinstance(it, Tok) and it.kind == "sym" and it.value in (")", "]", "\\}"):
            depth -= 1
        out.append((depth, it))
        if isinstance(it, Tok) and it.kind == "sym" and it.value in ("(", "[", "\\{"):
            depth += 1
    return out


def is_interval_like(a: Answer) -> bool:
    """`(a, b]`, `[a, ∞)`, unions of those."""
    sig = significant(a.items)
    if not sig:
        return False
    if any(isinstance(it, Tok) and it.kind == "cmd" and it.value == "cup" for it in sig):
        return True
    first, last = sig[0], sig[-1]
    return (
        isinstance(first, Tok)
        and first.value in ("(", "[")
        and isinstance(last, Tok)
        and last.value in (")", "]")
        and any(d == 1 and isinstance(it, Tok) and it.value == "," for d, it in _top_level(sig))
    )


def is_bare_list(a: Answer) -> bool:
    return any(d == 0 and isinstance(it, Tok) and it.value == "," for d, it in _top_level(a.items))


def unwrap_set(a: Answer) -> None:
    """`\\{3, 5, 7\\}` → `3, 5, 7` (a list gold accepts its elements as a set)."""
    sig = significant(a.items)
    if (
        len(sig) >= 2
        and isinstance(sig[0], Tok)
        and sig[0].value == "\\{"
        and isinstance(sig[-1], Tok)
        and sig[-1].value == "\\}"
        and all(d >= 1 for d, _ in _top_level(sig)[1:-1])
    ):
        a.items = sig[1:-1]


_LIST_WORDS = {"or", "and"}


def _is_list_separator(it: Item) -> bool:
    if not isinstance(it, Tok):
        return False
    return (
        (it.kind == "sym" and it.value in (",", ";"))
        or (it.kind == "cmd" and it.value == "lor")
        or (it.kind == "text" and it.value.strip().lower() in _LIST_WORDS)
    )


def list_elements(a: Answer) -> None:
    """A list gold's candidate, element by element: `x = -2, x = 1`, `-2 \\text{ or } 1` are the list `-2, 1`.

    Only for a gold that is itself a bare list: there "or"/"and" between the values name the same solutions.
    """
    elements: list[list] = [[]]
    depth = 0
    sig = significant(a.items)
    k = 0
    while k < len(sig):
        it = sig[k]
        if isinstance(it, Tok) and it.kind == "sym" and it.value in ("(", "[", "\\{"):
            depth += 1
        elif isinstance(it, Tok) and it.kind == "sym" and it.value in (")", "]", "\\}"):
            depth -= 1
        if depth == 0 and _is_list_separator(it):
            elements.append([])
        elif (
            depth == 0
            and isinstance(it, Tok)
            and it.kind == "letter"
            and k + 1 < len(sig)
            and (it.value + getattr(sig[k + 1], "value", "")).lower() in _LIST_WORDS
            and getattr(sig[k + 1], "kind", "") == "letter"
        ):
            elements.append([])
            k += 1  # the two letters of "or"
        elif (
            depth == 0
            and isinstance(it, Tok)
            and it.kind == "letter"
            and k + 2 < len(sig)
            and "".join(getattr(x, "value", "") for x in sig[k : k + 3]).lower() == "and"
            and all(getattr(x, "kind", "") == "letter" for x in sig[k : k + 3])
        ):
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
        names.append(render(e[: eq[0]]) if len(eq) == 1 and _is_name(e[: eq[0]]) else None)
    if len(set(names)) == 1 and names[0] is not None:  # `x = -2, x = 1`: the values of one unknown
        elements = [e[next(i for i, x in enumerate(e) if x == Tok("sym", "=")) + 1 :] for e in elements]
    out: list = []
    for e in elements:
        if out:
            out.append(Tok("sym", ","))
        out.extend(e)
    a.items = out


def _is_or(it: Item) -> bool:
    return isinstance(it, Tok) and (
        (it.kind == "cmd" and it.value in ("lor", "cup")) or (it.kind == "text" and it.value.strip().lower() == "or")
    )


def inequality_to_interval(a: Answer) -> bool:
    """Rewrite `3 < x \\le 4` (or `x > 3`, or such parts joined by `\\lor`/`\\cup`/"or") as an interval in place.

    One variable throughout; False (unchanged) when the answer is not such an inequality.
    """
    sig = significant(a.items)
    if a.lhs is not None:
        return False
    parts: list[list[Item]] = []
    cur: list[Item] = []
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
            r = RELATIONS.get(it.value) if isinstance(it, Tok) and it.kind in ("sym", "cmd") else None
            if r:
                segs.append(cur)
                rels.append(r)
                cur = []
            else:
                cur.append(it)
        segs.append(cur)
        if not rels or len(segs) > 3 or any(not s for s in segs):
            return False
        names = [
            k for k, s in enumerate(segs) if _is_name(s) and not any(isinstance(x, Tok) and x.kind == "num" for x in s)
        ]
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
            out.append(
                ("[" if lo_closed else "(") + render(segs[lo]) + "," + render(segs[hi]) + ("]" if hi_closed else ")")
            )
        else:
            other = render(segs[1 - k])
            closed = rels[0] in ("\\le", "\\ge")
            below = up[0] == (k == 0)  # x < a, or a > x
            out.append(
                ("(-\\infty," + other + ("]" if closed else ")"))
                if below
                else (("[" if closed else "(") + other + ",\\infty)")
            )
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


class _Texts(TypedDict):
    """FormCheck's canonical texts, passed on by every verdict that leaves the values to math-verify."""

    gold_text: str
    cand_text: str


def partial_credit_exact(gold: Fraction, predicted: Fraction, cap: float) -> float:
    """max(0, 1 - |p - g| / max(|g|, 1)), capped; exact, so huge numbers cannot overflow."""
    ratio = abs(predicted - gold) / max(abs(gold), Fraction(1))
    return 0.0 if ratio >= 1 else min(cap, float(1 - ratio))


def _top_commas(a: Answer) -> int:
    return sum(d == 0 and isinstance(it, Tok) and it.value == "," for d, it in _top_level(a.items))


def _compare_numerals(gnum: Numeral, cnum: Numeral, credit_cap: float, texts: _Texts) -> FormCheck:
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
    return any(
        d == 0 and isinstance(it, Tok) and it.value in ("=", "<", ">", "le", "ge") for d, it in _top_level(a.items)
    )


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
        if (
            cand.lhs is not None
            and cand.lhs_op == "="
            and any(d == 0 and it == Tok("sym", "=") for d, it in _top_level(cand.items))
        ):
            join_lhs(cand)  # `x = -2, x = 1`: read element by element (`n = 1, 2, 3` is the list 1, 2, 3)
        unwrap_set(cand)
        list_elements(cand)
    cnum = numeral(cand)
    texts: _Texts = {"gold_text": gold.text, "cand_text": cand.text}
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
        return FormCheck(
            refused=f"hedge or not in the gold's form: uses {class_name(c)} {ccount[c]} time(s), "
            f"the gold answer {allowance[c]}"
        )
    if gnum is not None:
        return FormCheck(refused="not in the gold's form: the gold is a number written out, the answer is not")
    if is_bare_list(gold) and not pm and _top_commas(cand) < _top_commas(gold):
        return FormCheck(decided=False, score=0.0, **texts)  # fewer values than the gold's list: never a number
    if cnum is not None and cnum.form == "dec":  # 4.472 for 2\sqrt{5}: an approximation is not the exact answer
        return FormCheck(decided=False, score=None, **texts)
    if gold.text == cand.text:  # the same canonical text (only presentation differed): the same answer
        return FormCheck(decided=True, score=1.0, **texts)
    return FormCheck(**texts)
