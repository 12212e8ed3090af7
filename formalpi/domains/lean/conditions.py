"""Lean PI generators: skeleton, type-checker feedback, failure diagnosis, bare retry, skeleton+retry.

Each is a condition in the engine's registry: `(ctx: PIContext) -> str | None`, the text the model sees as its next
user turn after a failed proof. The docstring's first paragraph is the condition's description.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from formalpi.pi_condition import PIContext, after_thinking, define
from formalpi.errors import ConfigError, DataError
from formalpi.lean.details import lean_details
from formalpi.lean.protocol import Message
from formalpi.lean.skeleton import HaveKind, SkeletonParseError, skeleton_of

LEAN_FAILED = "Your proof is incorrect."
TRY_AGAIN = "Try again."
MAX_MESSAGE_CHARS = 400  # an error message longer than this is cut (long elaboration dumps)


# ---- reference proofs -------------------------------------------------------------------------------------


def read_proof_rows(path: str | Path) -> list[dict[str, str]]:
    """The rows of a proof file, JSON lines of {"name": problem id, "proof": proof text}, in file order; DataError
    naming file, line and field. Used by the skeleton corpus and by `formalpi lean check`."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f'proof corpus {p}: no such file (a JSONL file of {{"name", "proof"}} lines)')
    rows: list[dict[str, str]] = []
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f'proof corpus {p}:{i}: not JSON ({e.msg}); each line must be {{"name": ..., "proof": ...}}'
            ) from None
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not isinstance(row.get("proof"), str):
            raise DataError(f'proof corpus {p}:{i}: needs string fields "name" and "proof"')
        rows.append(row)
    return rows


def load_proof_corpus(path: str | Path) -> dict[str, list[str]]:
    """A proof corpus file → problem id → its proofs (see read_proof_rows)."""
    out: dict[str, list[str]] = {}
    for row in read_proof_rows(path):
        out.setdefault(row["name"], []).append(row["proof"])
    return out


def _with_statement(ctx: PIContext, proof: str) -> str:
    """A reference proof as a full theorem: bodies without a declaration get the problem's statement."""
    if re.search(r"^\s*(theorem|lemma|example)\b", proof, re.M):
        return proof
    return ctx.problem.meta.get("formal_statement", "") + proof


def skeleton_lines(ctx: PIContext) -> list[str] | None:
    """The top-level haves of the first reference proof of the problem that parses and has any, as
    `have … := by sorry` lines; None when there is none."""
    refs = (ctx.extras.get("reference_proofs") or {}).get(ctx.problem.id) or []
    for proof in refs:
        try:
            sk = skeleton_of(_with_statement(ctx, proof))
        except SkeletonParseError:
            continue  # a reference the parser cannot read gives no skeleton rather than a wrong one
        lines = [
            f"{h.header} by sorry" if h.kind is HaveKind.SUFFICES else f"{h.header} := by sorry"
            for h in sk.haves
            if h.depth == 1 and not h.in_closing and h.statement is not None
        ]
        if lines:
            return lines
    return None


def _skeleton_text(lines: list[str]) -> str:
    body = "\n".join(lines)
    return (
        "Here is the structure of a correct proof: the intermediate facts it proves, in order, "
        f"with their proofs left out.\n```lean4\n{body}\n```\nWrite a complete proof."
    )


@define("skeleton", domains={"lean"}, needs={"reference_proofs"})
def skeleton(ctx: PIContext) -> str | None:
    """The have-skeleton of a verified reference proof (`have … := by sorry` lines), without the failure bit.

    Reference proofs come from `ctx.extras["reference_proofs"]` (problem id → verified proofs: a corpus file read by
    `load_proof_corpus`, or the verified samples of the current round). None when the problem has none."""
    lines = skeleton_lines(ctx)
    return None if lines is None else _skeleton_text(lines)


@define("retry", domains={"lean"})
def retry(ctx: PIContext) -> str:
    """Only the failure bit, in Lean wording: "Your proof is incorrect. Try again." """
    return f"{LEAN_FAILED} {TRY_AGAIN}"


@define("skeleton+retry", domains={"lean"}, needs={"reference_proofs"})
def skeleton_retry(ctx: PIContext) -> str | None:
    """The failure bit and the have-skeleton of a reference proof together (the seed's antagonistic pair)."""
    lines = skeleton_lines(ctx)
    return None if lines is None else f"{LEAN_FAILED}\n{_skeleton_text(lines)} {TRY_AGAIN}"


# ---- type-checker feedback --------------------------------------------------------------------------------


def proof_line_offset(ctx: PIContext) -> int:
    """Lines of the checked command before the proof body. `formalpi.lean.verdict.prepare` sends the header once
    (env 0) and then `statement := by` + body as the command, so REPL lines count from the statement: the
    offset is the statement's line count. `ctx.extras["checked_prefix_lines"]` overrides it (e.g. when a
    verifier includes the header in the command); else the verdict's `body_line` when the pool recorded it."""
    if "checked_prefix_lines" in ctx.extras:
        return int(ctx.extras["checked_prefix_lines"])
    body_line = lean_details(ctx.verdict).body_line
    if body_line is not None:  # the verifier says where the body started (helper lemmas included)
        return body_line - 1
    return ctx.problem.meta.get("formal_statement", "").rstrip(" ").count("\n")


def _split_message(data: str) -> tuple[str, str | None]:
    """A message and the goal state it carries ("unsolved goals\\nx : ℕ\\n⊢ …"), if any."""
    lines = data.strip().split("\n")
    for i, ln in enumerate(lines):
        if "⊢" in ln:  # the goal block starts after the message's own lines: find its first hypothesis line
            start = next((k for k in range(1, i + 1) if " : " in lines[k] or lines[k].startswith(("case ", "⊢"))), i)
            msg = "\n".join(lines[:start]).strip()
            return msg, "\n".join(lines[start:]).strip()
    return data.strip(), None


def _trim(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def _where(msg: Message, offset: int) -> str:
    if msg.pos is None:
        return "in your proof"
    line = msg.pos.line - offset
    return f"at line {line} of your proof" if line >= 1 else "at the start of your proof"


@define("typechecker", domains={"lean"})
def typechecker(ctx: PIContext) -> str:
    """The failure bit, Lean's first error (line counted within the proof, message trimmed) and the goal state at
    that error or at the first `sorry`."""
    v, offset = ctx.verdict, proof_line_offset(ctx)
    d = lean_details(v)
    errors = [m for m in d.messages if m.severity == "error"]
    parts = [LEAN_FAILED]
    goal = None
    if errors:
        first = errors[0]
        msg, goal = _split_message(first.data)
        parts.append(f"Lean reports an error {_where(first, offset)}:\n{_trim(msg)}")
    elif d.sorries:
        s = d.sorries[0]
        where = _where(Message(severity="warning", pos=s.pos, data=""), offset)
        parts.append(f"Your proof leaves a `sorry` {where}.")
        goal = s.goal
    else:
        parts.append(f"Lean could not accept it: {v.reason or v.status.value}.")
    if goal is None and d.sorries:
        goal = d.sorries[0].goal
    if goal:
        parts.append(f"The goal state there:\n{_trim(goal, 2 * MAX_MESSAGE_CHARS)}")
    parts.append(TRY_AGAIN)
    return "\n".join(parts)


# ---- diagnosis by a generator -----------------------------------------------------------------------------

DIAGNOSIS_MAX_NEW_TOKENS = 2048  # room for a thinking model's thought before its answer


def diagnosis_prompt(ctx: PIContext) -> list[tuple[str, str]]:
    """The chat turns asking a model to diagnose the failed proof from Lean's messages."""
    errors = [m for m in lean_details(ctx.verdict).messages if m.severity == "error"][:3]
    offset = proof_line_offset(ctx)
    listed = (
        "\n".join(f"- {_where(m, offset)}: {_trim(' '.join(m.data.split()), 200)}" for m in errors)
        or f"- {ctx.verdict.reason or ctx.verdict.status.value}"
    )
    statement = ctx.problem.meta.get("formal_statement", ctx.problem.text).strip()
    return [
        (
            "user",
            "A Lean 4 proof attempt failed. Diagnose in a few sentences what is wrong and what to change. "
            "Do not write a proof.\n\n"
            f"Theorem:\n```lean4\n{statement}\n```\n"
            f"Attempt:\n```lean4\n{(ctx.verdict.answer or ctx.attempt.completion).strip()}\n```\n"
            f"Lean's errors:\n{listed}",
        )
    ]


def clean_diagnosis(text: str, max_tokens: int) -> str:
    """A thinking model's answer (the text after `</think>`; the thought itself when it never closed: the budget
    ran out mid-thought, and the thought is the model's diagnosis so far), without code blocks (a diagnosis must
    not smuggle in a proof), whitespace collapsed, cut to `max_tokens` whitespace tokens."""
    answer = after_thinking(text)
    if not answer.strip() and "<think>" in text and "</think>" not in text:
        answer = text.split("<think>", 1)[1]
    text = re.sub(r"```.*?(```|$)", " ", answer, flags=re.S)
    words = text.split()
    return " ".join(words[:max_tokens])


@define("diagnosis", domains={"lean"}, needs={"diagnosis_writer"})
def diagnosis(ctx: PIContext) -> str | None:
    """The failure bit and a short diagnosis of the failed proof written by a model from Lean's errors.

    The model is `ctx.extras["diagnosis_writer"]` (a `formalpi.pi_condition.TextWriter`, which the engine builds
    from the row's own Generator: `formalpi.engine.backends.greedy_writer`); its answer is cut to
    `ctx.extras.get("diagnosis_max_tokens", 128)` whitespace tokens; the writer may write
    `ctx.extras.get("diagnosis_max_new_tokens", 2048)` tokens (a thinking model thinks first, and only the text after
    its `</think>` is the diagnosis). None when the answer is empty."""
    write = ctx.extras.get("diagnosis_writer")
    if write is None:
        raise ConfigError(
            "condition 'diagnosis': ctx.extras['diagnosis_writer'] is not set (give the retry "
            "engine a model to write diagnoses: formalpi.engine.backends.greedy_writer(generator))"
        )
    budget = int(ctx.extras.get("diagnosis_max_tokens", 128))
    if budget < 1:
        raise ConfigError(f"condition 'diagnosis': diagnosis_max_tokens must be >= 1, got {budget}")
    room = int(ctx.extras.get("diagnosis_max_new_tokens", DIAGNOSIS_MAX_NEW_TOKENS))
    answer = clean_diagnosis(write(diagnosis_prompt(ctx), max(room, 4 * budget), ctx.rng.randrange(2**31)), budget)
    return f"{LEAN_FAILED} Diagnosis: {answer} {TRY_AGAIN}" if answer else None
