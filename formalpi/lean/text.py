"""Lexical helpers shared by the verifier's pre-check and the skeleton parser."""

from __future__ import annotations

import re


class UnclosedLiteral(ValueError):
    """A block comment or string literal that never closes (raised only with `strict=True`)."""

    def __init__(self, offset: int, what: str):
        super().__init__(what)
        self.offset = offset
        self.what = what


def mask_comments_and_strings(text: str, strict: bool = False) -> str:
    """`text` with comments, string and char literals replaced by spaces (newlines kept, so offsets, lines and
    columns stay those of the original), read by the Lean lexer (formalpi.lean.lexer: raw strings, interpolated
    strings, nested and doc comments as Lean reads them). `strict`: an unclosed block comment or literal raises
    UnclosedLiteral. Text the lexer refuses for another reason (e.g. a malformed char literal) is masked by the
    simple scan below, best effort."""
    from formalpi.lean.lexer import LexError, mask

    try:
        return mask(text)
    except LexError as e:
        if strict and e.unclosed:
            raise UnclosedLiteral(e.offset, e.message) from None
    return _simple_mask(text, strict)


def _simple_mask(text: str, strict: bool) -> str:
    out = list(text)
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/-", i):  # block comments nest in Lean
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/-", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("-/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth and strict:
                raise UnclosedLiteral(i, "block comment `/-` is never closed with `-/`")
            blank(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n and strict:
                raise UnclosedLiteral(i, 'string literal `"` is never closed')
            blank(i, j + 1)
            i = j + 1
        elif c == "'" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_'!?")):
            m = re.match(r"'(?:\\.|[^\\'\n])'", text[i:])
            if m:  # a char literal; otherwise a prime in an identifier or `'` notation
                blank(i, i + m.end())
                i += m.end()
            else:
                i += 1
        else:
            i += 1
    return "".join(out)
