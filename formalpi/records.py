"""The plain typed records that flow through every stage.

Problem ─generate→ Attempt ─verify→ Verdict ─(failed)→ PI ─generate→ retry Attempt ─verify→ Verdict
Examples (prompt = ORIGINAL prompt, completion = verified retry) ─train→ checkpoint ─evaluate→ EvalRecord

Each record is a pydantic model so that it round-trips through the run store's JSONL files unchanged.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Problem(Record):
    """One task of any domain. `meta` holds what only that domain reads (tests, Lean header, ...)."""

    id: str
    domain: str
    text: str  # the problem as the model is asked it (math question, code prompt, Lean statement)
    gold: str | None = None  # reference answer / solution / proof, when the dataset has one
    level: int | None = None  # difficulty level (MATH / arith 1–5); None when the dataset has none
    split: str = "test"
    meta: dict[str, Any] = Field(default_factory=dict)


class Status(str, Enum):
    """How a verification ended. Only VALID passes; every other member says why not."""

    VALID = "valid"  # verified correct (math: equivalent answer; code: all tests; Lean: strict check)
    WRONG = "wrong"  # an answer / program that was checked and is not correct
    NO_ANSWER = "no_answer"  # nothing to check: empty completion, no \\boxed{}, no code, no proof
    INCOMPLETE = "incomplete"  # Lean: sorry / admit left in the proof
    ERROR = "error"  # Lean: an error message; code: an exception outside the tests
    TIMEOUT = "timeout"  # the checker's wall-clock limit was hit
    MEMORY = "memory"  # the checker's memory limit was hit
    CRASH = "crash"  # the checker itself died (REPL crash, sandbox crash)
    REJECTED = "rejected"  # refused before or after checking: forbidden construct, bad axioms

    @property
    def passed(self) -> bool:
        return self is Status.VALID


class Verdict(Record):
    """The result of checking one completion. Shared by every domain; what only one domain reads is in `details`."""

    status: Status
    score: float = 0.0  # graded verifier's score in [0, 1]; 1.0 whenever status is VALID
    answer: str | None = None  # what was extracted and checked (boxed answer, program, proof body)
    reason: str = ""  # one line for humans: why it is not VALID
    feedback: str = ""  # domain failure info a PI generator may show (failing test, first error)
    time_s: float = 0.0
    worker_id: int | None = None
    # JSON only the verifying domain reads (Lean: formalpi.lean.details.LeanDetails, the REPL's messages and axioms)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status.passed


class Attempt(Record):
    """One sampled completion, first try (retry == 0) or a retry with PI (retry >= 1)."""

    id: str  # "<problem_id>|r<round>|s<sample>|k<retry>": unique within a run
    problem_id: str
    round: int = 0
    sample: int = 0
    retry: int = 0
    condition: str = "none"
    prompt: str  # exactly what the model was given (with PI, for retries)
    completion: str
    pi: str | None = None  # the privileged information shown, None for first attempts
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seed: int = 0


class Judged(Record):
    """An attempt and its verdict: the run store's `verdicts.jsonl` line."""

    attempt_id: str
    problem_id: str
    verdict: Verdict


class Example(Record):
    """One SFT example. The prompt is the ORIGINAL problem prompt: PI never enters training prompts."""

    prompt: str
    completion: str
    problem_id: str
    attempt_id: str  # lineage: which attempt it came from
    condition: str
    round: int = 0
    seed: int = 0
    score: float = 1.0


class EvalRecord(Record):
    """Per-problem evaluation of one model: the unit every statistic is computed from."""

    problem_id: str
    level: int | None = None
    seed: int
    condition: str
    n: int
    correct: list[bool]  # one per sample, in sample order
    scores: list[float] = Field(default_factory=list)
    completions: list[str] = Field(default_factory=list)
    completion_tokens: list[int] = Field(default_factory=list)  # one per sample; == max_new_tokens: cut off

    @property
    def n_correct(self) -> int:
        return sum(self.correct)
