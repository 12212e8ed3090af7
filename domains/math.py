"""The math domain: MATH-500 (local jsonl) and procedural `arith`; boxed-answer extraction; verifiers.

Two verifiers share one definition of "equivalent":
  * binary  `is_equivalent(gold, predicted)`: math-verify's judgement (`math_verify.parse` + `math_verify.verify`),
    after an in-process fast path (identical normalised strings, or two integer literals compared as integers);
  * graded  `grade(gold, predicted)` in [0, 1], defined at `grade`.

math-verify protects itself with `signal.alarm`, which only works in a process's main thread and can leave the
caller hanging inside sympy. So every math-verify call runs in a `pebble.ProcessPool` worker with math-verify's own
alarms disabled and a hard per-task wall-clock limit enforced by pebble (it kills the worker and starts a new one):
a check that runs too long is the typed outcome `Status.TIMEOUT`, never a hang. The pool is created lazily, reused
across calls, and shut down by `close()`, by the context manager, or at interpreter exit.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import multiprocessing
import os
import re
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from domains.arith import LEVELS, arith_problems
from formalpi.errors import DataError
from formalpi.paths import resolve_data_file
from formalpi.records import Problem, Status, Verdict

MATH500_FILE = "math500.jsonl"
MATH500_HF_ID = "HuggingFaceH4/MATH-500"
MATH500_FIELDS = ("problem", "solution", "answer", "subject", "level", "unique_id")
MATH_TRAIN_FILE = "math_train.jsonl"  # MATH's 7,500 training problems, in the MATH-500 line format
MATH_TRAIN_HF_ID = "DigitalLearningGmbH/MATH-lighteval"  # hendrycks MATH (train 7,500 / test 5,000), one config
BOX_INSTRUCTION = "Put the final answer in \\boxed{}."
PARTIAL_CREDIT_CAP = 0.9  # a wrong answer never scores as much as a right one, however close

log = logging.getLogger(__name__)


class MathDataset(str, Enum):
    ARITH = "arith"  # procedural, domains/arith.py: the built-in tiny model's training format
    MATH500 = "math500"  # HuggingFaceH4/MATH-500, read from a local jsonl
    MATH = "math"  # MATH: split "train" = the 7,500 training problems, "test" = MATH-500 (disjoint from train)


# --------------------------------------------------------------------------------------------------------------
# Answer extraction
# --------------------------------------------------------------------------------------------------------------

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")


def _braced(text: str, start: int) -> str | None:
    """The content of the brace group opening at text[start] == '{', or None if it never closes.

    Escaped braces (`\\{`, `\\}`) are content, not structure: a backslash always consumes the next character.
    """
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
        i += 1
    return None


def extract_answer(text: str | None) -> str | None:
    """The content of the LAST `\\boxed{…}` / `\\fbox{…}` / `\\boxed X` in `text`, stripped.

    None when the text is empty, has no box, the last box is unbalanced, or its content is empty. The brace form
    matches nested braces; the space form (`\\boxed 5`) takes the token up to the next whitespace or `$`, without
    trailing sentence punctuation.
    """
    if not text:
        return None
    boxes = list(_BOX_RE.finditer(text))
    if not boxes:
        return None
    i = boxes[-1].end()
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        content = _braced(text, i)
    elif i > boxes[-1].end():  # `\boxed 5`: one token
        m = re.match(r"[^\s$]+", text[i:])
        content = m.group(0).rstrip(".,;") if m else None
    else:
        content = None
    if content is None:
        return None
    return content.strip() or None


# --------------------------------------------------------------------------------------------------------------
# Fast path (in-process): identical normalised strings, or two integer literals
# --------------------------------------------------------------------------------------------------------------

_DROP = re.compile(r"\\(?:left|right|displaystyle)(?![A-Za-z])|\\[!,;: ]|\$")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?")
_SPACE = re.compile(r"\s+")
_INT = re.compile(r"[+-]?\d+")
_INT_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+")


def _collapse_space(m: re.Match) -> str:
    # A space between two letters/digits can carry meaning (`\alpha b` vs `\alphab`, `\text{no solution}`).
    s, i, j = m.string, m.start(), m.end()
    return " " if 0 < i and j < len(s) and s[i - 1].isalnum() and s[j].isalnum() else ""


def normalise(answer: str) -> str:
    """A conservative canonical string: two answers with the same normal form are the same answer.

    Drops spacing commands, `\\left`/`\\right`/`\\displaystyle`, `$`, degree marks, a trailing period and
    whitespace (kept as one space between two letters/digits); `\\dfrac`/`\\tfrac` become `\\frac`; `{,}`
    becomes `,`. Anything semantic is left to math-verify.
    """
    s = _DROP.sub("", answer)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("{,}", ",")
    s = _DEGREES.sub("", s).strip()
    return _SPACE.sub(_collapse_space, s).rstrip(".")


def as_int(answer: str) -> int | None:
    """The integer an answer spells as a plain literal (`-12`, `1,000`, `1{,}000`), else None."""
    s = normalise(answer)
    if _INT.fullmatch(s):
        return int(s)
    if _INT_THOUSANDS.fullmatch(s):
        return int(s.replace(",", ""))
    return None


def partial_credit(gold: float, predicted: float) -> float:
    """Credit for a wrong numeric answer: max(0, 1 - |p - g| / max(|g|, 1)), capped at PARTIAL_CREDIT_CAP."""
    if not (math.isfinite(gold) and math.isfinite(predicted)):
        return 0.0
    return min(PARTIAL_CREDIT_CAP, max(0.0, 1.0 - abs(predicted - gold) / max(abs(gold), 1.0)))


@dataclass(frozen=True)
class Check:
    """One comparison of a predicted answer against a gold answer (both already extracted)."""

    equivalent: bool
    score: float  # see `grade`
    fast: bool = False  # decided in-process, without math-verify
    time_s: float = 0.0


def fast_check(gold: str, predicted: str) -> Check | None:
    """Decide without math-verify when that is exact; None when math-verify is needed."""
    g_norm = normalise(gold)
    if g_norm and g_norm == normalise(predicted):
        return Check(True, 1.0, fast=True)
    g, p = as_int(gold), as_int(predicted)
    if g is not None and p is not None:
        return Check(g == p, 1.0 if g == p else partial_credit(float(g), float(p)), fast=True)
    return None


# --------------------------------------------------------------------------------------------------------------
# The worker side (runs inside pebble worker processes)
# --------------------------------------------------------------------------------------------------------------

def _worker_init() -> None:
    # Alarms are disabled on purpose (pebble enforces the limit); silence math-verify's warning that says so.
    logging.getLogger("math_verify").setLevel(logging.ERROR)


def _parse(answer: str) -> list:
    from math_verify import parse
    # Wrapping in \boxed{} makes math-verify read the bare answer as LaTeX (its extractor needs a delimiter).
    return parse("\\boxed{" + answer + "}", parsing_timeout=None)


def _real_value(parsed: list) -> float | None:
    """The finite real value of the first parsed sympy expression, if it is a number."""
    from sympy import Basic, N
    for e in parsed:
        if isinstance(e, Basic):
            try:
                if not e.is_number:
                    return None
                z = complex(N(e))
            except (TypeError, ValueError, ArithmeticError, AttributeError):
                return None
            return z.real if z.imag == 0 and math.isfinite(z.real) else None
    return None


def check_in_worker(gold: str, predicted: str) -> Check:
    """The pool's task: math-verify equivalence and the graded score. Must run in a process main thread."""
    t0 = time.perf_counter()
    from math_verify import verify
    pg, pp = _parse(gold), _parse(predicted)
    equivalent = bool(pg and pp and verify(pg, pp, timeout_seconds=None))
    if equivalent:
        score = 1.0
    else:
        g, p = _real_value(pg), _real_value(pp)
        score = partial_credit(g, p) if g is not None and p is not None else 0.0
    return Check(equivalent, score, time_s=time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------------------------
# The verifier: one lazily created process pool, reused, closed cleanly
# --------------------------------------------------------------------------------------------------------------

class Outcome(str, Enum):
    CHECKED = "checked"
    TIMEOUT = "timeout"
    CRASH = "crash"


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    check: Check | None = None  # set when outcome is CHECKED
    detail: str = ""  # why not CHECKED, one line


_LIVE: weakref.WeakSet[MathVerifier] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for v in list(_LIVE):
        v.close()


class MathVerifier:
    """Checks (gold, predicted) answer pairs: fast path in-process, the rest in a pebble pool with a hard timeout.

    `task` is the pool's target (a module-level function `(gold, predicted) -> Check`); tests may swap it to
    simulate a slow checker. The pool forks from this process (pebble's default context), so workers start in
    milliseconds with math-verify already imported.
    """

    def __init__(self, timeout_s: float = 10.0, workers: int = 2, task=check_in_worker, fast_path: bool = True):
        if timeout_s <= 0 or workers <= 0:
            raise ValueError(f"MathVerifier: timeout_s and workers must be > 0 (got {timeout_s}, {workers})")
        self.timeout_s = timeout_s
        self.workers = workers
        self.task = task
        self.fast_path = fast_path  # False sends every pair to math-verify (for measuring it)
        self._pool = None
        _LIVE.add(self)

    def _ensure_pool(self):
        if self._pool is None or not self._pool.active:
            import math_verify  # noqa: F401  imported before forking so that workers inherit it
            from pebble import ProcessPool
            self._pool = ProcessPool(max_workers=self.workers, initializer=_worker_init,
                                     context=multiprocessing.get_context("fork"))
        return self._pool

    def check_many(self, pairs: Sequence[tuple[str, str]]) -> list[CheckResult]:
        """One result per (gold, predicted) pair, in order; pool tasks run in parallel."""
        results: list[CheckResult | None] = []
        pending: list[tuple[int, Any]] = []
        for i, (gold, pred) in enumerate(pairs):
            fast = fast_check(gold, pred) if self.fast_path else None
            results.append(CheckResult(Outcome.CHECKED, fast) if fast is not None else None)
            if fast is None:
                pending.append((i, self._ensure_pool().schedule(self.task, (gold, pred), timeout=self.timeout_s)))
        for i, fut in pending:
            results[i] = self._collect(fut)
        return results  # type: ignore[return-value]

    def _collect(self, fut) -> CheckResult:
        from pebble import ProcessExpired
        try:
            return CheckResult(Outcome.CHECKED, fut.result())
        except TimeoutError:
            return CheckResult(Outcome.TIMEOUT, detail=f"the check did not finish within {self.timeout_s:g}s")
        except ProcessExpired as e:
            return CheckResult(Outcome.CRASH, detail=f"the checker process died (exit code {e.exitcode})")
        except Exception as e:  # noqa: BLE001  a checker bug must not lose the rest of the batch
            return CheckResult(Outcome.CRASH, detail=f"the checker raised {type(e).__name__}: {e}"[:300])

    def close(self) -> None:
        """Stop the pool and reap its workers. Idempotent; the verifier can be used again afterwards."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
            pool.join(timeout=10)

    def __enter__(self) -> MathVerifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_default: MathVerifier | None = None


def default_verifier() -> MathVerifier:
    """The verifier behind the module-level `is_equivalent` and `grade` (10 s timeout, 2 workers)."""
    global _default
    if _default is None:
        _default = MathVerifier()
    return _default


def _check_one(gold: str, predicted: str | None) -> CheckResult | None:
    if predicted is None or not predicted.strip():
        return None
    return default_verifier().check_many([(gold, predicted)])[0]


def is_equivalent(gold: str, predicted: str | None) -> bool:
    """True iff `predicted` (an extracted answer, not a whole completion) is equivalent to `gold`.

    Fast path first, else math-verify in a worker; a timed-out or crashed check counts as not equivalent.
    """
    r = _check_one(gold, predicted)
    return bool(r and r.check and r.check.equivalent)


def grade(gold: str, predicted: str | None) -> float:
    """Graded score in [0, 1] of an extracted answer against `gold`:

      * 1.0 if `predicted` is equivalent to `gold` (the binary verifier's judgement);
      * else, if both evaluate to finite real numbers g and p:  min(0.9, max(0, 1 - |p - g| / max(|g|, 1)))
        (decays linearly with the error relative to |g|, absolute error when |g| < 1; never above 0.9);
      * else 0.0: no answer, a non-numeric mismatch (sets, intervals, text, expressions), a timeout or crash.
    """
    r = _check_one(gold, predicted)
    return r.check.score if r and r.check else 0.0


# --------------------------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------------------------

def _level(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = re.fullmatch(r"(?:Level\s*)?(\d+)", str(value).strip())
    if m is None:
        raise DataError(f"{where}: field 'level' must be an integer or 'Level N' (got {value!r})")
    return int(m.group(1))


def load_math500(path: Path, limit: int | None = None, split: str = "test",
                 dataset: str = "math500") -> list[Problem]:
    """MATH-500 problems (or MATH train problems in the same line format) from a jsonl file, in file order (the
    first `limit` if given)."""
    out: list[Problem] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e}); run `formalpi data fetch math500` to download it again") from e
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno}); each line must be one JSON "
                            f"object with fields {', '.join(MATH500_FIELDS)}") from e
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        missing = [f for f in MATH500_FIELDS if f not in row]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(missing)} (a MATH-500 line has "
                            f"{', '.join(MATH500_FIELDS)}; `formalpi data fetch math500` writes this format)")
        out.append(Problem(id=str(row["unique_id"]), domain="math", text=row["problem"], gold=str(row["answer"]),
                           level=_level(row["level"], where), split=split,
                           meta={"dataset": dataset, "subject": row["subject"],
                                 "solution": row["solution"]}))
        if limit is not None and len(out) >= limit:
            break
    return out


def fetch_math500(dest: Path) -> Path:
    """Download MATH-500 from the Hugging Face hub (`datasets`) and write `dest/math500.jsonl`."""
    try:
        from datasets import load_dataset
    except ImportError as e:
        raise DataError("fetching MATH-500 needs the `datasets` package: pip install datasets") from e
    try:
        rows = load_dataset(MATH500_HF_ID, split="test")
    except Exception as e:  # noqa: BLE001  network / hub errors come in many types; say what failed
        raise DataError(f"could not download {MATH500_HF_ID} ({type(e).__name__}: {e}); are you online? "
                        f"Alternatively put a local {MATH500_FILE} in {dest}") from e
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / MATH500_FILE
    tmp = out.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({k: row[k] for k in MATH500_FIELDS}, ensure_ascii=False) + "\n")
    os.replace(tmp, out)  # atomic: a half-written file never has the final name
    return out


def fetch_math(dest: Path) -> Path:
    """`formalpi data fetch math`: MATH's 7,500 training problems (`dest/math_train.jsonl`, the answer taken from
    each solution's last \\boxed{}) and MATH-500 as its test split (`dest/math500.jsonl`)."""
    try:
        from datasets import load_dataset
    except ImportError as e:
        raise DataError("fetching MATH needs the `datasets` package: pip install datasets") from e
    try:
        rows = load_dataset(MATH_TRAIN_HF_ID, split="train")
    except Exception as e:  # noqa: BLE001  network / hub errors come in many types; say what failed
        raise DataError(f"could not download {MATH_TRAIN_HF_ID} ({type(e).__name__}: {e}); are you online? "
                        f"Offline, put a local {MATH_TRAIN_FILE} (MATH-500's line format: "
                        f"{', '.join(MATH500_FIELDS)}) and {MATH500_FILE} in {dest}") from e
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / MATH_TRAIN_FILE
    tmp = out.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            answer = extract_answer(row["solution"])
            if answer is None:
                continue  # a training problem without a boxed answer cannot be verified
            f.write(json.dumps({"problem": row["problem"], "solution": row["solution"], "answer": answer,
                                "subject": row["type"], "level": row["level"],
                                "unique_id": f"train/{row['type']}/{i}"}, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    fetch_math500(dest)
    return out


def load_math(split: str, path: str | None, limit: int | None) -> list[Problem]:
    """MATH: "train" from math_train.jsonl, "test" = MATH-500, both in the data dir (or the directory data.path)."""
    if split not in ("train", "test"):
        raise DataError(f"math has splits 'train' (7,500) and 'test' (MATH-500), not {split!r}")
    name = MATH_TRAIN_FILE if split == "train" else MATH500_FILE
    if path is not None and Path(path).is_dir():
        file = Path(path) / name
        if not file.is_file():
            raise DataError(f"data.path: {file} does not exist; run `formalpi data fetch math --dest {path}`")
    else:
        file = resolve_data_file("math", path, (name,))
    return load_math500(file, limit, split=split, dataset=MathDataset.MATH.value)


def arith_subset(split: str, limit: int | None, seed: int = 0, default_per_level: int = 100) -> list[Problem]:
    """`limit` arith problems spread evenly over levels 1–5 (earlier levels take the remainder).

    arith generates each level from its own seeded stream, so the first k problems of a level do not depend on
    how many are drawn: a smaller limit is a prefix of a larger one, level by level.
    """
    if limit is None:
        return arith_problems(split, default_per_level, seed)
    per_level = {lv: limit // len(LEVELS) + (1 if i < limit % len(LEVELS) else 0) for i, lv in enumerate(LEVELS)}
    drawn = arith_problems(split, max(per_level.values()), seed)
    taken = {lv: 0 for lv in LEVELS}
    out = []
    for p in drawn:
        if taken[p.level] < per_level[p.level]:
            taken[p.level] += 1
            out.append(p)
    return out


# --------------------------------------------------------------------------------------------------------------
# The Domain
# --------------------------------------------------------------------------------------------------------------

def _is_arith(problem: Problem) -> bool:
    return problem.id.startswith("arith-")


def _one_line(s: str, n: int = 80) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[:n - 1] + "…"


class MathDomain:
    """domains/base.py's Domain for math: MATH-500 and arith problems, boxed answers, math-verify checks."""

    name = "math"

    def __init__(self, timeout_s: float = 10.0, workers: int = 2):
        self.verifier = MathVerifier(timeout_s=timeout_s, workers=workers)

    def problems(self, dataset: str, split: str, path: str | None = None, limit: int | None = None,
                 seed: int = 0) -> list[Problem]:
        try:
            ds = MathDataset(dataset)
        except ValueError:
            raise DataError(f"data.dataset: math has no dataset {dataset!r}; choose one of "
                            f"{', '.join(d.value for d in MathDataset)}") from None
        if limit is not None and limit <= 0:
            raise DataError(f"limit must be > 0 (got {limit})")
        if ds is MathDataset.ARITH:
            return arith_subset(split, limit, seed)
        if ds is MathDataset.MATH:
            return load_math(split, path, limit)
        if split != "test":
            raise DataError(f"math500 has only a 'test' split (got {split!r}); set data.train_split / "
                            f"data.eval_split to 'test'")
        return load_math500(resolve_data_file("math500", path, (MATH500_FILE,)), limit)

    def prompt(self, problem: Problem) -> str:
        # arith: exactly the text the tiny model was trained on; anything more would be off-distribution.
        if _is_arith(problem):
            return problem.text
        return f"{problem.text}\n\n{BOX_INSTRUCTION}"

    def extract(self, completion: str) -> str | None:
        return extract_answer(completion)

    def verify_many(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[Verdict]:
        if len(problems) != len(completions):
            raise ValueError(f"verify_many: {len(problems)} problems but {len(completions)} completions")
        for p in problems:
            if p.gold is None:
                raise DataError(f"problem {p.id}: no gold answer, so it cannot be verified")
        answers = [extract_answer(c) for c in completions]
        todo = [i for i, a in enumerate(answers) if a is not None]
        results = dict(zip(todo, self.verifier.check_many([(problems[i].gold, answers[i]) for i in todo])))
        return [self._verdict(completions[i], answers[i], results.get(i)) for i in range(len(completions))]

    def verify(self, problem: Problem, completion: str) -> Verdict:
        return self.verify_many([problem], [completion])[0]

    def _verdict(self, completion: str, answer: str | None, r: CheckResult | None) -> Verdict:
        if answer is None:
            why = "empty completion" if not completion.strip() else "no \\boxed{} answer in the completion"
            return Verdict(status=Status.NO_ANSWER, reason=why,
                           feedback="Your response has no final answer in \\boxed{}.")
        shown = _one_line(answer)
        if r.outcome is Outcome.TIMEOUT:
            return Verdict(status=Status.TIMEOUT, answer=answer, reason=r.detail, time_s=self.verifier.timeout_s,
                           feedback=f"Your answer {shown} could not be checked.")
        if r.outcome is Outcome.CRASH:
            return Verdict(status=Status.CRASH, answer=answer, reason=r.detail,
                           feedback=f"Your answer {shown} could not be checked.")
        c = r.check
        if c.equivalent:
            return Verdict(status=Status.VALID, score=1.0, answer=answer, time_s=c.time_s,
                           reason="equivalent to the gold answer" + (" (exact match)" if c.fast else ""))
        return Verdict(status=Status.WRONG, score=c.score, answer=answer, time_s=c.time_s,
                       reason=f"answer {shown} is not equivalent to the gold answer",
                       feedback=f"Your answer {shown} is incorrect.")

    def failure_info(self, verdict: Verdict) -> str:
        """What a PI generator may show about a failure (never the gold answer)."""
        return verdict.feedback

    def signature(self, completion: str) -> str:
        return " ".join(completion.split())

    def close(self) -> None:
        self.verifier.close()

    def __enter__(self) -> MathDomain:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
