"""Strict acceptance of a Lean proof: from (trusted statement, model proof, REPL reply) to a `Verdict`.

A proof is VALID only if all of these hold (pure functions over text and wire records; `pool.py` does the I/O):

1. Pre-check, before Lean sees anything (REJECTED, with the construct and its line). The text is at most
   `max_bytes` (default 64 KB) of valid Unicode (no lone surrogates, no control characters but tab/newline/CR),
   and it is lexed by `formalpi.lean.lexer`, a port of Lean v4.24.0's whitespace, comment, identifier and literal
   scanners. A completion may be a whole file (`read_file_header`): its imports must be provided by the trusted
   header (Mathlib's import closure, mathlib_imports.txt) and are dropped; its file-level whitelisted
   `set_option` and `open` commands become `… in` prefixes of the declarations after them. It is then read as
   Lean commands and must be, by WHITELIST: helper `theorem`/`lemma` declarations (`:=` or `| pattern =>`
   equations), then the proof of the trusted theorem (a bare tactic or term body, or the theorem restated with
   its own binders, sent as written: the type check below compares the constant's type with the trusted
   statement), where `open … in` and `set_option NAME VALUE in` (NAME in `ALLOWED_OPTIONS`, never `debug.*`
   however spelled) may prefix a command or a tactic (never the end of the text, where it would scope our
   checks). Leading lines that repeat the trusted header verbatim are dropped. Theorems/lemmas written after the
   proof are not sent (nothing may run after the proof). Everything else is refused wherever it appears: any
   other command keyword (`def`, `instance`, `namespace`, `notation`, `elab`, `by_elab`, `attribute`, `import`,
   …; all 270 of Lean core and the pinned libraries, from command_keywords.txt; Lake's DSL words only where
   Lake.DSL is imported), any `#command`, `@[…]`, name literals and quotations, a string holding `{`; and, as a
   second layer, words and dotted-name components that skip or fake a proof (`sorry`, `native_decide`,
   `apply?`, `sorryAx`, `ofReduceBool`, …).
2. Lean's reply to ONE command, sent in the header's environment: the helpers, the trusted statement with the
   model's body (or the model's restated theorem as written), then our own checks, each at a known line:
       example : ∀ <binders>, <type> := @_root_.NAME     -- the constant has the trusted statement's type
       #print axioms _root_.NAME                          -- exactly one message, naming NAME
   No `error` message from the proof (else ERROR); no `sorries` and no "declaration uses 'sorry'" warning in
   either quote style (else INCOMPLETE); the type check raises no error and the line of `#print axioms` has
   exactly one message, an info that quotes NAME and lists only propext, Classical.choice, Quot.sound (else
   REJECTED). Messages are attributed by position, so a message the proof prints (`trace "…depends on…"`)
   can never stand in for ours, and `_root_.` means no `open` or namespace can redirect the name.

This module is the first two of three layers (docs/lean.md says which guarantee each gives):
  * pre-check (1): Lean's lexer ported, a whitelist of commands; nothing that could run meta code, add axioms or
    switch off checks should reach Lean, and nothing runs after the proof.
  * REPL (2): Lean elaborates the proof and our checks in the environment the model's text built. Fast (one round
    trip, no .olean files), but it trusts layer 1: text that slipped through it could redefine the very commands
    that judge it (an `elab_rules : command` answering `#print axioms`, `debug.skipKernelTC`).
  * replay (3, `formalpi/lean/replay.py`, run by `pool.py` on every VALID verdict unless `LeanConfig.replay` is
    off): the accepted text is compiled again in a fresh process and SafeVerify replays its declarations through
    the kernel (`Environment.replay`), compares the constant's type with a target compiled from our own text, and
    collects its axioms from the replayed environment; no elaborator of the model's runs there.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from formalpi.lean.details import LeanDetails
from formalpi.lean.lexer import Kind, LexError, Token, header_imports, lex
from formalpi.lean.protocol import CommandReply, Message, ReplError
from formalpi.records import Status, Verdict

ALLOWED_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
DEFAULT_MAX_PROOF_BYTES = 64 * 1024

# `set_option NAME VALUE in` is accepted for these (and `linter.*`, which only adds warnings). Why so few: every
# other option either changes how terms elaborate or (debug.*) switches off checks.
ALLOWED_OPTIONS = frozenset(
    {"maxHeartbeats", "maxRecDepth", "synthInstance.maxHeartbeats", "synthInstance.maxSize", "maxSynthPendingDepth"}
)

_DECL = "only helper `theorem`/`lemma` declarations may come with a proof"
_SCOPE = "it changes how the theorem is named or elaborated"
_META = "it runs or adds meta code (parser, elaborator or environment changes)"
# Command keywords (Lean core, Batteries, Mathlib, Aesop) refused wherever they appear: none can be part of a
# proof, so each one would start a command. The whitelist proper is the command structure above; this list
# gives the reason; LIBRARY_COMMANDS below (generated from the libraries' sources) is what makes the list complete.
COMMAND_KEYWORDS: dict[str, str] = {
    **{
        k: _DECL
        for k in (
            "def",
            "abbrev",
            "structure",
            "class",
            "inductive",
            "coinductive",
            "opaque",
            "alias",
            "irreducible_def",
            "mutual",
            "deriving",
            "proof_wanted",
            "recall",
            "where_aux",
        )
    },
    "axiom": "`axiom` declares an unproved assumption",
    "instance": "a new `instance` changes instance resolution",
    **{
        k: f"`{k}`: {_SCOPE}"
        for k in (
            "namespace",
            "section",
            "end",
            "variable",
            "universe",
            "include",
            "omit",
            "export",
            "import",
            "local",
            "private",
            "protected",
            "noncomputable",
            "nonrec",
        )
    },
    "partial": "`partial` definitions are opaque to the kernel",
    "unsafe": "`unsafe` escapes the kernel's checks",
    "implemented_by": "`implemented_by` swaps in unchecked code",
    "extern": "`extern` binds unchecked native code",
    **{
        k: f"`{k}`: {_META}"
        for k in (
            "notation",
            "notation3",
            "infix",
            "infixl",
            "infixr",
            "prefix",
            "postfix",
            "macro",
            "macro_rules",
            "syntax",
            "elab",
            "elab_rules",
            "declare_syntax_cat",
            "simproc",
            "dsimproc",
            "simproc_decl",
            "dsimproc_decl",
            "run_cmd",
            "run_elab",
            "run_meta",
            "run_tac",
            "by_elab",
            "unif_hint",
            "add_decl_doc",
            "attribute",
            "seal",
            "unseal",
            "compile_inductive",
            "suppress_compilation",
            "unsuppress_compilation",
            "assert_not_exists",
            "library_note",
            "initialize",
            "builtin_initialize",
            "initialize_simps_projections",
            "mk_iff_of_inductive_prop",
            "add_aesop_rules",
            "erase_aesop_rules",
            "declare_aesop_rule_sets",
            "register_option",
            "register_simp_attr",
            "register_label_attr",
            "grind_pattern",
            "declare_config_elab",
            "whatsnew",
            "count_heartbeats",
            "in_namespace",
        )
    },
}
# Every keyword that can start a command in Lean core, Batteries, Aesop, Qq, ProofWidgets, Plausible, ImportGraph,
# LeanSearchClient or Mathlib at the pinned revisions (formalpi/lean/command_keywords.txt, generated by
# formalpi/lean/tools/extract_command_keywords.py from their sources). A command can begin wherever a term or
# tactic ends, at any column, so each is refused wherever it appears as a token; a keyword is the same token inside
# a tactic block as at the top level. Not refused by this list: `theorem`/`lemma`/`example` (the command structure
# decides where they may stand), `open`/`set_option` (also tactics and terms: only their `… in` forms pass, see
# `_open_in`/`_set_option_in`), `scoped` (only in `open scoped … in`), `#…` and `@[` (refused by their own token
# kinds). An escaped name (`«end»`) is never a keyword; a dotted name whose first component is one (`end.x`) is
# refused too, though Lean reads it as one identifier: it costs nothing and does not depend on that reading.
_COMMAND_WORDS_NOT_LISTED = frozenset({"theorem", "lemma", "example", "open", "set_option", "scoped"})


def _load_library_commands() -> dict[str, str]:
    text = (Path(__file__).with_name("command_keywords.txt")).read_text(encoding="utf-8")
    libs: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("## "):
            keyword, library = line.split("\t")[:2]
            libs.setdefault(keyword, set()).add(library)
    return {k: ", ".join(sorted(v)) for k, v in libs.items()}


LIBRARY_COMMANDS: dict[str, str] = _load_library_commands()  # keyword as declared (`#print`, `compile_inductive%`)
_COMMAND_WORDS: dict[str, str] = {
    k.rstrip("%"): v
    for k, v in LIBRARY_COMMANDS.items()
    if not k.startswith("#") and k.rstrip("%") not in _COMMAND_WORDS_NOT_LISTED
}


# Library command words are refused at bracket depth 0 only. Inside brackets a command cannot start: the theorem's
# syntax ends only where its brackets are balanced, and a text that breaks off inside a bracket is a parse error,
# which Lean reports (the verdict is then `error` whatever runs after it). Some of these words are also atoms of
# bracketed clause syntax (Aesop's `(index := [target …])`), where refusing them would refuse genuine proofs. The
# hand-written COMMAND_KEYWORDS stay refused at any depth.
_OPENERS, _CLOSERS = frozenset("([{⟨⦃"), frozenset(")]}⟩⦄")


# Lake's DSL commands (lean4 src/lake/Lake/DSL/Syntax.lean: `scoped syntax … : command` in namespace Lake.DSL) exist
# only where Lake's DSL modules are imported; Mathlib's closure reaches none of them (mathlib_imports.txt), so there
# `target`, `script`, `package`, … are ordinary identifiers (a hypothesis named `target`).
LAKE_DSL_WORDS = frozenset(
    {
        "package",
        "post_update",
        "require",
        "module_facet",
        "package_facet",
        "library_facet",
        "target",
        "lean_lib",
        "lean_exe",
        "input_file",
        "input_dir",
        "extern_lib",
        "script",
    }
)


def _library_command(t: Token, lake: bool = False) -> str | None:
    """Why an identifier token is a command keyword of the pinned libraries, or None. `lake`: Lake's DSL is in
    scope (the trusted header's imports reach Lake.DSL)."""
    if t.text.startswith("«"):
        return None
    for w in (t.text, t.text.rstrip("?!"), t.parts[0] if len(t.parts) > 1 else None):
        libs = _COMMAND_WORDS.get(w) if w and (lake or w not in LAKE_DSL_WORDS) else None
        if libs:
            return f"`{w}` starts a command ({libs}); nothing but the proof may run"
    return None


# Second layer: words that skip or fake a proof, refused wherever they appear.
FORBIDDEN_WORDS: dict[str, str] = {
    "sorry": "`sorry` leaves the proof unfinished",
    "admit": "`admit` leaves the proof unfinished",
    "native_decide": "`native_decide` trusts the compiler (axiom Lean.ofReduceBool)",
    "apply?": "`apply?` is a search, not a proof",
    "exact?": "`exact?` is a search, not a proof",
    "rw?": "`rw?` is a search, not a proof",
}
# Dotted names are checked component by component (`Lean.ofReduceBool`, `_root_.sorryAx`, `debug.«x»`).
FORBIDDEN_COMPONENTS: dict[str, str] = {
    "sorryAx": "`sorryAx` leaves the proof unfinished",
    "ofReduceBool": "`ofReduceBool` trusts the compiler",
    "ofReduceNat": "`ofReduceNat` trusts the compiler",
    "trustCompiler": "`trustCompiler` trusts the compiler",
    "debug": "`debug.*` options can switch off kernel checks",
    "modifyEnv": "`modifyEnv` edits the environment directly",
    "addDecl": "`addDecl` adds declarations from meta code",
    "addAndCompile": "`addAndCompile` adds declarations from meta code",
    "unsafeCast": "`unsafeCast` casts anything to anything",
    "unsafeIO": "unsafe IO",
    "unsafeBaseIO": "unsafe IO",
    "unsafeEIO": "unsafe IO",
    "implemented_by": "`implemented_by` swaps in unchecked code",
    "extern": "`extern` binds unchecked native code",
    "Elab": "elaborator internals are meta code",
}
META_COMPONENT = re.compile(
    r"^(?:by_elab|run_\w+|elab\w*|macro\w*|syntax\w*|notation\w*|d?simproc\w*|declare_\w+|"
    r"register_\w+|initialize\w*|builtin_\w+)$"
)
_DECL_WORDS = ("theorem", "lemma", "example")
# tokens that Lean's `ident` parser does not take (keywords of the grammar around `open` and declarations)
_NOT_IDENTS = frozenset(
    {
        "in",
        "hiding",
        "renaming",
        "private",
        "scoped",
        "open",
        "set_option",
        "theorem",
        "lemma",
        "example",
        "by",
        "at",
        "fun",
        "have",
        "show",
        "from",
        "with",
        "do",
        "then",
        "else",
        "if",
        "let",
        "where",
        "import",
    }
)

_SORRY_WARNING = re.compile(r"declaration uses ['`]sorry['`]")
_AXIOMS_MSG = re.compile(
    r"\A'(?P<name>.+?)' (?:depends on axioms:\s*\[(?P<list>.*)\]|(?P<none>does not depend on "
    r"any axioms))\s*\Z",
    re.S,
)


@dataclass(frozen=True)
class Forbidden:
    construct: str
    line: int  # 1-based, in the text that was checked
    why: str
    where: str = "the proof"

    def reason(self) -> str:
        return f"forbidden construct `{self.construct}` at line {self.line} of {self.where}: {self.why}"


# ---- pre-check: characters, lexing, tokens anywhere ----------------------------------------------------------


def _bad_character(text: str) -> Forbidden | None:
    for m in re.finditer(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
        c = m.group(0)
        what = (
            f"lone surrogate U+{ord(c):04X}"
            if 0xD800 <= ord(c) <= 0xDFFF
            else f"control character U+{ord(c):04X} ({unicodedata.name(c, 'control')})"
        )
        return Forbidden(what, text.count("\n", 0, m.start()) + 1, "not valid Lean source text")
    return None


def _lex_code(text: str) -> list[Token] | Forbidden:
    bad = _bad_character(text)
    if bad:
        return bad
    try:
        return [t for t in lex(text) if t.code]
    except LexError as e:
        return Forbidden("unreadable text", e.line, e.message)


def _code_tokens(text: str, lake: bool = False) -> list[Token] | Forbidden:
    """The code tokens of `text` (comments and strings dropped), or the first thing the pre-check refuses in it:
    a bad character, unlexable text, or a token refused anywhere."""
    toks = _lex_code(text)
    if isinstance(toks, Forbidden):
        return toks
    return _scan(toks, lake) or toks


def _scan(toks: list[Token], lake: bool = False) -> Forbidden | None:
    """The first construct refused wherever it appears (layer 1 words and forms; layer 2 words)."""
    depth = 0  # bracket depth: a command can only start where every bracket is closed (else Lean reports an error)
    for k, t in enumerate(toks):
        if t.kind is Kind.SYMBOL:
            depth += 1 if t.text in _OPENERS else -1 if t.text in _CLOSERS else 0
        if t.kind is Kind.BACKTICK:
            return Forbidden("`", t.line, "name literals and syntax quotations are meta-programming")
        if t.kind is Kind.ATTR:
            return Forbidden("@[", t.line, "attributes can change evaluation, simp sets or instances")
        if t.kind is Kind.HASH:
            return Forbidden(t.text, t.line, "`#` commands run code, print or filter messages")
        if t.kind is Kind.STRING and t.brace:
            return Forbidden('"…{…"', t.line, "a string holding `{` is an interpolated string in some contexts")
        if t.kind is not Kind.IDENT:
            continue
        w = t.text
        why = (
            FORBIDDEN_WORDS.get(w)
            or COMMAND_KEYWORDS.get(w)
            or COMMAND_KEYWORDS.get(w.rstrip("?!"))
            or (_library_command(t, lake) if depth <= 0 else None)
        )
        if why:
            return Forbidden(w, t.line, why)
        bad = _component_refused(t)
        if bad:
            return bad
        if w == "open":
            bad = _open_in(toks, k)
            if bad:
                return bad
        elif w == "set_option":
            bad = _set_option_in(toks, k)
            if bad:
                return bad
        elif w == "scoped" and not (k and toks[k - 1].text == "open"):
            return Forbidden("scoped", t.line, "only `open scoped … in` is allowed")
    return None


def _is_name(t: Token) -> bool:
    """An identifier that Lean's `ident` parser takes (keywords are tokens, not identifiers)."""
    return (
        t.kind is Kind.IDENT
        and t.text not in _NOT_IDENTS
        and t.text not in _COMMAND_WORDS
        and t.text not in COMMAND_KEYWORDS
    )


def open_extent(toks: list[Token], k: int) -> int | None:
    """The index after the `openDecl` that follows the `open` at toks[k] (Lean/Parser/Command.lean: `open` is
    `withPosition ("open" >> openDecl)`; openDecl = openHiding | openRenaming | openOnly | openSimple | openScoped,
    their name lists `many1 (checkColGt >> ident)`), or None when it does not parse."""
    col, n = toks[k].col, len(toks)

    def names(j: int) -> int:
        while j < n and _is_name(toks[j]) and toks[j].col > col:
            j += 1
        return j

    j = k + 1
    if j < n and toks[j].text == "scoped":  # openScoped
        e = names(j + 1)
        return e if e > j + 1 else None
    if not (j < n and _is_name(toks[j])):
        return None
    if j + 1 < n and toks[j + 1].text == "hiding":  # openHiding
        e = names(j + 2)
        return e if e > j + 2 else None
    if j + 1 < n and toks[j + 1].text == "renaming":  # openRenaming: sepBy1 (ident " → " ident) ", "
        e = j + 2
        while e + 2 < n and _is_name(toks[e]):
            arrow = 1 if toks[e + 1].text == "→" else 2 if toks[e + 1].text == "-" and toks[e + 2].text == ">" else 0
            if not (arrow and e + 1 + arrow < n and _is_name(toks[e + 1 + arrow])):
                return None
            e += 2 + arrow
            if e < n and toks[e].text == ",":
                e += 1
            else:
                return e
        return None
    if j + 1 < n and toks[j + 1].text == "(":  # openOnly: ident "(" ident+ ")"
        e = j + 2
        while e < n and _is_name(toks[e]):
            e += 1
        return e + 1 if e > j + 2 and e < n and toks[e].text == ")" else None
    return names(j)  # openSimple


def _component_refused(t: Token) -> Forbidden | None:
    """A dotted-name component that skips or fakes a proof or is meta code (`Lean.ofReduceBool`, `Lean.Elab`)."""
    for p in t.parts:
        why = (
            FORBIDDEN_COMPONENTS.get(p)
            or FORBIDDEN_WORDS.get(p)
            or (f"`{p}`: {_META}" if META_COMPONENT.match(p) else None)
        )
        if why:
            return Forbidden(t.text, t.line, why)
    return None


def _open_in(toks: list[Token], k: int) -> Forbidden | None:
    e = open_extent(toks, k)
    if e is not None and e < len(toks) and toks[e].text == "in":
        if e + 1 < len(toks):
            return None
        return Forbidden("open … in", toks[k].line, "nothing follows `in`: it would scope the verifier's own checks")
    return Forbidden(
        "open",
        toks[k].line,
        "inside a proof only `open … in` is allowed (an `open` that stays open "
        "would change name resolution for the verifier's own checks)",
    )


def _option_refused(t: Token, name: Token) -> Forbidden | None:
    """Why `set_option NAME …` (t is `set_option`) is refused: NAME must be whitelisted."""
    opt = ".".join(name.parts)
    if "debug" in name.parts:
        return Forbidden(f"set_option {name.text}", t.line, "`debug.*` options can switch off kernel checks")
    if name.kind is not Kind.IDENT or not (
        opt in ALLOWED_OPTIONS or (opt.startswith("linter.") and len(name.parts) > 1)
    ):
        return Forbidden(
            f"set_option {name.text}", t.line, f"only {', '.join(sorted(ALLOWED_OPTIONS))} and linter.* may be set"
        )
    return None


def _set_option_in(toks: list[Token], k: int) -> Forbidden | None:
    t = toks[k]
    if k + 3 >= len(toks):
        return Forbidden("set_option", t.line, "incomplete `set_option NAME VALUE in`")
    name, value, inn = toks[k + 1], toks[k + 2], toks[k + 3]
    bad = _option_refused(t, name)
    if bad:
        return bad
    if k + 4 >= len(toks):
        return Forbidden(
            f"set_option {name.text}", t.line, "nothing follows `in`: it would scope the verifier's own checks"
        )
    if not (value.kind is Kind.NUMBER or value.text in ("true", "false")) or inn.text != "in":
        return Forbidden(
            f"set_option {name.text}",
            t.line,
            "must be `set_option NAME VALUE in` (a number or true/false, scoped by `in`)",
        )
    return None


def find_forbidden(text: str, *, preamble: bool = False) -> Forbidden | None:
    """The first construct of `text` refused by the token-level rules (comments and strings ignored, dotted
    names checked by component); an unlexable text is refused too. `preamble` is kept for callers of the old
    API: the rules are the same everywhere now."""
    del preamble
    toks = _code_tokens(text)
    return toks if isinstance(toks, Forbidden) else None


# ---- the completion's own file header -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _mathlib_closure() -> frozenset[str]:
    """The import closure of `Mathlib` at the pinned commit (mathlib_imports.txt, generated by
    formalpi/lean/tools/import_closure.py)."""
    text = Path(__file__).with_name("mathlib_imports.txt").read_text(encoding="utf-8")
    return frozenset(ln.split("\t")[0] for ln in text.splitlines() if ln.strip() and not ln.startswith("## "))


@lru_cache(maxsize=64)
def provided_modules(header: str) -> frozenset[str]:
    """The modules the trusted header's imports make available: each import itself, and the whole closure of
    `Mathlib` when it imports Mathlib."""
    out: set[str] = set()
    for m in header_imports(header):
        out.add(m)
        if m == "Mathlib":
            out |= _mathlib_closure()
    return frozenset(out)


def lake_in_scope(header: str) -> bool:
    """Whether Lake's DSL (and so its command words) can be in scope after the trusted header."""
    return any(m == "Lake" or m.startswith("Lake.DSL") for m in provided_modules(header))


def module_header(code: str) -> str | None:
    """The trusted header a piece of code brings itself (`LeanPool.check` without a header): its module header's
    imports (Lean/Parser/Module.lean, via `lexer.header_imports`), one `import` line each; None when it has none.
    `read_file_header` then drops those lines from the code and scopes its file-level `open`/`set_option`."""
    mods = header_imports(code)
    return "\n".join(f"import {m}" for m in mods) if mods else None


@dataclass
class FileHeader:
    """A completion read as a Lean file: its header commands taken out (blanked, lines kept)."""

    text: str
    scoped: list[tuple[int, str, int]] = field(default_factory=list)  # (offset, `… in` prefix, line) per command
    dropped: list[str] = field(default_factory=list)  # imports the trusted header provides


def read_file_header(text: str, header: str) -> FileHeader | Forbidden:
    """Read a completion that may be a whole file. Lean's module header (Lean/Parser/Module.lean: `import` commands
    before anything else) is checked against the trusted header: an import it provides is dropped, any other is
    refused. File-level `set_option NAME VALUE` (NAME whitelisted) and `open …` commands (at column 0, without
    `in`) become `… in` prefixes of the declarations after them (`scoped`), so they cannot reach our checks.
    Everything else stays for the whitelist."""
    toks = _lex_code(text)
    if isinstance(toks, Forbidden):
        return toks
    out = list(text)
    got = FileHeader(text)

    def blank(a: int, b: int) -> None:
        for i in range(a, b):
            if out[i] != "\n":
                out[i] = " "

    provided = provided_modules(header) if header else frozenset()
    k = 0
    while k < len(toks) and toks[k].text == "import":
        t = toks[k]
        if k + 1 >= len(toks) or toks[k + 1].kind is not Kind.IDENT or toks[k + 1].line != t.line:
            return Forbidden("import", t.line, "must be `import Module`")
        mod = ".".join(toks[k + 1].parts)
        if mod not in provided:
            return Forbidden(
                f"import {mod}",
                t.line,
                f"the trusted header does not provide `{mod}` (accepted: "
                "modules in the import closure of its own imports)",
            )
        got.dropped.append(f"import {mod} (provided by the trusted header)")
        blank(t.start, toks[k + 1].end)
        k += 2
    for i in range(k, len(toks)):
        t = toks[i]
        if t.col != 0 or t.kind is not Kind.IDENT or t.text not in ("open", "set_option"):
            continue
        if t.text == "open":
            e = open_extent(toks, i)
            if e is None or (e < len(toks) and toks[e].text == "in"):
                continue  # the whitelist decides (`open … in`, or refused)
            bad = next((b for x in toks[i + 1 : e] if (b := _component_refused(x))), None)
            if bad:  # the names of a file-level `open` are checked as they would be in the proof
                return bad
            got.scoped.append((t.start, text[t.start : toks[e - 1].end] + " in", t.line))
            blank(t.start, toks[e - 1].end)
        else:
            if i + 2 >= len(toks) or (i + 3 < len(toks) and toks[i + 3].text == "in"):
                continue
            name, value = toks[i + 1], toks[i + 2]
            bad = _option_refused(t, name)
            if bad:
                return bad
            if not (value.kind is Kind.NUMBER or value.text in ("true", "false")):
                return Forbidden(f"set_option {name.text}", t.line, "the value must be a number or true/false")
            got.scoped.append((t.start, f"set_option {name.text} {value.text} in", t.line))
            blank(t.start, value.end)
    got.text = "".join(out)
    return got


# ---- command structure -------------------------------------------------------------------------------------


@dataclass
class Decl:
    keyword: str
    name: str | None  # None for `example`
    line: int
    prefix_start: int  # offset where its `open … in` / `set_option … in` prefixes start
    kw_start: int  # offset of the keyword
    assign_end: int | None  # offset just after its top-level `:=`
    end: int  # offset where the next command (or the text) starts
    eqns_start: int | None = None  # offset of its first `| pattern => …` alternative when it has no `:=`


def _doc_comments(text: str) -> dict[int, int]:
    """{end: start} of every `/-- … -/` doc comment (the text already lexed without error)."""
    try:
        return {t.end: t.start for t in lex(text) if t.kind is Kind.COMMENT and t.text.startswith("/--")}
    except LexError:
        return {}


def _decls(text: str, toks: list[Token]) -> tuple[list[Decl], Forbidden | None]:
    kws = [k for k, t in enumerate(toks) if t.kind is Kind.IDENT and t.text in _DECL_WORDS]
    out: list[Decl] = []
    docs: dict[int, int] | None = None
    for k in kws:
        p = k  # walk back over `… in` prefixes (their form was checked by _scan)
        while p > 0 and toks[p - 1].text == "in":
            q = p - 2
            while q >= 0 and toks[q].text not in ("open", "set_option") and toks[q].kind in (Kind.IDENT, Kind.NUMBER):
                q -= 1
            if q < 0 or toks[q].text not in ("open", "set_option"):
                break
            p = q
        start = toks[p].start
        if p == k and text[:start].rstrip().endswith("-/"):  # a doc comment belongs to the declaration after it
            # (Lean's `declModifiers`), so a `… in` prefix we add must go before it
            docs = _doc_comments(text) if docs is None else docs
            start = docs.get(len(text[:start].rstrip()), start)
        t = toks[k]
        name = None
        if t.text != "example":
            if k + 1 >= len(toks) or toks[k + 1].kind is not Kind.IDENT:
                return out, Forbidden(t.text, t.line, "a declaration without a name")
            name = (
                ".".join(x for x in toks[k + 1].parts if x != "_root_")
                if toks[k + 1].parts[0] == "_root_"
                else ".".join(toks[k + 1].parts)
            )
        out.append(Decl(t.text, name, t.line, start, t.start, None, len(text)))
    for a, b in zip(out, out[1:]):
        a.end = b.prefix_start
    j = 0  # one pass over the tokens for the top-level `:=` (or first `|` alternative) of every declaration
    for d in out:
        depth = 0
        while j < len(toks) and toks[j].start <= d.kw_start:
            j += 1
        while j < len(toks) and toks[j].start < d.end:
            t = toks[j]
            starts_line = toks[j - 1].line != t.line
            j += 1
            if t.kind is Kind.SYMBOL:
                if t.text in "([{⟨⦃":
                    depth += 1
                elif t.text in ")]}⟩⦄":
                    depth -= 1
                elif t.text == ":=" and depth <= 0:
                    d.assign_end = t.end
                    break
                elif t.text == "|" and depth <= 0 and starts_line and _arrow_on_line(toks, j):
                    d.eqns_start = t.start  # declared by equations (`matchAlts`), not `|x|` in the type
                    break
    return out, None


def _arrow_on_line(toks: list[Token], j: int) -> bool:
    """Whether a `=>` follows toks[j - 1] on its line (`| pattern => …`)."""
    line = toks[j - 1].line
    while j + 1 < len(toks) and toks[j].line == line:
        if toks[j].text == "=" and toks[j + 1].text == ">" and toks[j + 1].start == toks[j].end:
            return True
        j += 1
    return False


@dataclass
class ProofPlan:
    """What of the model's text is sent: helpers, a prefix for the trusted theorem, its body."""

    helpers: str = ""
    prefix: str = ""  # `set_option … in` / `open … in` the model put before its restated theorem
    body: str = ""
    restated: bool = False  # the body followed the model's own `:=` (so it is a term or starts with `by`)
    head: str = ""  # restated under the trusted name: the model's own declaration up to its body (`theorem NAME … :=`)
    dropped: list[str] = field(default_factory=list)  # declarations after the proof, not sent


def _strip_header_copy(text: str, header: str) -> str:
    """Drop leading lines that repeat a line of the trusted header verbatim (`import Mathlib`, `open … Real`):
    models often restate the file's header, and those lines are already in effect."""
    known = {ln.strip() for ln in header.splitlines() if ln.strip()}
    if not known:
        return text
    lines = text.split("\n")
    k = 0
    while k < len(lines) and (
        not lines[k].strip() or (lines[k].strip() in known and not re.search(r"--|/-|\"", lines[k]))
    ):
        k += 1
    if k == 0 or not any(ln.strip() for ln in lines[:k]):
        return text
    return "\n" * k + "\n".join(lines[k:])  # keep line numbers of the rest


def plan_proof(proof: str, trusted_name: str | None, header: str = "") -> ProofPlan | Forbidden:
    """Split the model's text into helpers / restated theorem / body by the whitelist, or say what is refused."""
    read = read_file_header(_strip_header_copy(proof, header), header)
    if isinstance(read, Forbidden):
        return read
    text = read.text
    toks = _code_tokens(text, lake_in_scope(header) if header else False)
    if isinstance(toks, Forbidden):
        return toks
    decls, bad = _decls(text, toks)
    if bad:
        return bad

    def scoped(before: int) -> str:  # file-level options and opens in effect at offset `before`
        return "".join(p + "\n" for at, p, _ in read.scoped if at < before)

    def after_proof(start: int) -> Forbidden | None:  # nothing may follow the proof, even a no-op
        late = [(p, ln) for at, p, ln in read.scoped if at > start]
        return (
            Forbidden(
                late[0][0].removesuffix(" in"),
                late[0][1],
                "a file-level command after the proof (nothing may run after it)",
            )
            if late
            else None
        )

    if not decls:
        return after_proof(toks[0].start if toks else 0) or ProofPlan(
            body=text, prefix=scoped(toks[0].start if toks else len(text)), dropped=list(read.dropped)
        )
    lead_code = [t for t in toks if t.start < decls[0].prefix_start]
    named = [d for d in decls if trusted_name is not None and d.name == trusted_name]
    if len(named) > 1:
        return Forbidden(
            f"theorem {trusted_name}",
            named[1].line,
            f"the theorem is stated {len(named)} times (lines {', '.join(str(d.line) for d in named)})",
        )
    if lead_code:
        if named:
            return Forbidden(
                f"theorem {trusted_name}",
                named[0].line,
                f"the theorem is restated after proof text that starts at line {lead_code[0].line}",
            )
        main, helpers, trailing = None, [], decls
    elif named:
        i = decls.index(named[0])
        main, helpers, trailing = named[0], decls[:i], decls[i + 1 :]
    else:
        main, helpers, trailing = decls[-1], decls[:-1], []
    for d in helpers:
        if d.keyword == "example":
            return Forbidden("example", d.line, "an `example` before the theorem proves nothing it can use")
        if d.assign_end is None and d.eqns_start is None:
            return Forbidden(
                f"{d.keyword} {d.name}",
                d.line,
                "a helper must be `theorem NAME … := proof` (or defined by `| pattern => …` equations)",
            )
    plan = ProofPlan(
        helpers="".join(scoped(d.prefix_start) + text[d.prefix_start : d.end] for d in helpers),
        dropped=list(read.dropped)
        + [f"{d.keyword} {d.name or ''} (line {d.line})".replace("  ", " ") for d in trailing],
    )
    late = after_proof(main.kw_start if main is not None else lead_code[0].start)
    if late:
        return late
    if main is None:
        plan.body = text[: decls[0].prefix_start]
        plan.prefix = scoped(lead_code[0].start)
        return plan
    if main.assign_end is None and main.eqns_start is None:
        return Forbidden(
            f"{main.keyword} {main.name or ''}".strip(),
            main.line,
            "the restated theorem has no `:=` followed by its proof",
        )
    plan.prefix = scoped(main.prefix_start) + text[main.prefix_start : main.kw_start]
    body_start = main.assign_end if main.assign_end is not None else main.eqns_start
    plan.head = text[main.kw_start : body_start] if named else ""  # under another name: grafted onto ours
    plan.body = text[body_start : main.end]
    plan.restated = True
    return plan


def split_proof(text: str, trusted_name: str | None = None) -> tuple[str, str]:
    """(helpers, body): if the model restated the theorem, body is what follows its `:=` and helpers are the
    theorems before it. Otherwise ("", text). Unreadable text comes back unchanged (the pre-check refuses it)."""
    plan = plan_proof(text, trusted_name)
    if isinstance(plan, Forbidden):
        return "", text
    body = plan.body.lstrip(" \t") if plan.restated else plan.body
    return plan.helpers.strip("\n"), body.rstrip() if plan.restated else body


def proof_body(text: str) -> str:
    """The proof with any restated theorem stripped: what follows its `:=` (e.g. "by\\n  simp"); else the text."""
    return split_proof(text)[1]


# ---- the trusted statement ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedStatement:
    keyword: str  # theorem | lemma | example
    name: str | None
    binders: str  # the text between the name and the top-level `:` (may be empty)
    type: str  # the text between that `:` and `:=`
    head: str  # the statement without its trailing `:= by sorry` / `:= by` / `:=`
    tactic: bool  # it ended in `by`


class StatementError(ValueError):
    pass


@lru_cache(maxsize=4096)  # the same statement comes back for every sample of a problem
def parse_statement(statement: str) -> TrustedStatement:
    head = statement.rstrip()
    head = re.sub(r"\bsorry\s*$", "", head).rstrip()
    tactic = bool(re.search(r"\bby\s*$", head))
    head = re.sub(r"\bby\s*$", "", head).rstrip()
    head = re.sub(r":=\s*$", "", head).rstrip()
    try:
        every = lex(head)
    except LexError as e:
        raise StatementError(f"the trusted statement cannot be lexed ({e})") from None
    toks = [t for t in every if t.code]
    code = list(head)  # comments blanked (newlines kept): binders and type are copied into our type check
    for t in every:
        if not t.code:
            code[t.start : t.end] = [c if c == "\n" else " " for c in head[t.start : t.end]]
    code_text = "".join(code)
    kw = next((k for k, t in enumerate(toks) if t.kind is Kind.IDENT and t.text in _DECL_WORDS), None)
    if kw is None:
        raise StatementError("the trusted statement has no `theorem`/`lemma`/`example`")
    name = None
    after = kw + 1
    if toks[kw].text != "example":
        if after >= len(toks) or toks[after].kind is not Kind.IDENT:
            raise StatementError("the trusted statement's theorem has no name")
        name = toks[after].text
        after += 1
    depth, colon = 0, None
    for k in range(after, len(toks)):
        t = toks[k]
        if t.kind is Kind.SYMBOL:
            if t.text in "([{⟨⦃":
                depth += 1
            elif t.text in ")]}⟩⦄":
                depth -= 1
            elif t.text == ":" and depth == 0:
                colon = k
                break
    if colon is None:
        raise StatementError("the trusted statement has no top-level `:` before its type")
    start = toks[after].start if after < len(toks) and after < colon else toks[colon].start
    binders = code_text[start : toks[colon].start].strip() if after < colon else ""
    return TrustedStatement(toks[kw].text, name, binders, code_text[toks[colon].end :].strip(), head, tactic)


# ---- the command sent to Lean ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedProof:
    """What is sent to Lean for one (statement, proof): the full command, the name whose axioms are printed, the
    line where the model's body starts, and the lines of our own checks (messages there are ours to read)."""

    cmd: str
    name: str
    body: str
    body_line: int  # 1-based line of `cmd` on which the body starts
    check_line: int = 0  # first line of our checks; messages before it belong to the proof (0: no checks)
    type_lines: tuple[int, int] | None = None  # lines [a, b) of the type check
    axiom_lines: tuple[tuple[int, str], ...] = ()  # (line of `#print axioms`, constant it must name)
    dropped: tuple[str, ...] = ()


def _clean(text: str) -> str:
    return re.sub(r"[\ud800-\udfff]", "\ufffd", text)


def rejected(proof: object, reason: str) -> Verdict:
    return Verdict(status=Status.REJECTED, reason=reason, answer=_clean(proof) if isinstance(proof, str) else None)


def _checks(cmd: str, name: str, st: TrustedStatement | None, axioms: bool) -> tuple[str, dict]:
    """Append our checks to `cmd`; return the new text and the line bookkeeping."""
    text = cmd.rstrip() + "\n\n"
    info: dict = {"check_line": text.count("\n") + 1}
    if st is not None:
        typ = f"∀ {st.binders}, {st.type}" if st.binders else st.type
        example = f"example : {typ} := @_root_.{name}"
        a = text.count("\n") + 1
        text += example + "\n\n"
        info["type_lines"] = (a, a + example.count("\n") + 1)
    if axioms:
        info["axiom_lines"] = ((text.count("\n") + 1, name),)
        text += f"#print axioms _root_.{name}\n"
    return text, info


def prepare(
    statement: str, proof: str, header: str = "", *, max_bytes: int = DEFAULT_MAX_PROOF_BYTES, check_axioms: bool = True
) -> PreparedProof | Verdict:
    """Build the command for the trusted statement + the model's proof; a REJECTED / NO_ANSWER verdict if the
    proof must not reach Lean."""
    if not isinstance(proof, str) or not isinstance(statement, str):
        return rejected(
            proof, f"statement and proof must be text, got {type(statement).__name__} and {type(proof).__name__}"
        )
    if len(proof) > max_bytes or len(proof.encode("utf-8", "surrogatepass")) > max_bytes:
        return rejected(
            proof[:1000], f"the proof is longer than the limit of {max_bytes} bytes (LeanConfig.max_proof_bytes)"
        )
    for what, text in (("trusted statement", statement), ("header", header)):
        bad = _bad_character(text) if isinstance(text, str) else None
        if bad:  # never sent: a lone surrogate cannot even be encoded for the REPL
            return rejected(proof, f"{what}: {bad.construct} at line {bad.line}: {bad.why}")
    if not proof.strip():
        return Verdict(status=Status.NO_ANSWER, reason="empty proof", answer=proof)
    try:
        st = parse_statement(statement)
    except StatementError as e:
        return rejected(proof, f"trusted statement: {e}")
    name, head = st.name, st.head
    if name is None:  # anonymous `example`: give it a fresh name so that it can be checked by name
        name = "formalpi_example_" + hashlib.sha256(head.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        head = re.sub(r"\bexample\b", f"theorem {name}", head, count=1)
    plan = plan_proof(proof, name if st.name is not None else None, header)
    if isinstance(plan, Forbidden):
        return rejected(proof, plan.reason())
    if not plan.body.strip():
        return Verdict(status=Status.NO_ANSWER, reason="the restated theorem has an empty proof", answer=proof)
    helpers = plan.helpers.strip("\n")
    prefix = (helpers + "\n\n" if helpers else "") + plan.prefix
    body = plan.body
    first = body.lstrip(" \t\n\r")
    if plan.restated and st.name is not None and plan.head:
        # the model's own declaration, its binder names kept: the type check below compares the constant's type
        # with the trusted statement's, so an alpha-renamed restatement passes and a different statement fails
        head, glue = plan.head.rstrip() if plan.head.rstrip().endswith(":=") else plan.head, ""
        body_text = body.rstrip()
    elif plan.restated or re.match(r"by\b", first) or not st.tactic:
        glue = " :="
        body_text = body.rstrip() if plan.restated else " " + body.strip()
    else:  # tactics without `by`: open the block ourselves; indent if the model did not
        glue = " := by\n"
        lines = body.strip("\n").rstrip().splitlines()
        if lines and lines[0] == lines[0].lstrip():
            lines = ["  " + ln if ln.strip() else ln for ln in lines]
        body_text = "\n".join(lines)
    before_body = prefix + head + glue
    lead = len(body_text) - len(body_text.lstrip(" \t\n\r"))
    body_line = (before_body + body_text[:lead]).count("\n") + 1
    cmd, info = _checks(before_body + body_text, name, st, check_axioms)
    return PreparedProof(
        cmd=cmd, name=name, body=body_text.strip(), body_line=body_line, dropped=tuple(plan.dropped), **info
    )


def prepare_code(code: str, header: str = "", *, max_bytes: int = DEFAULT_MAX_PROOF_BYTES) -> PreparedProof | Verdict:
    """A whole piece of Lean code (its own theorems; it may be a whole file, read by `read_file_header` against
    `header`): the same whitelist (theorem/lemma/example declarations with `open … in` / `set_option … in`
    prefixes, nothing else), and every theorem's axioms checked; `example`s are renamed so that they can be
    checked too."""
    if not isinstance(code, str):
        return rejected(code, f"code must be text, got {type(code).__name__}")
    if len(code.encode("utf-8", "surrogatepass")) > max_bytes:
        return rejected(code[:1000], f"the code is longer than the limit of {max_bytes} bytes")
    original = code
    read = read_file_header(code, header)
    if isinstance(read, Forbidden):
        return rejected(original, replace(read, where="the code").reason())
    code = read.text
    toks = _code_tokens(code, lake_in_scope(header) if header else False)
    if isinstance(toks, Forbidden):
        return rejected(original, replace(toks, where="the code").reason())
    decls, bad = _decls(code, toks)
    if bad is None and decls:
        bad = next(
            (
                Forbidden(p.removesuffix(" in"), ln, "a file-level command after the last declaration")
                for at, p, ln in read.scoped
                if at > decls[-1].kw_start
            ),
            None,
        )
    if bad:
        return rejected(original, replace(bad, where="the code").reason())
    if not decls:
        return Verdict(status=Status.NO_ANSWER, reason="no theorem, lemma or example in the code", answer=code)
    lead = [t for t in toks if t.start < decls[0].prefix_start]
    if lead:
        return rejected(
            code,
            f"code at line {lead[0].line} before the first theorem: only theorem/lemma/example "
            "declarations (and imports, `open`, `set_option` in the header) are accepted",
        )
    out, names, k = [], [], 0
    for d in decls:
        seg = code[d.prefix_start : d.end]
        if d.assign_end is None:
            return rejected(code, f"{d.keyword} at line {d.line} has no `:=` followed by its proof")
        if d.name is None:
            k += 1
            fresh = f"formalpi_example_{k}_" + hashlib.sha256(code.encode("utf-8")).hexdigest()[:8]
            off = d.kw_start - d.prefix_start
            seg = seg[:off] + f"theorem {fresh}" + seg[off + len("example") :]
            names.append(fresh)
        else:
            names.append(d.name)
        out.append("".join(p + "\n" for at, p, _ in read.scoped if at < d.prefix_start) + seg)
    cmd = code[: decls[0].prefix_start] + "".join(out)
    text = cmd.rstrip() + "\n\n"
    check_line = text.count("\n") + 1
    lines = []
    for n in names:
        lines.append((text.count("\n") + 1, n))
        text += f"#print axioms _root_.{n}\n"
    return PreparedProof(
        cmd=text, name=names[-1], body=code, body_line=1, check_line=check_line, axiom_lines=tuple(lines)
    )


# ---- reading Lean's reply ----------------------------------------------------------------------------------


def parse_axioms_message(data: str) -> tuple[str, list[str]] | None:
    """(constant, axioms) from a `#print axioms` message; None if the text is not one."""
    m = _AXIOMS_MSG.match(data.strip())
    if not m:
        return None
    if m.group("none"):
        return m.group("name"), []
    return m.group("name"), [a.strip() for a in re.split(r"[,\s]+", m.group("list")) if a.strip()]


def parse_axioms(reply: CommandReply) -> list[str] | None:
    """The axioms named by a reply's first `#print axioms` message; None if no message says."""
    if reply.errors:
        return None
    for m in reply.messages:
        got = parse_axioms_message(m.data)
        if got is not None:
            return got[1]
    return None


def axioms_command(name: str) -> str:
    return f"#print axioms _root_.{name}"


def feedback_for(messages: list[Message], body_line: int) -> str:
    """The first error, its line counted from the start of the proof body (1 = the body's first line)."""
    for m in messages:
        if m.severity == "error":
            if m.pos is None:
                return m.data
            rel = m.pos.line - body_line + 1
            where = f"line {rel}" if rel >= 1 else "in the statement"
            return f"{where}: {m.data}"
    return ""


def has_sorry_warning(messages: list[Message]) -> bool:
    return any(m.severity == "warning" and _SORRY_WARNING.search(m.data) for m in messages)


def judge(prep: PreparedProof, reply: CommandReply | ReplError) -> Verdict:
    """The verdict for a proof from the REPL's reply to its one command (proof + our checks)."""
    if isinstance(reply, ReplError):
        return Verdict(status=Status.CRASH, reason=f"REPL refused the request: {reply.message}", answer=prep.body)
    ours = [bool(prep.check_line and m.pos is not None and m.pos.line >= prep.check_line) for m in reply.messages]
    mine = [(m.pos.line, m) for m, o in zip(reply.messages, ours) if o and m.pos is not None]  # (line, message)
    theirs = [m for m, o in zip(reply.messages, ours) if not o]
    details = LeanDetails(messages=theirs, sorries=reply.sorries, body_line=prep.body_line)
    base: dict[str, Any] = dict(answer=prep.body, details=details.dump(), feedback=feedback_for(theirs, prep.body_line))
    if any(m.severity == "error" for m in theirs):
        return Verdict(status=Status.ERROR, reason="Lean reported an error", **base)
    if reply.sorries:
        return Verdict(status=Status.INCOMPLETE, reason=f"{len(reply.sorries)} sorry goal(s) left", **base)
    if has_sorry_warning(theirs):
        return Verdict(
            status=Status.INCOMPLETE, reason="declaration uses sorry (warning without a sorries entry)", **base
        )
    if prep.type_lines is not None:
        a, b = prep.type_lines
        bad = [m for at, m in mine if m.severity == "error" and a <= at < b]
        if bad:
            return Verdict(
                status=Status.REJECTED,
                reason=f"statement check: the constant {prep.name} does not have "
                f"the trusted statement's type: {bad[0].data[:300]}",
                **base,
            )
    axioms: list[str] = []
    for line, name in prep.axiom_lines:
        here = [m for at, m in mine if at == line]
        got = parse_axioms_message(here[0].data) if len(here) == 1 and here[0].severity == "info" else None
        if got is None or got[0] != name:
            detail = "; ".join(f"{m.severity}: {m.data[:200]}" for m in here) or "no message"
            return Verdict(
                status=Status.REJECTED,
                reason=f"axiom check: `#print axioms _root_.{name}` must give one message naming {name}; got {detail}",
                **base,
            )
        extra = sorted(set(got[1]) - ALLOWED_AXIOMS)
        if extra:
            return Verdict(
                status=Status.REJECTED,
                reason=f"axiom check: {name} depends on non-standard axioms: {', '.join(extra)}",
                **{**base, "details": details.model_copy(update={"axioms": got[1]}).dump()},
            )
        axioms += [a for a in got[1] if a not in axioms]
    other = [m for _, m in mine if m.severity == "error"]
    if other:
        return Verdict(status=Status.REJECTED, reason=f"check failed: {other[0].data[:300]}", **base)
    return Verdict(
        status=Status.VALID, score=1.0, **{**base, "details": details.model_copy(update={"axioms": axioms}).dump()}
    )


def declared_name(statement: str) -> str | None:
    """The name a `theorem`/`lemma` statement declares; None for `example` (or an unparsable statement)."""
    try:
        return parse_statement(statement).name
    except StatementError:
        return None
