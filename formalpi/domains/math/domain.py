"""The math domain: MATH-500 (local jsonl) and procedural `arith`; strict boxed-answer checks; verifiers.

A check has two stages, both inside a pool worker:
  1. the strict reader (extraction.py, then comparison.py): what the completion visibly boxed (comments, `\\iffalse`,
     verbatim ignored; macro tricks and hidden boxes refused), and whether each boxed answer is one object of the
     gold's kind (hedges refused; numbers and text decided exactly here, big integers included);
  2. math-verify's judgement (`math_verify.parse` + `math_verify.verify`) for what the reader does not decide.

Binary `is_equivalent(gold, predicted)` is VALID; graded `grade(gold, predicted)` in [0, 1] is defined at `grade`;
a refused (REJECTED) answer scores 0 in both, so a hedge cannot collect partial credit either.

Every check, the strict reader included, runs in a `pebble.ProcessPool` worker under a hard per-task wall-clock
limit enforced by pebble (it kills the worker and starts a new one), on input capped in size before it is sent
(MAX_COMPLETION_CHARS, MAX_ANSWER_CHARS). A check that runs too long is `Status.TIMEOUT`; a checker that raises or
dies is `Status.CRASH` for that pair alone: `verify_many` returns one typed verdict per pair and never loses the
batch. math-verify's own `signal.alarm` protection is disabled in workers (pebble enforces the limit). The pool is
created lazily, reused across calls, and shut down by `close()`, by the context manager, or at interpreter exit.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import math
import multiprocessing
import os
import re
import sys
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from formalpi.domain import DomainBase, SettingsSection
from formalpi.domains.math.arith import LEVELS, arith_problems
from formalpi.domains.math.comparison import compare_form, list_length
from formalpi.domains.math.extraction import MAX_ANSWER_CHARS, MAX_COMPLETION_CHARS, extract_answer, extract_boxes
from formalpi.errors import DataError
from formalpi.paths import resolve_data_file
from formalpi.records import Problem, Status, Verdict

if TYPE_CHECKING:
    from pebble import ProcessPool

__all__ = [
    "MathDomain",
    "MathVerifier",
    "Check",
    "CheckResult",
    "Outcome",
    "extract_answer",
    "extract_boxes",
    "is_equivalent",
    "grade",
    "load_math500",
    "fetch_math500",
    "arith_subset",
    "default_verifier",
]

MATH500_FILE = "math500.jsonl"
MATH500_HF_ID = "HuggingFaceH4/MATH-500"
MATH500_FIELDS = ("problem", "solution", "answer", "subject", "level", "unique_id")
MATH_TRAIN_FILE = "math_train.jsonl"  # MATH's 7,500 training problems, in the MATH-500 line format
MATH_TRAIN_HF_ID = "DigitalLearningGmbH/MATH-lighteval"  # hendrycks MATH (train 7,500 / test 5,000), one config
BOX_INSTRUCTION = "Put the final answer in \\boxed{}."
PARTIAL_CREDIT_CAP = 0.9  # a wrong answer never scores as much as a right one, however close

log = logging.getLogger(__name__)


class MathDataset(str, Enum):
    ARITH = "arith"  # procedural, formalpi/domains/math/arith.py: the built-in tiny model's training format
    MATH500 = "math500"  # HuggingFaceH4/MATH-500, read from a local jsonl
    MATH = "math"  # MATH: split "train" = the 7,500 training problems, "test" = MATH-500 (disjoint from train)


def partial_credit(gold: float, predicted: float) -> float:
    """Credit for a wrong numeric answer: max(0, 1 - |p - g| / max(|g|, 1)), capped at PARTIAL_CREDIT_CAP."""
    if not (math.isfinite(gold) and math.isfinite(predicted)):
        return 0.0
    return min(PARTIAL_CREDIT_CAP, max(0.0, 1.0 - abs(predicted - gold) / max(abs(gold), 1.0)))


@dataclass(frozen=True)
class Check:
    """The result of checking one answer (or one completion) against a gold answer, as a worker returns it."""

    status: Status  # VALID, WRONG, REJECTED (hedge / refused form / hidden box) or NO_ANSWER
    score: float = 0.0  # see `grade`; 0 unless WRONG with partial credit, 1 when VALID
    answer: str | None = None  # the (last) boxed answer checked
    reason: str = ""  # one line: why not VALID
    fast: bool = False  # decided by the strict reader, without math-verify
    time_s: float = 0.0  # math-verify's time; 0 when the strict reader decides (so records stay reproducible)

    @property
    def equivalent(self) -> bool:
        return self.status is Status.VALID


# --------------------------------------------------------------------------------------------------------------
# The worker side (runs inside pebble worker processes)
# --------------------------------------------------------------------------------------------------------------


def _worker_init() -> None:
    # Alarms are disabled on purpose (pebble enforces the limit); silence math-verify's warning that says so.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    if hasattr(sys, "set_int_max_str_digits"):  # sympy may meet an answer's integers (capped by MAX_ANSWER_CHARS)
        sys.set_int_max_str_digits(max(sys.get_int_max_str_digits(), MAX_ANSWER_CHARS + 100))


@functools.lru_cache(maxsize=512)
def _parse_cached(answer: str) -> tuple:
    """Parsed gold answers are reused across a batch's samples (sympy objects are immutable)."""
    return tuple(_parse(answer))


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


def _math_verify(gold: str, predicted: str, judge: bool = True) -> tuple[bool, float]:
    """(equivalent, graded score) by math-verify; with judge=False only the score of a known mismatch."""
    from math_verify import verify

    pg, pp = list(_parse_cached(gold)), _parse(predicted)
    if judge and pg and pp and verify(pg, pp, timeout_seconds=None):
        return True, 1.0
    g, p = _real_value(pg), _real_value(pp)
    return False, (partial_credit(g, p) if g is not None and p is not None else 0.0)


def check_in_worker(gold: str, predicted: str, strict: bool = True) -> Check:
    """The pool's task for one extracted answer. Must run in a process main thread (math-verify's sympy).

    strict=False is math-verify alone on the raw strings (no reader): for measuring it, never for grading.
    """
    t0 = time.perf_counter()
    if not predicted or not predicted.strip():
        return Check(Status.NO_ANSWER, answer=None, reason="empty answer")
    if not strict:
        ok, score = _math_verify(gold, predicted)
        return Check(Status.VALID if ok else Status.WRONG, score, predicted, time_s=time.perf_counter() - t0)
    form = compare_form(gold, predicted, credit_cap=PARTIAL_CREDIT_CAP)
    if form.refused:
        return Check(Status.REJECTED, 0.0, predicted, reason=form.refused, fast=True)
    if form.decided is not None and form.score is not None:
        return Check(Status.VALID if form.decided else Status.WRONG, form.score, predicted, fast=True)
    ok, score = _math_verify(form.gold_text, form.cand_text, judge=form.decided is None)
    return Check(Status.VALID if ok else Status.WRONG, score, predicted, time_s=time.perf_counter() - t0)


def check_completion_in_worker(gold: str, completion: str, strict: bool = True) -> Check:
    """The pool's task for a whole completion: extraction, then every distinct boxed answer (all must be right).

    strict=False is math-verify alone, its own extraction included: for measuring it, never for grading.
    """
    if not strict:
        from math_verify import parse, verify

        t0 = time.perf_counter()
        ok = bool(verify(list(_parse_cached(gold)), parse(completion, parsing_timeout=None), timeout_seconds=None))
        return Check(Status.VALID if ok else Status.WRONG, 1.0 if ok else 0.0, time_s=time.perf_counter() - t0)
    ex = extract_boxes(completion)
    if ex.refused:
        return Check(Status.REJECTED, reason=ex.refused, fast=True)
    if ex.missing:
        return Check(Status.NO_ANSWER, reason=ex.missing, fast=True)
    checks = [check_in_worker(gold, box, strict) for box in ex.boxes]
    last = checks[-1]
    if (
        len(checks) > 1
        and not all(c.equivalent for c in checks)
        and list_length(gold) > 1
        and all(list_length(b) == 1 for b in ex.boxes)
    ):
        # one box per element of a list gold (`\boxed{(2,2)}` and `\boxed{(6,2)}`): the boxes together are the answer
        joined = check_in_worker(gold, ", ".join(ex.boxes), strict)
        return replace(joined, answer=ex.answer, time_s=joined.time_s + sum(c.time_s for c in checks))
    if len(checks) > 1 and not all(c.equivalent for c in checks):
        shown = "; ".join(_one_line(b, 30) for b in ex.boxes)
        last = Check(
            Status.REJECTED,
            0.0,
            ex.answer,
            fast=all(c.fast for c in checks),
            reason=f"several different boxed answers ({shown}), not all right: a hedge",
        )
    return replace(last, time_s=sum(c.time_s for c in checks))


# --------------------------------------------------------------------------------------------------------------
# The verifier: one lazily created process pool, reused, closed cleanly
# --------------------------------------------------------------------------------------------------------------

_WARM = False


def _warm_math_verify() -> None:
    """Import math-verify and build its LaTeX grammar once in this process (a constant input, well bounded).

    Without it, a replacement worker's first check pays for building the parser inside its timeout.
    """
    global _WARM
    if not _WARM:
        logging.getLogger("math_verify").setLevel(logging.ERROR)
        _math_verify("\\frac{1}{2}", "0.5")
        _WARM = True


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
    """Checks (gold, answer) or (gold, completion) pairs in a pebble pool with a hard per-pair timeout.

    `task` / `completion_task` are the pool's targets (module-level functions `(gold, text, strict) -> Check`);
    tests may swap them to simulate a slow or crashing checker. `strict=False` runs math-verify alone (the
    benchmark's anchor). The pool forks from this process (pebble's default context), so workers start in
    milliseconds with math-verify already imported.
    """

    def __init__(
        self,
        timeout_s: float = 10.0,
        workers: int = 2,
        task=check_in_worker,
        completion_task=check_completion_in_worker,
        strict: bool = True,
    ):
        if timeout_s <= 0 or workers <= 0:
            raise ValueError(f"MathVerifier: timeout_s and workers must be > 0 (got {timeout_s}, {workers})")
        self.timeout_s = timeout_s
        self.workers = workers
        self.task = task
        self.completion_task = completion_task
        self.strict = strict
        self._pool: ProcessPool | None = None
        _LIVE.add(self)

    def _ensure_pool(self) -> ProcessPool:
        if self._pool is None or not self._pool.active:
            _warm_math_verify()  # before forking, so that every worker (and every replacement) starts warm
            from pebble import ProcessPool

            self._pool = ProcessPool(
                max_workers=self.workers, initializer=_worker_init, context=multiprocessing.get_context("fork")
            )
        return self._pool

    def check_many(self, pairs: Sequence[tuple[str, str]]) -> list[CheckResult]:
        """One result per (gold, extracted answer) pair, in order; tasks run in parallel."""
        return self._run(self.task, pairs, MAX_ANSWER_CHARS, "answer")

    def check_completions(self, pairs: Sequence[tuple[str, str]]) -> list[CheckResult]:
        """One result per (gold, whole completion) pair, in order; extraction happens in the worker too."""
        return self._run(self.completion_task, pairs, MAX_COMPLETION_CHARS, "completion")

    def _run(self, task, pairs, cap: int, what: str) -> list[CheckResult]:
        results: list[CheckResult | None] = [None] * len(pairs)
        pending: list[tuple[int, Any]] = []
        for i, (gold, text) in enumerate(pairs):
            if not isinstance(text, str) or not isinstance(gold, str):
                results[i] = CheckResult(Outcome.CHECKED, Check(Status.NO_ANSWER, reason=f"the {what} is not text"))
            elif len(text) > cap:  # refused unsent: the size bound holds before any work is done
                results[i] = CheckResult(
                    Outcome.CHECKED,
                    Check(Status.REJECTED, reason=f"the {what} is longer than {cap} characters", fast=True),
                )
            else:
                try:
                    pending.append(
                        (i, self._ensure_pool().schedule(task, (gold, text, self.strict), timeout=self.timeout_s))
                    )
                except Exception as e:  # noqa: BLE001  a broken pool fails this pair, not the batch
                    results[i] = CheckResult(
                        Outcome.CRASH, detail=f"could not schedule the check: {type(e).__name__}: {e}"[:300]
                    )
        for i, fut in pending:
            results[i] = self._collect(fut)
        out: list[CheckResult] = []
        for i, r in enumerate(results):
            if r is None:  # every pair is either answered above or scheduled and collected
                raise AssertionError(f"pair {i} of {len(pairs)} got no check result")
            out.append(r)
        return out

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
    """True iff `predicted` (an extracted answer, not a whole completion) is VALID against `gold`.

    A refused (hedged) answer, a timed-out or crashed check counts as not equivalent.
    """
    r = _check_one(gold, predicted)
    return bool(r and r.check and r.check.equivalent)


def grade(gold: str, predicted: str | None) -> float:
    """Graded score in [0, 1] of an extracted answer against `gold`:

    * 1.0 if `predicted` is VALID (the binary verifier's judgement);
    * 0.0 if it is refused: a hedge or not one object of the gold's kind (so hedging never earns credit);
    * else, if both are numbers g and p:  min(0.9, max(0, 1 - |p - g| / max(|g|, 1))) (decays linearly with
      the error relative to |g|, absolute error when |g| < 1; never above 0.9; exact for numbers written out);
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


def load_math500(path: Path, limit: int | None = None, split: str = "test", dataset: str = "math500") -> list[Problem]:
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
            raise DataError(
                f"{where}: not valid JSON ({e.msg} at column {e.colno}); each line must be one JSON "
                f"object with fields {', '.join(MATH500_FIELDS)}"
            ) from e
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        missing = [f for f in MATH500_FIELDS if f not in row]
        if missing:
            raise DataError(
                f"{where}: missing field(s) {', '.join(missing)} (a MATH-500 line has "
                f"{', '.join(MATH500_FIELDS)}; `formalpi data fetch math500` writes this format)"
            )
        out.append(
            Problem(
                id=str(row["unique_id"]),
                domain="math",
                text=row["problem"],
                gold=str(row["answer"]),
                level=_level(row["level"], where),
                split=split,
                meta={"dataset": dataset, "subject": row["subject"], "solution": row["solution"]},
            )
        )
        if limit is not None and len(out) >= limit:
            break
    return out


def _download(hf_id: str, split: str, what: str, offline_hint: str):
    """One split of a hub dataset through `datasets`, or a DataError that says what to do offline."""
    try:
        from datasets import load_dataset
    except ImportError as e:
        raise DataError(f"fetching {what} needs the `datasets` package: pip install datasets") from e
    try:
        return load_dataset(hf_id, split=split)
    except Exception as e:  # noqa: BLE001  network / hub errors come in many types; say what failed
        raise DataError(f"could not download {hf_id} ({type(e).__name__}: {e}); are you online? {offline_hint}") from e


def _write_jsonl(out: Path, records) -> Path:
    """Write `records` (dicts) to `out` atomically: a half-written file never has the final name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    return out


def fetch_math500(dest: Path) -> Path:
    """Download MATH-500 from the Hugging Face hub (`datasets`) and write `dest/math500.jsonl`."""
    rows = _download(MATH500_HF_ID, "test", "MATH-500", f"Alternatively put a local {MATH500_FILE} in {dest}")
    return _write_jsonl(dest / MATH500_FILE, ({k: row[k] for k in MATH500_FIELDS} for row in rows))


def fetch_math(dest: Path) -> Path:
    """`formalpi data fetch math`: MATH's 7,500 training problems (`dest/math_train.jsonl`, the answer taken from
    each solution's last \\boxed{}) and MATH-500 as its test split (`dest/math500.jsonl`)."""
    rows = _download(
        MATH_TRAIN_HF_ID,
        "train",
        "MATH",
        f"Offline, put a local {MATH_TRAIN_FILE} (MATH-500's line format: "
        f"{', '.join(MATH500_FIELDS)}) and {MATH500_FILE} in {dest}",
    )

    def records():
        for i, row in enumerate(rows):
            answer = extract_answer(row["solution"])
            if answer is None:
                continue  # a training problem without a boxed answer cannot be verified
            yield {
                "problem": row["problem"],
                "solution": row["solution"],
                "answer": answer,
                "subject": row["type"],
                "level": row["level"],
                "unique_id": f"train/{row['type']}/{i}",
            }

    out = _write_jsonl(dest / MATH_TRAIN_FILE, records())
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
        if p.level is None or p.level not in taken:
            raise DataError(f"arith problem {p.id}: level {p.level!r} is not one of {LEVELS}")
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
    s = " ".join(s[: 4 * n].split())
    return s if len(s) <= n else s[: n - 1] + "…"


class MathSettings(SettingsSection):
    """The math domain's `[verify]` table."""

    timeout_s: float = Field(default=10.0, gt=0)  # wall-clock per check (the strict reader and math-verify)
    workers: int = Field(default=2, gt=0)  # verifier worker processes


class MathDomain(DomainBase):
    """The Domain (formalpi/domain.py) for math: MATH-500 and arith problems, boxed answers, math-verify checks."""

    name = "math"
    Settings = MathSettings

    @classmethod
    def conditions(cls) -> tuple:
        """Math's own PI conditions (formalpi/domains/math/conditions.py), for `get_condition(name, "math")`."""
        from formalpi.domains.math.conditions import CONDITIONS

        return CONDITIONS

    def __init__(self, settings: MathSettings | None = None):
        settings = settings or MathSettings()
        self.verifier = MathVerifier(timeout_s=settings.timeout_s, workers=settings.workers)

    def problems(
        self, dataset: str, split: str, path: str | None = None, limit: int | None = None, seed: int = 0
    ) -> list[Problem]:
        try:
            ds = MathDataset(dataset)
        except ValueError:
            raise DataError(
                f"data.dataset: math has no dataset {dataset!r}; choose one of "
                f"{', '.join(d.value for d in MathDataset)}"
            ) from None
        if limit is not None and limit <= 0:
            raise DataError(f"limit must be > 0 (got {limit})")
        if ds is MathDataset.ARITH:
            return arith_subset(split, limit, seed)
        if ds is MathDataset.MATH:
            return load_math(split, path, limit)
        if split != "test":
            raise DataError(
                f"math500 has only a 'test' split (got {split!r}); set data.train_split / data.eval_split to 'test'"
            )
        return load_math500(resolve_data_file("math500", path, (MATH500_FILE,)), limit)

    def prompt(self, problem: Problem) -> str:
        # arith: exactly the text the tiny model was trained on; anything more would be off-distribution.
        if _is_arith(problem):
            return problem.text
        return f"{problem.text}\n\n{BOX_INSTRUCTION}"

    def extract(self, completion: str) -> str | None:
        """The last visibly boxed answer (None if none, or if the completion is refused: see extraction.py)."""
        return extract_answer(completion)

    def verify_many(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[Verdict]:
        """One typed Verdict per (problem, completion), in order; no completion can make it raise.

        Raises only for caller errors, before checking anything: lengths differ, or a problem has no gold answer.
        """
        if len(problems) != len(completions):
            raise ValueError(f"verify_many: {len(problems)} problems but {len(completions)} completions")
        pairs: list[tuple[str, str]] = []
        for p, c in zip(problems, completions):
            if p.gold is None:
                raise DataError(f"problem {p.id}: no gold answer, so it cannot be verified")
            pairs.append((p.gold, c))
        results = self.verifier.check_completions(pairs)
        return [self._verdict(c, r) for c, r in zip(completions, results)]

    def verify(self, problem: Problem, completion: str) -> Verdict:
        return self.verify_many([problem], [completion])[0]

    def reference_completion(self, problem: Problem) -> str:
        """A completion that must pass: the gold answer, boxed (the run's verifier canary, formalpi/engine/experiment.py)."""
        return f"The answer is \\boxed{{{problem.gold}}}."

    def grade(self, problem: Problem, completion: str) -> float:
        """The graded verifier's score of a completion (see the module-level `grade`)."""
        return self.verify(problem, completion).score

    def _verdict(self, completion: Any, r: CheckResult) -> Verdict:
        if r.outcome is Outcome.TIMEOUT:
            return Verdict(
                status=Status.TIMEOUT,
                reason=r.detail,
                time_s=self.verifier.timeout_s,
                feedback="Your answer could not be checked.",
            )
        if r.outcome is Outcome.CRASH:
            return Verdict(status=Status.CRASH, reason=r.detail, feedback="Your answer could not be checked.")
        c = r.check
        if c is None:  # a CHECKED result always carries its Check (CheckResult); typed, as verify_many promises
            return Verdict(
                status=Status.CRASH,
                reason="the checker returned no check",
                feedback="Your answer could not be checked.",
            )
        if c.status is Status.NO_ANSWER:
            why = "empty completion" if isinstance(completion, str) and not completion.strip() else c.reason
            return Verdict(
                status=Status.NO_ANSWER, reason=why, feedback="Your response has no final answer in \\boxed{}."
            )
        shown = _one_line(c.answer or "")
        if c.status is Status.VALID:
            return Verdict(
                status=Status.VALID,
                score=1.0,
                answer=c.answer,
                time_s=c.time_s,
                reason="equivalent to the gold answer" + (" (decided exactly)" if c.fast else ""),
            )
        if c.status is Status.REJECTED:
            return Verdict(
                status=Status.REJECTED,
                score=0.0,
                answer=c.answer,
                time_s=c.time_s,
                reason=_one_line(c.reason, 200),
                feedback=(
                    f"Your answer {shown} was not accepted: give exactly one final answer."
                    if c.answer
                    else "Your final answer could not be read."
                ),
            )
        return Verdict(
            status=Status.WRONG,
            score=c.score,
            answer=c.answer,
            time_s=c.time_s,
            reason=f"answer {shown} is not equivalent to the gold answer",
            feedback=f"Your answer {shown} is incorrect.",
        )

    def failure_info(self, verdict: Verdict) -> str:
        """What a PI generator may show about a failure (never the gold answer)."""
        return verdict.feedback

    def signature(self, completion: str) -> str:
        return " ".join(completion.split())

    def close(self) -> None:
        self.verifier.close()
