"""Strict acceptance of a Lean proof: from (trusted statement, model proof, REPL replies) to a `Verdict`.

A proof is VALID only if all hold:
  * no forbidden construct in the model's text (checked before Lean sees it; comments and strings ignored,
    whole tokens only, so `h_axiom_free` is not `axiom`)                                   -> else REJECTED
  * it is appended to the TRUSTED statement (a theorem the model restated is stripped: `proof_body`)
  * no `error` message                                                                      -> else ERROR
  * empty `sorries` and no "declaration uses 'sorry'" warning (either quote style)          -> else INCOMPLETE
  * `#print axioms <name>` lists only propext, Classical.choice, Quot.sound                -> else REJECTED
Pure functions over text and wire records; the pool (`pool.py`) does the I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from formalpi.lean.text import mask_comments_and_strings  # noqa: F401 (re-exported)
from formalpi.lean.protocol import CommandReply, Message, ReplError
from formalpi.records import Status, Verdict

ALLOWED_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})

# Whole tokens that are refused anywhere in the model's text. Why each: they add axioms, run or replace
# compiled/meta code, change the parser or instance resolution, or skip the proof.
FORBIDDEN_TOKENS: dict[str, str] = {
    "axiom": "`axiom` declares an unproved assumption",
    "axioms": "`axioms` declares unproved assumptions",
    "implemented_by": "`implemented_by` swaps in unchecked code",
    "extern": "`extern` binds unchecked native code",
    "unsafe": "`unsafe` escapes the kernel's checks",
    "partial": "`partial` definitions are opaque to the kernel",
    "elab": "a new `elab` changes elaboration",
    "elab_rules": "new `elab_rules` change elaboration",
    "macro": "a new `macro` changes the syntax",
    "macro_rules": "new `macro_rules` change the syntax",
    "syntax": "a new `syntax` changes the parser",
    "declare_syntax_cat": "a new syntax category changes the parser",
    "notation": "a new `notation` changes the parser",
    "infix": "a new `infix` notation changes the parser",
    "infixl": "a new `infixl` notation changes the parser",
    "infixr": "a new `infixr` notation changes the parser",
    "prefix": "a new `prefix` notation changes the parser",
    "postfix": "a new `postfix` notation changes the parser",
    "instance": "a new `instance` changes instance resolution",
    "simproc": "a new `simproc` runs meta code",
    "dsimproc": "a new `dsimproc` runs meta code",
    "run_cmd": "`run_cmd` runs meta code",
    "run_tac": "`run_tac` runs meta code",
    "run_elab": "`run_elab` runs meta code",
    "modifyEnv": "`modifyEnv` edits the environment directly",
    "apply?": "`apply?` is a search, not a proof",
    "exact?": "`exact?` is a search, not a proof",
    "sorry": "`sorry` leaves the proof unfinished",
    "admit": "`admit` leaves the proof unfinished",
    "sorryAx": "`sorryAx` leaves the proof unfinished",
    "native_decide": "`native_decide` trusts the compiler (axiom Lean.ofReduceBool)",
    "ofReduceBool": "`ofReduceBool` trusts the compiler",
    "#eval": "`#eval` runs code",
    "#exit": "`#exit` stops checking the file",
}
# Only refused before the trusted statement (helper lemmas), where they could change how it elaborates:
# `variable (h : False)` + `include h` would silently add a hypothesis to the trusted theorem.
FORBIDDEN_IN_PREAMBLE: dict[str, str] = {
    "variable": "`variable` before the theorem can add hypotheses to it",
    "include": "`include` before the theorem can add hypotheses to it",
    "namespace": "`namespace` before the theorem changes its name and name resolution",
    "section": "`section` before the theorem can change how it elaborates",
    "universe": "`universe` before the theorem can change how it elaborates",
    "import": "`import` is not allowed in a proof (the header is fixed)",
}

_SORRY_WARNING = re.compile(r"declaration uses ['`]sorry['`]")
_AXIOMS_LIST = re.compile(r"depends on axioms:\s*\[(.*?)\]", re.S)
_NO_AXIOMS = re.compile(r"does not depend on any axioms")
# Lean identifiers: letters (incl. Greek/unicode), digits, _, ', !, ?, subscripts, dotted namespaces; `#cmd`.
_TOKEN = re.compile(r"#[A-Za-z_]+|«[^»]*»|[^\W\d](?:[\w'!?ₐ-ₜ₀-₉ᵢ-ᵪ]|\.(?=[^\W\d]))*", re.U)
_DECL_START = re.compile(
    r"(?m)^[ \t]*(?:@\[[^\]\n]*\][ \t\n]*)?(?:(?:private|protected|noncomputable|nonrec)[ \t]+)*"
    r"(theorem|lemma|example)\b")


@dataclass(frozen=True)
class Forbidden:
    construct: str
    line: int  # 1-based, in the text that was checked
    why: str

    def reason(self) -> str:
        return f"forbidden construct `{self.construct}` at line {self.line} of the proof: {self.why}"


def find_forbidden(text: str, *, preamble: bool = False) -> Forbidden | None:
    """The first forbidden construct in `text` (comments and strings ignored, whole tokens only), or None."""
    masked = mask_comments_and_strings(text)
    tokens = [(m.group(0), m.start()) for m in _TOKEN.finditer(masked)]
    for k, (tok, pos) in enumerate(tokens):
        line = masked.count("\n", 0, pos) + 1
        why = FORBIDDEN_TOKENS.get(tok) or (FORBIDDEN_IN_PREAMBLE.get(tok) if preamble else None)
        if why:
            return Forbidden(tok, line, why)
        nxt = tokens[k + 1][0] if k + 1 < len(tokens) else ""
        if tok == "set_option" and nxt.startswith("debug."):
            return Forbidden(f"set_option {nxt}", line, "`set_option debug.*` can switch off kernel checks")
        if tok == "set_option" and preamble and nxt in ("autoImplicit", "relaxedAutoImplicit"):
            return Forbidden(f"set_option {nxt}", line, "changes how the trusted statement elaborates")
        if tok == "open" and nxt == "private":
            return Forbidden("open private", line, "`open private` reaches private declarations")
    return None


def _decl_assign(masked: str, start: int) -> int | None:
    """Index just after the top-level `:=` of the declaration starting at `start` in masked text."""
    depth = 0
    for i in range(start, len(masked) - 1):
        c = masked[i]
        if c in "([{⟨⦃":
            depth += 1
        elif c in ")]}⟩⦄":
            depth -= 1
        elif c == ":" and masked[i + 1] == "=" and depth <= 0:
            return i + 2
    return None


def split_proof(text: str) -> tuple[str, str]:
    """(preamble, body): if the model restated a theorem, body is what follows its `:=` and the preamble is
    what came before it (helper lemmas; `import` lines dropped). Otherwise ("", text)."""
    masked = mask_comments_and_strings(text)
    decls = list(_DECL_START.finditer(masked))
    if not decls:
        return "", text
    last = decls[-1]  # helpers come first: Lean needs them declared before the main theorem
    after = _decl_assign(masked, last.end())
    if after is None:
        return "", text
    preamble = "\n".join(ln for ln in text[: last.start()].splitlines() if not ln.lstrip().startswith("import "))
    return preamble.strip("\n"), text[after:].lstrip(" \t")


def proof_body(text: str) -> str:
    """The proof with any restated theorem stripped: what follows its `:=` (e.g. "by\\n  simp"); else the text."""
    return split_proof(text)[1]


def declared_name(statement: str) -> str | None:
    """The name a `theorem`/`lemma` statement declares; None for `example`."""
    m = re.search(r"\b(?:theorem|lemma)\s+([^\s:({\[⦃]+)", mask_comments_and_strings(statement))
    return m.group(1) if m else None


@dataclass(frozen=True)
class PreparedProof:
    """What is sent to Lean for one (statement, proof): the full command, the name whose axioms are printed,
    and the line of the command where the model's body starts (for proof-relative feedback)."""

    cmd: str
    name: str
    body: str
    body_line: int  # 1-based line of `cmd` on which the body starts


def _trusted_head(statement: str) -> tuple[str, bool]:
    """The statement without its trailing `:= by sorry` / `:= by` / `:=`; and whether it ended in `by`."""
    head = statement.rstrip()
    head = re.sub(r"\bsorry\s*$", "", head).rstrip()
    tactic = bool(re.search(r"\bby\s*$", head))
    head = re.sub(r"\bby\s*$", "", head).rstrip()
    head = re.sub(r":=\s*$", "", head).rstrip()
    return head, tactic


def prepare(statement: str, proof: str) -> PreparedProof | Verdict:
    """Build the command for the trusted statement + the model's proof; a REJECTED / NO_ANSWER verdict if the
    proof must not reach Lean."""
    if not proof or not proof.strip():
        return Verdict(status=Status.NO_ANSWER, reason="empty proof", answer=proof)
    preamble, body = split_proof(proof)
    for text, is_pre in ((preamble, True), (body, False)):
        bad = find_forbidden(text, preamble=is_pre)
        if bad:
            where = "helper text before the theorem" if is_pre else "proof"
            return Verdict(status=Status.REJECTED, reason=bad.reason().replace("the proof", f"the {where}"),
                           answer=proof)
    head, tactic = _trusted_head(statement)
    name = declared_name(head)
    if name is None:  # anonymous `example`: give it a fresh name so `#print axioms` can see it
        name = "formalpi_example_" + hashlib.sha256(head.encode()).hexdigest()[:10]
        head = re.sub(r"\bexample\b", f"theorem {name}", head, count=1)
    prefix = preamble + "\n\n" if preamble.strip() else ""
    if re.match(r"by\b", body.lstrip()) or not tactic:
        glue = " := "
        body_text = body.strip()
    else:  # tactics without `by`: open the block ourselves; indent if the model did not
        glue = " := by\n"
        lines = body.strip("\n").splitlines()
        if lines and lines[0] == lines[0].lstrip():
            lines = ["  " + ln if ln.strip() else ln for ln in lines]
        body_text = "\n".join(lines)
    before_body = prefix + head + glue
    return PreparedProof(cmd=before_body + body_text, name=name, body=body_text,
                         body_line=before_body.count("\n") + 1)


def axioms_command(name: str) -> str:
    # Sent inside JSON (`{"cmd": "#print axioms X", "env": k}`): the REPL only ignores raw stdin input that
    # starts with `#`; a JSON request starts with `{` (the transcripts' `{"cmd": "#print List.cons"}` is answered).
    return f"#print axioms {name}"


def parse_axioms(reply: CommandReply) -> list[str] | None:
    """The axioms named by a `#print axioms` reply; None if the reply does not say (error, unknown name)."""
    if reply.errors:
        return None
    for m in reply.messages:
        if _NO_AXIOMS.search(m.data):
            return []
        found = _AXIOMS_LIST.search(m.data)
        if found:
            return [a.strip() for a in re.split(r"[,\s]+", found.group(1)) if a.strip()]
    return None


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


def judge(prep: PreparedProof, reply: CommandReply | ReplError, axioms_reply: CommandReply | ReplError | None
          ) -> Verdict:
    """The verdict for a proof from the REPL's reply to it and (when it got that far) to `#print axioms`."""
    if isinstance(reply, ReplError):
        return Verdict(status=Status.CRASH, reason=f"REPL refused the request: {reply.message}", answer=prep.body)
    base = dict(answer=prep.body, messages=reply.messages, sorries=reply.sorries, body_line=prep.body_line,
                feedback=feedback_for(reply.messages, prep.body_line))
    if reply.errors:
        return Verdict(status=Status.ERROR, reason="Lean reported an error", **base)
    if reply.sorries:
        return Verdict(status=Status.INCOMPLETE, reason=f"{len(reply.sorries)} sorry goal(s) left", **base)
    if has_sorry_warning(reply.messages):
        return Verdict(status=Status.INCOMPLETE, reason="declaration uses sorry (warning without a sorries entry)",
                       **base)
    if axioms_reply is None:
        return Verdict(status=Status.REJECTED, reason="axiom check not run", **base)
    axioms = parse_axioms(axioms_reply) if isinstance(axioms_reply, CommandReply) else None
    if axioms is None:
        detail = axioms_reply.message if isinstance(axioms_reply, ReplError) else \
            "; ".join(m.data for m in axioms_reply.messages) or "no message"
        return Verdict(status=Status.REJECTED, reason=f"axiom check failed for {prep.name}: {detail}", **base)
    extra = sorted(set(axioms) - ALLOWED_AXIOMS)
    if extra:
        return Verdict(status=Status.REJECTED, axioms=axioms,
                       reason=f"{prep.name} depends on non-standard axioms: {', '.join(extra)}", **base)
    return Verdict(status=Status.VALID, score=1.0, axioms=axioms, **base)
