"""Canaries: theorems whose verdict is known, mixed into verification batches so that a verifier that has gone
wrong (a disabled check, a broken REPL build, a bad header) is caught on the batch where it happens.

The suite lives in `formalpi/lean/canaries/suite.toml` (see its comments). `verify_with_canaries` wraps any
`verify_many(items) -> list[Verdict]`: it inserts known-false and known-true canaries at seeded positions,
checks their verdicts, raises `CanaryError` naming the first misjudged one, and returns only the real verdicts.
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path

from formalpi.errors import CanaryError, DataError
from formalpi.lean.details import lean_details
from formalpi.records import Status, Verdict

VerifyMany = Callable[[list[dict]], list[Verdict]]
TRANSIENT = frozenset({Status.TIMEOUT, Status.CRASH, Status.MEMORY})  # the checker failed, not the judgement


class DecidedBy(str, Enum):
    """Which layer of the verifier settled a verdict."""

    ALL_CHECKS = "all-checks"  # valid: nothing objected
    PRE_CHECK = "pre-check"  # the textual check refused it before Lean saw it
    REPL = "repl"  # Lean's messages: error, sorry goal, sorry warning
    AXIOMS = "axioms"  # `#print axioms` named a non-standard axiom (or did not answer for the trusted name)
    STATEMENT = "statement"  # the constant under the trusted name does not have the trusted statement's type
    REPLAY = "replay"  # SafeVerify's replay in a fresh process found it (kernel, type or axioms from the .olean)
    WALL_CLOCK = "wall-clock"  # the pool's timeout killed the check
    CRASH = "crash"  # the REPL died or ran out of memory


def decided_by(v: Verdict) -> DecidedBy:
    """Read the deciding layer off a verdict (formalpi.lean.verdict's reasons and fields)."""
    if v.status is Status.VALID:
        return DecidedBy.ALL_CHECKS
    if v.status is Status.TIMEOUT:
        return DecidedBy.WALL_CLOCK
    if v.status in (Status.CRASH, Status.MEMORY):
        return DecidedBy.CRASH
    if v.status in (Status.ERROR, Status.INCOMPLETE):
        return DecidedBy.REPL
    if v.status is Status.REJECTED and v.reason.startswith("replay:"):
        return DecidedBy.REPLAY
    if v.status is Status.REJECTED and v.reason.startswith("statement check"):
        return DecidedBy.STATEMENT
    if v.status is Status.REJECTED and (lean_details(v).axioms or v.reason.startswith("axiom check")):
        return DecidedBy.AXIOMS
    return DecidedBy.PRE_CHECK  # REJECTED by a forbidden construct, NO_ANSWER for an empty proof


@dataclass(frozen=True)
class Canary:
    name: str
    header: str
    statement: str
    proof: str
    expected: Status
    decided_by: DecidedBy  # the layer that should catch it (documentation + test expectation)
    quick: bool
    needs: str  # "core" | "mathlib"
    why: str

    def item(self) -> dict:
        # `canary`: the pool never answers a canary from its cache, so each batch re-checks the verifier itself
        return {"statement": self.statement, "proof": self.proof, "header": self.header, "canary": True}

    def misjudged(self, v: Verdict) -> bool:
        """For in-batch use: a forged canary that passed, or a genuine one refused for a non-transient reason."""
        if self.expected.passed:
            return not v.passed and v.status not in TRANSIENT
        return v.passed


SUITE_FILE = "suite.toml"


def load_suite(path: Path | None = None) -> list[Canary]:
    """The canary suite (default: the one shipped in formalpi/lean/canaries/)."""
    if path is None:
        text = resources.files("formalpi.lean").joinpath("canaries", SUITE_FILE).read_text(encoding="utf-8")
        where = f"formalpi/lean/canaries/{SUITE_FILE}"
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        data = tomllib.loads(text)
        header = data.get("header", "")
        return [
            Canary(
                name=c["name"],
                header=c.get("header", header),
                statement=c["statement"],
                proof=c["proof"],
                expected=Status(c["expected"]),
                decided_by=DecidedBy(c["decided_by"]),
                quick=bool(c.get("quick", False)),
                needs=c.get("needs", "core"),
                why=c.get("why", ""),
            )
            for c in data["canary"]
        ]
    except (tomllib.TOMLDecodeError, KeyError, ValueError) as e:
        raise DataError(f"{where}: bad canary suite ({type(e).__name__}: {e})") from None


def batch_canaries(suite: Sequence[Canary]) -> tuple[list[Canary], list[Canary]]:
    """(known-true, known-false) canaries cheap enough for every batch: the timeout case is left out."""
    true = [c for c in suite if c.expected.passed]
    false = [c for c in suite if not c.expected.passed and c.expected not in TRANSIENT]
    return true, false


def choose_canaries(n: int, rng: random.Random, suite: Sequence[Canary]) -> list[Canary]:
    """n canaries: ceil(n/2) known-false, floor(n/2) known-true (a single canary is a forged one: that is the
    failure that matters most), drawn without replacement while the suite lasts."""
    true, false = batch_canaries(suite)
    if n > 0 and not false:
        raise DataError("canary suite has no known-false canaries")

    def draw(pool: list[Canary], k: int) -> list[Canary]:
        out: list[Canary] = []
        while len(out) < k and pool:
            out += rng.sample(pool, min(k - len(out), len(pool)))
        return out

    return draw(false, math.ceil(n / 2)) + draw(true, n // 2)


def verify_with_canaries(
    verify_many: VerifyMany, items: Sequence[dict], n: int, rng: random.Random, suite: Sequence[Canary] | None = None
) -> list[Verdict]:
    """Verify `items` with `n` canaries mixed in at seeded positions; CanaryError if any canary is misjudged.
    The returned list has exactly one verdict per item, in order, and no canary verdicts."""
    if n <= 0:
        return verify_many(list(items))
    canaries = choose_canaries(n, rng, suite if suite is not None else load_suite())
    total = len(items) + len(canaries)
    slots = sorted(rng.sample(range(total), len(canaries)))
    at = dict(zip(slots, canaries))
    mixed, it = [], iter(items)
    for k in range(total):
        mixed.append(at[k].item() if k in at else next(it))
    verdicts = verify_many(mixed)
    if len(verdicts) != total:
        raise CanaryError(f"verify_many returned {len(verdicts)} verdicts for {total} items")
    for k, canary in at.items():
        v = verdicts[k]
        if canary.misjudged(v):
            raise CanaryError(
                f"canary {canary.name} ({canary.why}) was judged {v.status.value}, expected "
                f"{canary.expected.value}{': ' + v.reason if v.reason else ''}. The verifier can no longer be "
                f"trusted: run `formalpi lean selftest` to see which check is broken"
            )
    return [v for k, v in enumerate(verdicts) if k not in at]


class CanaryGuard:
    """A `verify_many` with canaries in every batch: batch b uses Random(f"{seed}|{b}"), so runs are repeatable."""

    def __init__(self, verify_many: VerifyMany, per_batch: int, seed: int = 0, suite: Sequence[Canary] | None = None):
        self._verify_many = verify_many
        self.per_batch = per_batch
        self.seed = seed
        self.batches = 0
        self._suite = list(suite) if suite is not None else load_suite()

    def __call__(self, items: Sequence[dict]) -> list[Verdict]:
        rng = random.Random(f"{self.seed}|{self.batches}")
        self.batches += 1
        return verify_with_canaries(self._verify_many, items, self.per_batch, rng, self._suite)
