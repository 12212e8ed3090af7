"""MiniF2F over formalpi.lean: statements from a local jsonl, prompts, proof extraction, verification by a LeanPool.

The local file (`minif2f_lean4_v4.24.jsonl`, written by `formalpi data fetch minif2f`) has one row per problem:
`{name, split, header, formal_statement}`; the statement ends in `:= by\\n` and the text Lean checks is
`header + formal_statement + proof_body`. The header is the same for every row (so the pool keeps one warm env).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from formalpi.domain import DomainBase
from formalpi.errors import DataError
from formalpi.lean.pool import LeanConfig
from formalpi.paths import resolve_data_file
from formalpi.records import Problem, Status, Verdict

if TYPE_CHECKING:  # the pool is imported lazily: loading problems or extracting proofs needs no Lean client
    from formalpi.lean.pool import LeanPool

MINIF2F_FILE = "minif2f_lean4_v4.24.jsonl"
MINIF2F_REPO = "https://github.com/yangky11/miniF2F-lean4"
MINIF2F_COMMIT = "5746b7d6c47855ce1294bed87329618ff7f1bc31"  # matches Lean/Mathlib v4.24.0 (shared/lean/pins.json)
SPLIT_DIRS = {"test": "Test", "valid": "Valid"}  # MiniF2F/<Dir>/<name>.lean in the repository


class MiniF2FRow(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    split: str
    header: str
    formal_statement: str


# ---- loading --------------------------------------------------------------------------------------------------


def load_minif2f(path: Path) -> list[MiniF2FRow]:
    """Every row of a MiniF2F jsonl; DataError naming file, line and field on a malformed row."""
    rows: list[MiniF2FRow] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e}); run `formalpi data fetch minif2f`") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(MiniF2FRow.model_validate(json.loads(line)))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{i}: not JSON ({e.msg}); re-fetch with `formalpi data fetch minif2f`") from None
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(x) for x in err["loc"]) or "row"
            raise DataError(
                f"{path}:{i}: field {field!r}: {err['msg']} (each row needs name, split, header, "
                f"formal_statement; re-fetch with `formalpi data fetch minif2f`)"
            ) from None
    return rows


def lean_file_to_row(text: str, name: str, split: str) -> MiniF2FRow:
    """One MiniF2F `.lean` file (header, then `theorem … := by sorry`) as a row whose statement ends in `:= by\\n`."""
    m = re.search(r"^theorem\s", text, re.M)
    if m is None:
        raise DataError(f"MiniF2F file {name}.lean: no line starts with `theorem`")
    header, statement = text[: m.start()], text[m.start() :].rstrip()
    statement = re.sub(r"\s*sorry$", "", statement)
    if not statement.endswith(":= by"):
        raise DataError(f"MiniF2F file {name}.lean: the theorem does not end in `:= by sorry`")
    return MiniF2FRow(name=name, split=split, header=header, formal_statement=statement + "\n")


def convert_minif2f_checkout(checkout: Path) -> list[MiniF2FRow]:
    """Rows of a miniF2F-lean4 checkout: MiniF2F/Test/*.lean then MiniF2F/Valid/*.lean, each sorted by name."""
    rows = []
    for split, folder in SPLIT_DIRS.items():
        files = sorted((checkout / "MiniF2F" / folder).glob("*.lean"))
        if not files:
            raise DataError(
                f"{checkout / 'MiniF2F' / folder}: no .lean files (is this a miniF2F-lean4 checkout "
                f"at {MINIF2F_COMMIT[:7]}?)"
            )
        rows += [lean_file_to_row(f.read_text(encoding="utf-8"), f.stem, split) for f in files]
    return rows


def write_rows(rows: Sequence[MiniF2FRow], dest: Path) -> Path:
    dest.write_text("".join(json.dumps(r.model_dump(), ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return dest


def fetch_minif2f(dest: Path, repo: str = MINIF2F_REPO, commit: str = MINIF2F_COMMIT) -> Path:
    """Clone miniF2F-lean4 at the pinned commit with git, convert its .lean files to `dest/minif2f_lean4_v4.24.jsonl`."""
    with tempfile.TemporaryDirectory() as tmp:
        checkout = Path(tmp) / "miniF2F-lean4"
        for argv in (
            ["git", "clone", "--quiet", "--filter=blob:none", "--no-checkout", repo, str(checkout)],
            ["git", "-C", str(checkout), "checkout", "--quiet", commit],
        ):
            try:
                out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            except FileNotFoundError:
                raise DataError("`git` is not on PATH; install git to fetch MiniF2F") from None
            if out.returncode != 0:
                raise DataError(f"`{' '.join(argv)}` failed: {out.stderr.strip()[-500:]}")
        return write_rows(convert_minif2f_checkout(checkout), Path(dest) / MINIF2F_FILE)


# ---- extraction -----------------------------------------------------------------------------------------------

_FENCE_LINE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[ \t]*$", re.M)
_PROSE_LINE = re.compile(r"^(?:#{1,6}\s|\*\*|[A-Z][a-z']*,?\s+(?:\S+\s+){2,}\S)")


def _fenced_segments(text: str) -> list[str] | None:
    """The insides of ``` blocks (None when there is no fence). A completion that starts inside the block the
    prompt opened (the prompt ends with "```lean4\\n<statement>") has a bare closing fence first."""
    fences = list(_FENCE_LINE.finditer(text))
    if not fences:
        return None
    pieces, last = [], 0
    for f in fences:
        pieces.append(text[last : f.start()])
        last = f.end()
    pieces.append(text[last:])
    continuation = not fences[0].group(1) and pieces[0].strip() != ""
    inside = pieces[0::2] if continuation else pieces[1::2]
    return [p for p in inside if p.strip()]


def _cut_trailing_prose(text: str) -> str:
    """Drop everything from the first unindented prose line (or markdown heading) that follows proof text."""
    out: list[str] = []
    for line in text.splitlines():
        if out and any(o.strip() for o in out) and _PROSE_LINE.match(line):
            break
        out.append(line)
    return "\n".join(out)


def extract_code(completion: str) -> str:
    """The Lean text of a completion: the last ```lean block (or the bare text), trailing prose cut. It may hold
    helper lemmas and a restated theorem: the verifier's whitelist decides what of it is checked."""
    segments = _fenced_segments(completion)
    text = segments[-1] if segments else ("" if segments is not None else completion)
    text = re.sub(r"\A(?:[ \t]*\n)+", "", text)  # blank lines after an opening fence
    return _cut_trailing_prose(text)


def extract_proof(completion: str) -> str | None:
    """The proof body to append to the trusted statement: `extract_code` with a restated theorem stripped
    (`formalpi.lean.verdict.proof_body`). None when nothing is left."""
    from formalpi.lean.verdict import proof_body

    body = proof_body(extract_code(completion)).rstrip()
    return body if body.strip() else None


_LINE_COMMENT = re.compile(r"--[^\n]*")
_BLOCK_COMMENT = re.compile(r"/-.*?-/", re.S)


def proof_signature(body: str) -> str:
    """Canonical text of a proof for exact-match clustering: comments dropped, whitespace collapsed."""
    text = _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", body))
    return " ".join(text.split())


# ---- the domain -----------------------------------------------------------------------------------------------


def minif2f_problems(path: Path, split: str, limit: int | None = None) -> list[Problem]:
    rows = load_minif2f(path)
    splits = sorted({r.split for r in rows})
    if split not in splits:
        raise DataError(f"{path}: no rows with split {split!r} (the file has: {', '.join(splits) or 'none'})")
    chosen = [r for r in rows if r.split == split][:limit]
    return [
        Problem(
            id=r.name,
            domain="lean",
            text=r.formal_statement,
            split=r.split,
            meta={"header": r.header, "formal_statement": r.formal_statement},
        )
        for r in chosen
    ]


class LeanDomain(DomainBase):
    """Domain protocol over MiniF2F. The pool is created on first verification and reused; `close()` ends it.
    Its `[verify]` table is the Lean library's own `LeanConfig` (formalpi/lean/pool.py)."""

    name = "lean"
    Settings = LeanConfig

    @classmethod
    def conditions(cls) -> tuple:
        """The Lean PI conditions (formalpi/domains/lean/conditions.py), for `get_condition(name, "lean")`."""
        from formalpi.domains.lean import conditions as lean_pi

        return tuple(
            fn.condition
            for fn in (lean_pi.skeleton, lean_pi.retry, lean_pi.skeleton_retry, lean_pi.typechecker, lean_pi.diagnosis)
        )

    def __init__(self, config: LeanConfig | None = None, pool: LeanPool | None = None, owns_pool: bool | None = None):
        """`pool`: any object with `verify_many` (a LeanPool, a RayLeanPool); `owns_pool`: whether `close()` ends it
        (default: only a pool this domain creates itself)."""
        self._config = config
        self._pool = pool
        self._owns_pool = pool is None if owns_pool is None else owns_pool

    def problems(
        self,
        dataset: str = "minif2f",
        split: str = "test",
        path: str | None = None,
        limit: int | None = None,
        seed: int = 0,
    ) -> list[Problem]:
        if dataset != "minif2f":
            raise DataError(f"data.dataset: the lean domain reads 'minif2f', not {dataset!r}")
        return minif2f_problems(resolve_data_file("minif2f", path, (MINIF2F_FILE,)), split, limit)

    def prompt(self, problem: Problem) -> str:
        """DeepSeek-Prover style: the model continues the open code block after `:= by`."""
        return (
            "Complete the following Lean 4 code:\n\n```lean4\n"
            + problem.meta.get("header", "")
            + problem.meta.get("formal_statement", problem.text)
        )

    def extract(self, completion: str) -> str | None:
        return extract_proof(completion)

    def proof_corpus(self, path: str) -> dict[str, list[str]]:
        from formalpi.domains.lean.conditions import load_proof_corpus

        return load_proof_corpus(path)

    def verifier_settings(self) -> dict:
        """For the run's manifest: whether VALID verdicts were replayed (LeanConfig.replay, default true)."""
        cfg = getattr(self._pool, "config", None) or self._config
        return {"replay": getattr(cfg, "replay", True) is not False}

    def pool(self) -> LeanPool:
        if self._pool is None:
            from formalpi.lean.pool import LeanPool

            self._pool = LeanPool(self._config or LeanConfig())
            self._pool.__enter__()
        return self._pool

    def verify_many(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[Verdict]:
        if len(problems) != len(completions):
            raise ValueError(f"verify_many: {len(problems)} problems but {len(completions)} completions")
        bodies = [self.extract(c) for c in completions]
        todo = [i for i, b in enumerate(bodies) if b is not None]
        # the whole extracted text goes to the verifier, so that helper lemmas before a restated theorem are kept
        items = [
            {
                "statement": problems[i].meta.get("formal_statement", problems[i].text),
                "proof": extract_code(completions[i]),
                "header": problems[i].meta.get("header", ""),
            }
            for i in todo
        ]
        checked = dict(zip(todo, self.pool().verify_many(items) if items else []))
        out = []
        for i, body in enumerate(bodies):
            if body is None:
                out.append(Verdict(status=Status.NO_ANSWER, reason="no proof found in the completion"))
                continue
            v = checked[i].model_copy()
            v.answer, v.score = body, 1.0 if v.passed else 0.0
            out.append(v)
        return out

    def signature(self, completion: str) -> str:
        return proof_signature(self.extract(completion) or "")

    def close(self) -> None:
        if self._pool is not None and self._owns_pool:
            self._pool.__exit__(None, None, None)
        self._pool = None if self._owns_pool else self._pool
