"""A Lean 4 lexer for the verifier's pre-check: a port of Lean v4.24.0's token-level reading.

Ported from leanprover/lean4 (read with the search tool at commit 00c1b82 for src/Lean/Parser/Basic.lean and
024d241 for src/Init/Meta/Defs.lean, both later than v4.24.0; docs/lean.md "Tokenizer" says which PRs were checked
for changes since v4.24.0):
  * `Lean.Parser.whitespace` and `finishCommentBlock` (Parser/Basic.lean): `--` to the end of the line; `/-`
    starts a block comment whose scan begins at the FOURTH character (`s.next input i` skips the third without
    looking at it: `/-/- x -/` is one closed comment); `/--` and `/-!` are doc-comment tokens whose body is
    read by the same `finishCommentBlock 1` from right after them (Parser/Term.lean `commentBody`); nesting is
    counted; a tab or an isolated `\\r` in whitespace is a Lean error.
  * `tokenFnAux` (Parser/Basic.lean): the dispatch on the first character: `"` string, `'` char literal unless
    the next character is `'`, a digit a number (`numberFnAux`, `decimalNumberFn`), `` ` `` + identifier start
    a name literal (`nameLitAux`), `r` + `#*"` a raw string (`isRawStrLitStart`, `rawStrLitFnAux`), else an
    identifier (`identFnAux`) or a token of the token table.
  * `strLitFnAux`, `quotedCharCoreFn`, `stringGapFn`, `charLitFnAux`, `isQuotableCharDefault`
    (Parser/Basic.lean); `interpolatedStrFn`, `isQuotableCharForStrInterpolant` (Parser/StrInterpolation.lean).
  * `isLetterLike`, `isSubScriptAlnum`, `isIdFirst`, `isIdRest`, `isIdBeginEscape`/`isIdEndEscape` (Init/Meta/
    Defs.lean), with the Latin-1 Supplement and Latin Extended-A letters of lean4 PR #9035 (in v4.22.0 and
    later); `Char.isAlpha`/`isAlphanum` are ASCII-only in Lean (Init/Data/Char/Basic.lean).

What cannot be ported is the token table (Lean core + Mathlib notations, built at import time). Where it decides
and we cannot, the lexer refuses (`LexError`) instead of guessing: a comment or `'` glued to a preceding symbol
character (`//-x` is `//` then `-x` for Lean), `∑'x'`. Lean's own lexical errors (unterminated comment or literal,
invalid escape, missing exponent digits, tab) are refused with Lean's message: Lean would report an error there.
One pass, linear in the input.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path


class Kind(str, Enum):
    IDENT = "ident"  # identifiers and keywords alike (`theorem`, `nlinarith`, `h₀`, `Nat.succ`, `«x y»`)
    NUMBER = "number"
    STRING = "string"  # "…" or r#"…"#; `brace` set when an ordinary string holds an unescaped `{`
    INTERP = "interp"  # the literal parts of an interpolated string (its `{code}` parts are separate tokens)
    CHAR = "char"
    SYMBOL = "symbol"  # punctuation and operators; `:=` is one token
    HASH = "hash"  # a `#`-command token of the pinned libraries (`#eval`, `#print`, `#guard_msgs`, …)
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


# ---- character classes: Init/Meta/Defs.lean ------------------------------------------------------------------


def is_letter_like(o: int) -> bool:
    """`Lean.isLetterLike` (Init/Meta/Defs.lean), on a code point."""
    return (
        (0x3B1 <= o <= 0x3C9 and o != 0x3BB)  # lower greek, but lambda
        or (0x391 <= o <= 0x3A9 and o not in (0x3A0, 0x3A3))  # upper greek, but Pi and Sigma
        or 0x3CA <= o <= 0x3FB  # Coptic letters
        or 0x1F00 <= o <= 0x1FFE  # polytonic Greek
        or 0x2100 <= o <= 0x214F  # letterlike block
        or 0x1D49C <= o <= 0x1D59F  # script, double-struck, Fraktur
        or (0xC0 <= o <= 0xFF and o not in (0xD7, 0xF7))  # Latin-1 letters but × and ÷ (lean4 #9035)
        or 0x100 <= o <= 0x17F
    )  # Latin Extended-A (lean4 #9035)


def is_subscript_alnum(o: int) -> bool:
    """`Lean.isSubScriptAlnum` (Init/Meta/Defs.lean)."""
    return 0x2080 <= o <= 0x2089 or 0x2090 <= o <= 0x209C or 0x1D62 <= o <= 0x1D6A or o == 0x2C7C


def _ascii_alpha(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")  # Char.isAlpha is ASCII-only in Lean


def is_id_first(c: str) -> bool:
    """`Lean.isIdFirst`: `c.isAlpha || c = '_' || isLetterLike c`."""
    return _ascii_alpha(c) or c == "_" or is_letter_like(ord(c))


def is_id_rest(c: str) -> bool:
    """`Lean.isIdRest`: alphanumeric, `_ ' ! ?`, letter-like or subscript."""
    return _ascii_alpha(c) or ("0" <= c <= "9") or c in "_'!?" or is_letter_like(ord(c)) or is_subscript_alnum(ord(c))


# Lean's `Char.isWhitespace` (Init/Data/Char/Basic.lean): space, tab, CR, LF.
_WS = " \t\r\n"
# The same classes as regular-expression ranges (one scan in C per identifier part; the functions above are the
# definition, tests/test_lean_lexer.py checks both against Lean's ranges for every code point below U+20000).
_LETTER_RANGES = (
    "\u03b1-\u03ba\u03bc-\u03c9\u0391-\u039f\u03a1\u03a2\u03a4-\u03a9\u03ca-\u03fb\u1f00-\u1ffe"
    "\u2100-\u214f\U0001d49c-\U0001d59f\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u017f"
)
_IDENT_PART = re.compile(
    f"[A-Za-z_{_LETTER_RANGES}][A-Za-z0-9_'!?{_LETTER_RANGES}\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a\u2c7c]*"
)
_PLAIN_WS = re.compile(r"(?:[ \n]|\r\n)+")
_OPEN, _CLOSE = "([{⟨⦃", ")]}⟩⦄"
# Symbols after which a `'` is part of the symbol token in Lean/Mathlib (`f ⁻¹' s`, `∑' n`, `α ×' β`, `Σ' x`):
# tokens of the token table that we do not have; a `'` after any other symbol is refused when glued.
_PRIME_SYMBOLS = set("¹∑∏×Σ∫⨆⨅⋃⋂")
_NOT_GLUE = set("([{⟨⦃)]}⟩⦄,;")
INTERPOLATION_PREFIXES = ("s!", "m!", "f!")  # tokens followed by `interpolatedStr(term)`; after any other token a
# string holding `{` is refused by the pre-check, so a context we do not list here cannot hide code
_HEX = set("0123456789abcdefABCDEF")
_QUOTABLE = set("\\\"'rnt")  # isQuotableCharDefault


@lru_cache(maxsize=1)
def hash_tokens() -> tuple[str, ...]:
    """Every `#`-command keyword of Lean core and the pinned libraries (command_keywords.txt), longest first:
    Lean's token table matches the longest token that is a prefix of the input (`TokenTable.matchPrefix`)."""
    words = set()
    for line in Path(__file__).with_name("command_keywords.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and not line.startswith("## "):  # `## ` lines are the file's header
            words.add(line.split("\t")[0])
    return tuple(sorted(words, key=len, reverse=True))


def _hash_token(text: str, i: int) -> str | None:
    """The longest `#`-command keyword that starts at text[i] (`TokenTable.matchPrefix`), or None."""
    words = _hash_token_set()
    for length in range(min(len(hash_tokens()[0]), len(text) - i), 1, -1):  # at most the longest keyword's length
        if text[i : i + length] in words:
            return text[i : i + length]
    return None


@lru_cache(maxsize=1)
def _hash_token_set() -> frozenset[str]:
    return frozenset(hash_tokens())


def _glued(text: str, i: int) -> bool:
    """Whether text[i] directly follows a symbol character: then Lean's token table (longest match), which we
    do not have, decides where the token ends (`//-x` is `//` then `-x` in Lean; `<--` is `<-` then `-`)."""
    if i == 0:
        return False
    c = text[i - 1]
    return not (c in _WS or is_id_rest(c) or c in _NOT_GLUE or c in "\"'»")


class _Lexer:
    def __init__(self, text: str):
        self.text = text
        self.n = len(text)
        self.toks: list[Token] = []
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(self, k: int) -> int:
        return bisect_left(self.newlines, k) + 1

    def emit(self, kind: Kind, a: int, b: int, parts: tuple[str, ...] = (), brace: bool = False) -> None:
        ln = bisect_left(self.newlines, a)
        col = a - (self.newlines[ln - 1] + 1 if ln else 0)
        self.toks.append(Token(kind, self.text[a:b], a, b, ln + 1, col, parts, brace))

    def fail(self, message: str, at: int, unclosed: bool = False) -> LexError:
        return LexError(message, self.line_of(at), at, unclosed)

    # -- whitespace and comments (Parser/Basic.lean `whitespace`, `finishCommentBlock`) --

    def finish_comment_block(self, start: int, j: int) -> int:
        """`finishCommentBlock 1` from offset j: the offset after the matching `-/`."""
        text, n, nesting = self.text, self.n, 1
        while j < n:
            c = text[j]
            j += 1
            if c == "-":
                if j < n and text[j] == "/":  # "-/" end of comment
                    j += 1
                    nesting -= 1
                    if nesting == 0:
                        return j
            elif c == "/":
                if j < n and text[j] == "-":
                    j += 1
                    nesting += 1
        raise self.fail("unterminated comment (`/-` never closed with `-/`)", start, True)

    def whitespace(self, i: int) -> int:
        text, n = self.text, self.n
        while i < n:
            m = _PLAIN_WS.match(text, i)
            if m:
                i = m.end()
                if i >= n:
                    break
            c = text[i]
            if c == "\t":
                raise self.fail("tabs are not allowed (Lean's whitespace refuses them)", i)
            if c == "\r":
                if i + 1 < n and text[i + 1] == "\n":  # `mkInputContext` normalizes CRLF to LF
                    i += 2
                    continue
                raise self.fail("isolated carriage returns are not allowed", i)
            if c in _WS:
                i += 1
            elif text.startswith("--", i):
                self.check_glued(i)
                j = text.find("\n", i)
                j = n if j < 0 else j
                self.emit(Kind.COMMENT, i, j)
                i = j
            elif text.startswith("/-", i):
                self.check_glued(i)
                # "/--" and "/-!" are doc-comment tokens whose body `commentBody` reads from after them; a plain
                # "/-" skips its third character unread (`s.next input i`). Either way the scan starts at i + 3.
                j = self.finish_comment_block(i, i + 3)
                self.emit(Kind.COMMENT, i, j)
                i = j
            else:
                break
        return i

    def check_glued(self, i: int) -> None:
        prev = self.toks[-1] if self.toks else None
        if _glued(self.text, i) and not (
            prev and prev.end == i and prev.kind in (Kind.COMMENT, Kind.STRING, Kind.CHAR, Kind.INTERP)
        ):
            raise self.fail(
                f"`{self.text[i - 1]}{self.text[i : i + 2]}`: a comment that starts right after a symbol "
                "may be part of that symbol for Lean; put a space before it",
                i,
            )

    # -- literals --

    def quoted_char(self, j: int, in_string: bool, interp: bool) -> int:
        """`quotedCharCoreFn` from just after a `\\`: the offset after the escape."""
        text, n = self.text, self.n
        if j >= n:
            raise self.fail("unterminated escape at the end of the text", j - 1, True)
        c = text[j]
        if c in _QUOTABLE or (interp and c == "{"):
            return j + 1
        if c in "xu":
            k = 2 if c == "x" else 4
            if all(j + 1 + d < n and text[j + 1 + d] in _HEX for d in range(k)):
                return j + 1 + k
            raise self.fail("invalid hexadecimal numeral in escape", j)
        if in_string and c == "\n":  # `stringGapFn`: whitespace holding exactly one newline
            j += 1
            while j < n and text[j] in _WS:
                if text[j] == "\n":
                    raise self.fail("unexpected additional newline in string gap", j)
                j += 1
            return j
        raise self.fail("invalid escape sequence", j - 1)

    def string_body(self, start: int, j: int, interp: bool) -> tuple[int, bool]:
        """`strLitFnAux` / `interpolatedStrFn` from offset j: (offset after the closing `"` or, interpolated, the
        `{`; whether it stopped at `{`). Also whether an ordinary string holds an unescaped `{` (self.brace)."""
        text, n = self.text, self.n
        self.brace = False
        while j < n:
            c = text[j]
            if c == '"':
                return j + 1, False
            if c == "\\":
                j = self.quoted_char(j + 1, True, interp)
                continue
            if c == "{":
                if interp:
                    return j + 1, True
                self.brace = True
            j += 1
        raise self.fail("unterminated string literal", start, True)

    def char_lit(self, i: int) -> int:
        """`charLitFnAux` from the `'` at i."""
        text, n = self.text, self.n
        j = i + 1
        if j >= n:
            raise self.fail("unterminated character literal", i, True)
        j = self.quoted_char(j + 1, False, False) if text[j] == "\\" else j + 1
        if j < n and text[j] == "'":
            return j + 1
        raise self.fail("missing end of character literal", i)

    def number(self, i: int) -> int:
        """`numberFnAux` / `decimalNumberFn` / `takeDigitsFn` from the digit at i."""
        text, n = self.text, self.n

        def digits(j: int, ok, need: bool) -> int:
            while j < n and (text[j] == "_" or ok(text[j])):
                need = text[j] == "_"
                j += 1
            if need:
                raise self.fail("a number needs a digit here", j)
            return j

        if text[i] == "0" and i + 1 < n and text[i + 1] in "bBoOxX":
            ok = {"b": lambda c: c in "01", "o": lambda c: "0" <= c <= "7", "x": lambda c: c in _HEX}
            return digits(i + 2, ok[text[i + 1].lower()], True)
        j = digits(i + 1, lambda c: "0" <= c <= "9", False)
        if j < n and text[j] == ".":  # parseOptDot: the `.` is consumed even without digits after it
            j += 1
            if j < n and "0" <= text[j] <= "9":
                j = digits(j, lambda c: "0" <= c <= "9", False)
        if j < n and text[j] in "eE":  # parseOptExp
            k = j + 1
            if k < n and text[k] in "+-":
                k += 1
            if not (k < n and "0" <= text[k] <= "9"):
                raise self.fail("missing exponent digits in scientific literal", j)
            j = digits(k, lambda c: "0" <= c <= "9", False)
        return j

    def ident(self, i: int) -> tuple[int, tuple[str, ...]]:
        """`identFnAux` from i (an identifier start or `«`): (end, components)."""
        text, n = self.text, self.n
        parts: list[str] = []
        j = i
        while True:
            if text[j] == "«":
                close = text.find("»", j + 1)
                if close < 0:
                    raise self.fail("unterminated identifier escape `«`", j, True)
                parts.append(text[j + 1 : close])
                j = close + 1
            else:
                m = _IDENT_PART.match(text, j)  # isIdFirst then takeWhileFn isIdRest
                if m is None:  # callers and the `.` continuation below enter only at `isIdFirst` or `«`
                    raise AssertionError(f"ident(): {text[j]!r} at {j} is not an identifier start")
                k = m.end()
                parts.append(text[j:k])
                j = k
            # isIdCont: a `.` followed by an identifier start or `«`
            if j + 1 < n and text[j] == "." and (is_id_first(text[j + 1]) or text[j + 1] == "«"):
                j += 1
                continue
            return j, tuple(parts)

    # -- the token loop --

    def run(self) -> list[Token]:
        text, n = self.text, self.n
        stack: list[int] = [0]  # brace depths; an entry above the bottom is the code of an interpolated `{}`
        i = self.whitespace(0)
        while i < n:
            c = text[i]
            if c == "}" and len(stack) > 1 and stack[-1] == 0:  # back into the interpolated string
                stack.pop()
                j, more = self.string_body(i, i + 1, True)
                self.emit(Kind.INTERP, i, j)
                if more:
                    stack.append(0)
                i = self.whitespace(j)
                continue
            if c == '"':
                prev = self.toks[-1] if self.toks else None
                interp = (
                    prev is not None
                    and prev.kind is Kind.IDENT
                    and prev.text in INTERPOLATION_PREFIXES
                    and not text[prev.end : i].strip()
                )
                j, more = self.string_body(i, i + 1, interp)
                if more:
                    self.emit(Kind.INTERP, i, j)
                    stack.append(0)
                else:
                    self.emit(Kind.STRING, i, j, brace=self.brace)
            elif c == "'" and not (i + 1 < n and text[i + 1] == "'"):
                j = self.char_lit(i)
                prev = self.toks[-1] if self.toks else None
                if _glued(text, i) and not (prev and prev.end == i and prev.kind in (Kind.STRING, Kind.CHAR)):
                    raise self.fail(
                        f"`{text[i - 1]}'`: a character literal right after a symbol may be part of "
                        "that symbol for Lean; put a space before it",
                        i,
                    )
                self.emit(Kind.CHAR, i, j)
            elif "0" <= c <= "9":
                j = self.number(i)
                self.emit(Kind.NUMBER, i, j)
            elif c == "`":
                j = i + 1  # a name literal (`nameLitAux`) or a quotation token: refused either way
                self.emit(Kind.BACKTICK, i, j)
            elif c == "r" and self.raw_start(i + 1):
                j = self.raw_string(i)
                self.emit(Kind.STRING, i, j)
            elif c == "«" or is_id_first(c):
                j, parts = self.ident(i)
                self.emit(Kind.IDENT, i, j, parts)
            elif c == "#" and i + 1 < n and _ascii_alpha(text[i + 1]) and (hit := _hash_token(text, i)):
                j = i + len(hit)
                self.emit(Kind.HASH, i, j)
            elif text.startswith("@[", i):
                j = i + 2
                self.emit(Kind.ATTR, i, j)
            elif text.startswith(":=", i):
                j = i + 2
                self.emit(Kind.SYMBOL, i, j)
            else:
                if c == "{":
                    stack[-1] += 1
                elif c == "}":
                    stack[-1] -= 1
                j = i + 1
                if i + 1 < n and text[i + 1] == "'" and c in _PRIME_SYMBOLS:
                    if re.match(r"'(?:\\.|[^\\])'", text[i + 1 : i + 5]):  # `∑'x'`: the token table decides
                        raise self.fail(f"`{c}'` followed by what reads as a character literal is ambiguous", i)
                    j = i + 2
                elif c == "'":  # `''`: no char literal (tokenFnAux), a token of the table
                    j = i + 2
                self.emit(Kind.SYMBOL, i, j)
            i = self.whitespace(j)
        if len(stack) > 1:
            raise self.fail("interpolated string `{` is never closed", n, True)
        return self.toks

    def raw_start(self, j: int) -> bool:
        """`isRawStrLitStart`: `#*"` from j."""
        while j < self.n and self.text[j] == "#":
            j += 1
        return j < self.n and self.text[j] == '"'

    def raw_string(self, i: int) -> int:
        """`rawStrLitFnAux`: from the `r` at i, the offset after the closing `"#…#` with as many `#`."""
        j = i + 1
        while self.text[j] == "#":
            j += 1
        hashes = j - i - 1
        close = self.text.find('"' + "#" * hashes, j + 1)
        if close < 0:
            raise self.fail("unterminated raw string literal", i, True)
        return close + 1 + hashes


def lex(text: str) -> list[Token]:
    """Every token of `text` (comments included, as COMMENT tokens), in order; LexError where Lean's reading
    could differ from ours or Lean reports a lexical error."""
    return _Lexer(text).run()


def code_tokens(text: str) -> list[Token]:
    return [t for t in lex(text) if t.code]


def header_imports(src: str) -> list[str]:
    """The module names a Lean file's header imports: Lean/Parser/Module.lean `header` (an optional `module`, then
    `[public] [meta] import [all] Name` commands); stops at the first token that is not part of it."""
    try:
        toks = code_tokens(src)
    except LexError:
        toks = []
    out, k = [], 0
    if toks and toks[0].text == "module":
        k = 1
    while k < len(toks):
        j = k
        while j < len(toks) and toks[j].text in ("public", "meta"):
            j += 1
        if j >= len(toks) or toks[j].text != "import":
            break
        j += 1
        if j < len(toks) and toks[j].text == "all":
            j += 1
        if j >= len(toks) or toks[j].kind is not Kind.IDENT:
            break
        out.append(".".join(toks[j].parts))
        k = j + 1
    return out


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
