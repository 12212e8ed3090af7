"""A Lean 4 lexer for the verifier's pre-check: code tokens with their lines, comments and literals set apart.

It follows Lean's own `tokenFn` / `whitespace` (Lean.Parser.Basic) where a wrong split would hide code from the
pre-check: line comments `--`, nested block comments `/- … -/` (doc comments `/--`, `/-!` start their nesting
after three characters, as Lean's do), string literals with escapes, raw strings `r#"…"#`, interpolated strings
`s!"…{code}…"` (the code inside `{}` is lexed as code), character literals (a `'` at a token start is one, as
in Lean), identifiers with Lean's letter classes and `«»` escapes, dotted names split into components.

Where Lean's token table (which we do not have) could split differently, the lexer refuses instead of guessing
(`LexError`): an unclosed comment or literal, a malformed character literal, a `'` after a symbol that could be
either a symbol token or a character literal. One pass, linear in the input: every character is looked at a
bounded number of times.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    IDENT = "ident"  # identifiers and keywords alike (`theorem`, `nlinarith`, `h₀`, `Nat.succ`, `«x y»`)
    NUMBER = "number"
    STRING = "string"  # "…" or r#"…"#; `brace` set when an ordinary string holds an unescaped `{`
    INTERP = "interp"  # the literal parts of an interpolated string (its `{code}` parts are separate tokens)
    CHAR = "char"
    SYMBOL = "symbol"  # punctuation and operators; `:=` is one token
    HASH = "hash"  # `#name`: a `#`-command (`#eval`, `#print`, `#guard_msgs`, …)
    ATTR = "attr"  # `@[`: an attribute list
    BACKTICK = "backtick"  # a name literal or a syntax quotation
    COMMENT = "comment"


@dataclass(slots=True)
class Token:
    kind: Kind
    text: str
    start: int  # offset in the input
    end: int
    line: int  # 1-based
    col: int  # 0-based, in code points (as the REPL counts)
    parts: tuple[str, ...] = ()  # IDENT: the dotted components, «» removed
    brace: bool = False  # STRING: holds an unescaped `{`

    @property
    def code(self) -> bool:
        return self.kind is not Kind.COMMENT


class LexError(ValueError):
    def __init__(self, message: str, line: int, offset: int = 0, unclosed: bool = False):
        super().__init__(f"line {line}: {message}")
        self.message = message
        self.line = line
        self.offset = offset  # where the construct that fails starts
        self.unclosed = unclosed  # a comment or literal that never closes (the text ends inside it)


def _letter_like(o: int) -> bool:
    return ((0x3B1 <= o <= 0x3C9 and o != 0x3BB) or (0x391 <= o <= 0x3A9 and o not in (0x3A0, 0x3A3))
            or 0x3CA <= o <= 0x3FB or 0x1F00 <= o <= 0x1FFE or 0x2100 <= o <= 0x214F or 0x1D49C <= o <= 0x1D59F)


def _subscript(o: int) -> bool:
    return 0x2080 <= o <= 0x2089 or 0x2090 <= o <= 0x209C or 0x1D62 <= o <= 0x1D6A or o == 0x2C7C


def is_id_first(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or c == "_" or (ord(c) > 127 and _letter_like(ord(c)))


def is_id_rest(c: str) -> bool:
    if ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9") or c in "_'!?":
        return True
    o = ord(c)
    return o > 127 and (_letter_like(o) or _subscript(o))


_LETTERLIKE = ("\u03b1-\u03ba\u03bc-\u03c9\u0391-\u039f\u03a1\u03a2\u03a4-\u03a9\u03ca-\u03fb\u1f00-\u1ffe"
               "\u2100-\u214f\U0001d49c-\U0001d59f")
_ID_FIRST = f"A-Za-z_{_LETTERLIKE}"
_ID_REST = f"A-Za-z0-9_'!?{_LETTERLIKE}\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a\u2c7c"
_COMPONENT = re.compile(f"«[^»]*»|[{_ID_FIRST}][{_ID_REST}]*")
_IDENT = re.compile(f"(?:«[^»]*»|[{_ID_FIRST}][{_ID_REST}]*)(?:\\.(?:«[^»]*»|[{_ID_FIRST}][{_ID_REST}]*))*")
_STRING_BODY = re.compile(r'(?:[^"\\]|\\.)*"', re.S)  # escapes skip the next character, as Lean's quoteFn
_INTERP_BODY = re.compile(r'(?:[^"\\{]|\\.)*["{]', re.S)
_NUMBER = re.compile(r"0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9][0-9_]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_CHAR = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)|[^\\\n])'", re.S)
_SPACE = re.compile(r"[ \t\r\n]+")
_COMMENT_DELIM = re.compile(r"/-|-/")
_OPEN, _CLOSE = "([{⟨⦃", ")]}⟩⦄"
# symbols after which a `'` is part of the symbol token in Lean/Mathlib (`f ⁻¹' s`, `∑' n`, `α ×' β`, `Σ' x`)
_PRIME_SYMBOLS = set("¹∑∏×Σ∫⨆⨅⋃⋂")


_NOT_GLUE = set("([{⟨⦃)]}⟩⦄,;")
INTERPOLATION_PREFIXES = ("s!", "m!", "f!")  # the tokens of Lean's interpolated strings


def _glued(text: str, i: int) -> bool:
    """Whether text[i] directly follows a symbol character: then Lean's token table (longest match), which we
    do not have, decides where the token ends (`//-x` is `//` then `-x` in Lean; `<--` is `<-` then `-`)."""
    if i == 0:
        return False
    c = text[i - 1]
    return not (c.isspace() or is_id_rest(c) or c in _NOT_GLUE or c in "\"'»")


def lex(text: str) -> list[Token]:
    """Every token of `text` (comments included, as COMMENT tokens), in order; LexError where Lean's reading
    could differ from ours or the text cannot be Lean (unclosed comment or literal)."""
    toks: list[Token] = []
    n = len(text)
    i = 0
    newlines = [m.start() for m in re.finditer("\n", text)]
    # modes: a stack of brace depths; each entry above the bottom is the code inside an interpolated string's `{}`
    stack: list[int] = [0]

    def line_of(k: int) -> int:
        return bisect_left(newlines, k) + 1

    def emit(kind: Kind, a: int, b: int, parts: tuple[str, ...] = (), brace: bool = False) -> None:
        ln = bisect_left(newlines, a)
        toks.append(Token(kind, text[a:b], a, b, ln + 1, a - (newlines[ln - 1] + 1 if ln else 0), parts, brace))

    def string_body(a: int, interpolated: bool) -> int:
        """From just after an opening `"`: the index after the closing `"` (or, interpolated, of a `{`)."""
        m = (_INTERP_BODY if interpolated else _STRING_BODY).match(text, a)
        if m is None:
            raise LexError("string literal `\"` is never closed", line_of(a - 1), a - 1, True)
        return m.end()

    while i < n:
        c = text[i]
        m = _SPACE.match(text, i)
        if m:
            i = m.end()
            continue
        if text.startswith(("--", "/-"), i) and _glued(text, i) and not (toks and toks[-1].end == i and toks[-1].kind
                                                                         in (Kind.COMMENT, Kind.STRING, Kind.CHAR)):
            raise LexError(f"`{text[i - 1]}{text[i:i + 2]}`: a comment that starts right after a symbol may be "
                           "part of that symbol for Lean; put a space before it", line_of(i), i)
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            emit(Kind.COMMENT, i, j)
            i = j
            continue
        if text.startswith("/-", i):
            j = i + 3 if i + 2 < n and text[i + 2] in "-!" else i + 2
            depth = 1
            while depth:  # Lean's finishCommentBlock: the leftmost `/-` or `-/` from here, nesting counted
                m = _COMMENT_DELIM.search(text, j)
                if m is None:
                    raise LexError("block comment `/-` is never closed with `-/`", line_of(i), i, True)
                depth += 1 if m.group(0) == "/-" else -1
                j = m.end()
            emit(Kind.COMMENT, i, j)
            i = j
            continue
        if c == '"':
            prev = toks[-1] if toks else None
            interp = (prev is not None and prev.kind is Kind.IDENT and prev.text in INTERPOLATION_PREFIXES
                      and not text[prev.end:i].strip())
            j = string_body(i + 1, interp)
            if interp and text[j - 1] == "{":
                emit(Kind.INTERP, i, j)
                stack.append(0)
            else:
                body = text[i + 1:j - 1]
                emit(Kind.STRING, i, j, brace="{" in body.replace("\\\\", "").replace("\\{", ""))
            i = j
            continue
        if c == "}" and len(stack) > 1 and stack[-1] == 0:  # back into the interpolated string
            stack.pop()
            j = string_body(i + 1, True)
            emit(Kind.INTERP, i, j)
            if text[j - 1] == "{":
                stack.append(0)
            i = j
            continue
        if c == "'":
            if i + 1 < n and text[i + 1] == "'":
                emit(Kind.SYMBOL, i, i + 2)
                i += 2
                continue
            m = _CHAR.match(text, i)
            if not m:
                raise LexError("malformed character literal (a `'` that starts a token must be `'c'`)", line_of(i), i)
            if _glued(text, i) and not (toks and toks[-1].end == i and toks[-1].kind in (Kind.STRING, Kind.CHAR)):
                raise LexError(f"`{text[i - 1]}'`: a character literal right after a symbol may be part of that "
                               "symbol for Lean; put a space before it", line_of(i), i)
            emit(Kind.CHAR, i, m.end())
            i = m.end()
            continue
        if "0" <= c <= "9":
            m = _NUMBER.match(text, i)
            emit(Kind.NUMBER, i, m.end())
            i = m.end()
            continue
        if c == "`":
            emit(Kind.BACKTICK, i, i + 1)
            i += 1
            continue
        if c == "r" and i + 1 < n and text[i + 1] in '#"':
            j = i + 1
            while j < n and text[j] == "#":
                j += 1
            if j < n and text[j] == '"':
                hashes = j - i - 1
                close = text.find('"' + "#" * hashes, j + 1)
                if close < 0:
                    raise LexError("raw string literal `r" + "#" * hashes + '"` is never closed', line_of(i), i, True)
                emit(Kind.STRING, i, close + 1 + hashes)
                i = close + 1 + hashes
                continue
        if c == "«" or is_id_first(c):
            m = _IDENT.match(text, i)
            if m is None:  # only an unclosed `«` can fail here
                raise LexError("escaped name `«` is never closed with `»`", line_of(i), i, True)
            word = m.group(0)
            parts = tuple(x.strip("«»") for x in _COMPONENT.findall(word)) if "«" in word else tuple(word.split("."))
            emit(Kind.IDENT, i, m.end(), parts)
            i = m.end()
            continue
        if c == "#" and i + 1 < n and is_id_first(text[i + 1]):
            j = i + 2
            while j < n and is_id_rest(text[j]):
                j += 1
            emit(Kind.HASH, i, j)
            i = j
            continue
        if text.startswith("@[", i):
            emit(Kind.ATTR, i, i + 2)
            i += 2
            continue
        if text.startswith(":=", i):
            emit(Kind.SYMBOL, i, i + 2)
            i += 2
            continue
        if c in _OPEN:
            if c == "{":
                stack[-1] += 1
        elif c in _CLOSE:
            if c == "}":
                stack[-1] -= 1
        if i + 1 < n and text[i + 1] == "'" and c in _PRIME_SYMBOLS:
            if _CHAR.match(text, i + 1):  # `∑'x'`: Lean's token table decides; we do not guess
                raise LexError(f"`{c}'` followed by what reads as a character literal is ambiguous", line_of(i), i)
            emit(Kind.SYMBOL, i, i + 2)
            i += 2
            continue
        emit(Kind.SYMBOL, i, i + 1)
        i += 1
    if len(stack) > 1:
        raise LexError("interpolated string `{` is never closed", line_of(len(text)), len(text), True)
    return toks


def code_tokens(text: str) -> list[Token]:
    return [t for t in lex(text) if t.code]


def mask(text: str) -> str:
    """`text` with comments and string/char literals replaced by spaces (newlines kept, so offsets and lines stay
    those of the original). The code inside an interpolated string's `{}` stays. LexError as `lex`."""
    out = list(text)
    for t in lex(text):
        if t.kind in (Kind.COMMENT, Kind.STRING, Kind.CHAR, Kind.INTERP):
            for k in range(t.start, t.end):
                if out[k] != "\n":
                    out[k] = " "
    return "".join(out)
