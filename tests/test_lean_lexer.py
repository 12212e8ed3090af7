"""The lexer against Lean v4.24.0's source, case by case. Each expected reading is derived by hand from the cited
function (leanprover/lean4 src/Lean/Parser/Basic.lean `whitespace`, `finishCommentBlock`, `tokenFnAux`,
`identFnAux`, `strLitFnAux`, `quotedCharCoreFn`, `stringGapFn`, `charLitFnAux`, `rawStrLitFnAux`,
`decimalNumberFn`; src/Lean/Parser/StrInterpolation.lean `interpolatedStrFn`; src/Init/Meta/Defs.lean
`isLetterLike`, `isSubScriptAlnum`, `isIdFirst`, `isIdRest`), never from running the lexer."""

from __future__ import annotations

import json

import pytest

from formalpi.lean.lexer import Kind, LexError, is_id_first, is_id_rest, lex
from tests.conftest import shared_path

C, I, S, N, CH, Y, H, IN = (  # noqa: E741
    Kind.COMMENT,
    Kind.IDENT,
    Kind.STRING,
    Kind.NUMBER,
    Kind.CHAR,
    Kind.SYMBOL,
    Kind.HASH,
    Kind.INTERP,
)

# (text, expected [(kind, text)], why: the source line that decides it)
CASES = [
    # whitespace / finishCommentBlock
    (
        "/-/- x -/ a",
        [(C, "/-/- x -/"), (I, "a")],
        "whitespace: after `/-` `s.next input i` skips the third char unread, so `/-` there opens no nesting (F1)",
    ),
    ("/-/-/ a", [(C, "/-/-/"), (I, "a")], "whitespace skips the 3rd char `/`; finishCommentBlock then reads `-/`"),
    (
        "/- /- x -/ -/ a",
        [(C, "/- /- x -/ -/"), (I, "a")],
        "finishCommentBlock: `/-` then `-` → nesting+1; `-/` at nesting 1 ends",
    ),
    ("/-- doc -/ a", [(C, "/-- doc -/"), (I, "a")], "whitespace: `/--` is a doc-comment token; commentBody"),
    ("/-! mod -/ a", [(C, "/-! mod -/"), (I, "a")], "whitespace: `/-!` is a doc-comment token; commentBody"),
    ("/--/ -/ a", [(C, "/--/ -/"), (I, "a")], "commentBody scans from after `/--`: `/` then ` ` is no opener"),
    ("/-!-/ a", [(C, "/-!-/"), (I, "a")], "commentBody from after `/-!`: `-/` closes at nesting 1"),
    ("a -- x -/ b\nc", [(I, "a"), (C, "-- x -/ b"), (I, "c")], "whitespace: `--` takeUntilFn (· = '\\n')"),
    ("a\r\nb", [(I, "a"), (I, "b")], "mkInputContext normalizes CRLF; `\\n` isWhitespace"),
    # identifiers: isIdFirst / isIdRest / isLetterLike / isSubScriptAlnum / «»
    ("hé' équation_t", [(I, "hé'"), (I, "équation_t")], "isLetterLike: 0xc0–0xff but ×, ÷ (Latin-1, lean4 #9035)"),
    ("ŝ Ÿ", [(I, "ŝ"), (I, "Ÿ")], "isLetterLike: 0x100–0x17f Latin Extended-A"),
    ("a×b", [(I, "a"), (Y, "×"), (I, "b")], "isLetterLike excludes 0xd7 ×"),
    ("a÷b", [(I, "a"), (Y, "÷"), (I, "b")], "isLetterLike excludes 0xf7 ÷"),
    ("λx", [(Y, "λ"), (I, "x")], "isLetterLike excludes 0x3bb λ"),
    ("α₁ xᵢ hⱼ", [(I, "α₁"), (I, "xᵢ"), (I, "hⱼ")], "isSubScriptAlnum: 0x2080–0x2089, 0x1d62–0x1d6a, 0x2c7c"),
    ("ℝ 𝔽", [(I, "ℝ"), (I, "𝔽")], "isLetterLike: 0x2100–0x214f letterlike, 0x1d49c–0x1d59f"),
    ("Π Σ", [(Y, "Π"), (Y, "Σ")], "isLetterLike excludes 0x3a0 Π and 0x3a3 Σ"),
    ("x!? y", [(I, "x!?"), (I, "y")], "isIdRest: `!` and `?`"),
    ("«a -/ b».c", [(I, "«a -/ b».c")], "identFnAux: takeUntilFn isIdEndEscape, then isIdCont `.` + isIdFirst"),
    ("h.1", [(I, "h"), (Y, "."), (N, "1")], "isIdCont: `.` must be followed by isIdFirst or `«`"),
    # F2: `és!` is one identifier, its `"` an ordinary string
    ('és!"{"', [(I, "és!"), (S, '"{"')], "isIdRest: `s` and `!` continue the identifier that `é` starts (F2)"),
    ('s!"a{x}b"', [(I, "s!"), (IN, '"a{'), (I, "x"), (IN, '}b"')], "interpolatedStrFn: `{` ends a literal part"),
    ('s!"\\{"', [(I, "s!"), (S, '"\\{"')], "isQuotableCharForStrInterpolant: `\\{` is an escape"),
    # strings
    ('"-/ --" a', [(S, '"-/ --"'), (I, "a")], 'strLitFnAux: everything up to the unescaped `"`'),
    ('"a\\"b" c', [(S, '"a\\"b"'), (I, "c")], 'quotedCharCoreFn: `\\"` is quotable'),
    ('"a\\\n   b" c', [(S, '"a\\\n   b"'), (I, "c")], "quotedCharCoreFn → stringGapFn: one newline, then spaces"),
    ('"\\x41\\u00e9" c', [(S, '"\\x41\\u00e9"'), (I, "c")], "quotedCharCoreFn: `x` + 2 hex, `u` + 4 hex"),
    ('r#"a"b"# c', [(S, 'r#"a"b"#'), (I, "c")], 'rawStrLitFnAux: closes at `"` followed by as many `#`'),
    ('r"\\" c', [(S, 'r"\\"'), (I, "c")], "rawStrLitFnAux normalState: no escapes"),
    ("rx", [(I, "rx")], 'tokenFnAux: `r` starts a raw string only before `#*"`'),
    # chars
    ("'\"' a", [(CH, "'\"'"), (I, "a")], "charLitFnAux: one char, then `'`"),
    ("'\\n' a", [(CH, "'\\n'"), (I, "a")], "charLitFnAux → quotedCharFn"),
    ("f ⁻¹' s", [(I, "f"), (Y, "⁻"), (Y, "¹'"), (I, "s")], "a `'` after a prime symbol is that token's"),
    # numbers
    ("2.5e-3 x", [(N, "2.5e-3"), (I, "x")], "decimalNumberFn parseOptDot, parseOptExp"),
    ("1_000 0x_ff 0b101", [(N, "1_000"), (N, "0x_ff"), (N, "0b101")], "takeDigitsFn: `_` allowed before digits"),
    ("2.x", [(N, "2."), (I, "x")], "parseOptDot consumes the `.` even without a digit after it"),
    # # tokens: the longest command keyword that is a prefix; else `#` is a symbol (Mathlib's `#s`)
    ("#s", [(Y, "#"), (I, "s")], "no `#`-command token is a prefix of `#s`: token `#` (Finset.card notation)"),
    ("#evalx 1", [(H, "#eval"), (I, "x"), (N, "1")], "TokenTable.matchPrefix takes the longest token `#eval`"),
    ("#print axioms", [(H, "#print"), (I, "axioms")], "`#print` token"),
    ("#[1]", [(Y, "#"), (Y, "["), (N, "1"), (Y, "]")], "`#[` is not a command token"),
]

ERRORS = [
    ("/- x", "unterminated comment", "finishCommentBlock eoi"),
    ("/-/- x", "unterminated comment", "the 3rd char skip: the closing `-/` is missing"),
    ("a\tb", "tabs are not allowed", "whitespace: `\\t` is an error"),
    ("a\rb", "isolated carriage returns", "whitespace: `\\r` is an error"),
    ('"a\\qb"', "invalid escape sequence", "quotedCharCoreFn"),
    ('"a\\\n\n b"', "additional newline in string gap", "stringGapFn"),
    ("'ab'", "missing end of character literal", "charLitFnAux"),
    ('"abc', "unterminated string literal", "strLitFnAux"),
    ('r#"abc"', "unterminated raw string literal", "rawStrLitFnAux"),
    ("2e x", "missing exponent digits", "parseOptExp"),
    ("«abc", "unterminated identifier escape", "identFnAux"),
]


@pytest.mark.parametrize("text,expected,why", CASES, ids=[c[0] for c in CASES])
def test_reading_matches_lean_source(text: str, expected: list, why: str) -> None:
    got = [(t.kind, t.text) for t in lex(text)]
    assert got == expected, why


@pytest.mark.parametrize("text,message,why", ERRORS, ids=[e[0] for e in ERRORS])
def test_lean_lexical_errors_are_refused_with_their_reason(text: str, message: str, why: str) -> None:
    with pytest.raises(LexError, match=message):
        lex(text)


def test_every_unicode_class_lean_treats_specially() -> None:
    """Every code point below U+20000 classified as Init/Meta/Defs.lean's functions read (written out here from
    their ranges, independently of the lexer's own range table)."""
    letter = [
        (0x3B1, 0x3C9),
        (0x391, 0x3A9),
        (0x3CA, 0x3FB),
        (0x1F00, 0x1FFE),
        (0x2100, 0x214F),
        (0x1D49C, 0x1D59F),
        (0xC0, 0xFF),
        (0x100, 0x17F),
    ]
    not_letter = {0x3BB, 0x3A0, 0x3A3, 0xD7, 0xF7}
    sub = [(0x2080, 0x2089), (0x2090, 0x209C), (0x1D62, 0x1D6A), (0x2C7C, 0x2C7C)]
    for o in range(0x20000):
        c = chr(o)
        if 0xD800 <= o <= 0xDFFF:
            continue
        ll = any(a <= o <= b for a, b in letter) and o not in not_letter
        asc = c.isascii() and c.isalpha()
        assert is_id_first(c) == (asc or c == "_" or ll), hex(o)
        rest = asc or (c.isascii() and c.isdigit()) or c in "_'!?" or ll or any(a <= o <= b for a, b in sub)
        assert is_id_rest(c) == rest, hex(o)


def test_no_unsure_refusal_on_recorded_proofs_and_minif2f_statements() -> None:
    root = shared_path("lean", "recorded-mathlib-checks")
    texts = [p.read_text(encoding="utf-8") for p in sorted((root / "input").glob("*.lean"))]
    assert len(texts) == 102
    rows = [json.loads(x) for x in shared_path("data", "minif2f_lean4_v4.24.jsonl").read_text().splitlines()]
    texts += [r["header"] + r["formal_statement"] + "  sorry\n" for r in rows]
    assert len(texts) == 102 + 488
    refused = []
    for t in texts:
        try:
            lex(t)
        except LexError as e:
            refused.append((t[:60], e.message))
    assert refused == []
