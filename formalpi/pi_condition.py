"""What a PI condition is, below the engine and the domains: `Condition`, the `PIContext` its function reads,
`define` (a domain's own condition) and the failure wording and shuffled partner every domain's conditions share.

The engine's registry of generic conditions (formalpi/engine/conditions.py) and each domain's own conditions are
made from these types, so a domain defines conditions without importing the engine. What a condition needs from
layers above (a generator writing a diagnosis, a cross-model outputs file) reaches it through `PIContext.extras`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol, cast

from formalpi.errors import ConfigError
from formalpi.records import Attempt, Problem, Verdict

FAILED = "Your answer is incorrect."
TRY_AGAIN = "Try again."


@dataclass(frozen=True)
class PIContext:
    problem: Problem
    attempt: Attempt  # the failed attempt
    verdict: Verdict  # its verdict
    seed: int
    problems: Sequence[Problem] = ()  # the whole training split, for shuffled controls
    extras: Mapping[str, Any] = field(default_factory=dict)  # skeleton corpus, a hint generator, ...

    @property
    def rng(self) -> random.Random:
        """Seeded by (seed, attempt): the same PI for the same attempt on every (resumed) run."""
        return random.Random(f"{self.seed}|{self.attempt.id}")


PIFunction = Callable[[PIContext], "str | None"]

# (chat turns, max_new_tokens, seed) -> the text of one greedy completion: how a condition that asks a model (the
# Lean diagnosis) gets one through `PIContext.extras` without importing the engine, which builds it from a
# Generator (`formalpi.engine.backends.greedy_writer`)
TextWriter = Callable[[Sequence[tuple[str, str]], int, int], str]


@dataclass(frozen=True)
class Condition:
    name: str
    pi: PIFunction | None  # None: the condition never retries (e.g. rejection sampling)
    description: str  # what the model sees, for the report's "what the teacher sees" table
    domains: frozenset[str] = frozenset({"math", "code", "lean"})
    first_attempts: bool = False  # also train on the model's own correct first attempts
    sample_multiplier: int = 1  # controls that draw more first-attempt samples instead of retrying
    # ---- control flags (additive; the defaults leave the retry pipeline as it was) ----
    samples: int | None = None  # first-attempt samples per problem, overriding sampling.n × sample_multiplier
    temperature_range: tuple[float, float] | None = None  # sample j of N at lo + (hi - lo) * j / (N - 1)
    frontier_only: bool = False  # train only on problems the round's first attempts solve sometimes, not always
    fresh_context: bool = False  # a retry sees the original prompt alone (no failed attempt, no PI shown)
    needs: frozenset[str] = frozenset()  # ctx.extras keys the PI function reads (checked before a run starts)

    def first_attempt_samples(self, n: int) -> int:
        """How many first attempts per problem this condition draws when the config says `sampling.n = n`."""
        return self.samples if self.samples is not None else n * self.sample_multiplier

    def temperatures(self, n: int) -> list[float] | None:
        """Per-sample temperatures for `temperature_range` controls (evenly spaced, both ends included)."""
        if self.temperature_range is None:
            return None
        lo, hi = self.temperature_range
        return [lo if n == 1 else round(lo + (hi - lo) * j / (n - 1), 6) for j in range(n)]


def make_condition(
    name: str,
    fn: PIFunction,
    *,
    domains: set[str] | None = None,
    first_attempts: bool = False,
    sample_multiplier: int = 1,
    retries: bool = True,
    samples: int | None = None,
    temperature_range: tuple[float, float] | None = None,
    frontier_only: bool = False,
    fresh_context: bool = False,
    needs: set[str] | None = None,
) -> Condition:
    """A Condition from its PI function; the function's docstring is the description (what the model sees)."""
    return Condition(
        name=name,
        pi=fn if retries else None,
        description=(fn.__doc__ or "").strip().split("\n\n")[0],
        domains=frozenset(domains or {"math", "code", "lean"}),
        first_attempts=first_attempts,
        sample_multiplier=sample_multiplier,
        samples=samples,
        temperature_range=temperature_range,
        frontier_only=frontier_only,
        fresh_context=fresh_context,
        needs=frozenset(needs or ()),
    )


class DefinedPI(Protocol):
    """A domain's PI function as `define` leaves it: still the function, with its Condition as `.condition`."""

    condition: Condition

    def __call__(self, ctx: PIContext, /) -> str | None: ...


def define(name: str, **flags: Any) -> Callable[[PIFunction], DefinedPI]:
    """Decorator for a domain's own condition: the Condition is attached as `fn.condition`, NOT registered; the
    domain returns it from `Domain.conditions()`."""

    def deco(fn: PIFunction) -> DefinedPI:
        fn.condition = make_condition(name, fn, **flags)  # type: ignore[attr-defined]  # a plain function's attribute
        return cast(DefinedPI, fn)  # what DefinedPI declares: the attribute set on the line above

    return deco


# ---- shuffled controls ------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _partner_map(ids: tuple[str, ...], seed: int) -> dict[str, int]:
    """A seeded derangement: problem i is paired with problem perm[i] != i."""
    n = len(ids)
    rng = random.Random(f"partner|{seed}")
    perm = list(range(n))
    if n < 2:
        return {ids[0]: 0} if n else {}
    while True:
        rng.shuffle(perm)
        if all(perm[i] != i for i in range(n)):
            return {ids[i]: perm[i] for i in range(n)}


def shuffled_partner(ctx: PIContext) -> Problem:
    """Another problem of the training split, fixed per (seed, problem): the seed's shuffled controls."""
    problems = list(ctx.problems)
    if len(problems) < 2:
        raise ConfigError("a shuffled control needs at least 2 training problems")
    idx = _partner_map(tuple(p.id for p in problems), ctx.seed)[ctx.problem.id]
    return problems[idx]


_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


def after_thinking(text: str) -> str:
    """The answer part of a thinking model's output: the text after the last `</think>`; "" when a `<think>`
    block never closes (the output ended mid-thought); the text itself when there is no think block."""
    if _THINK_CLOSE in text:
        return text.rsplit(_THINK_CLOSE, 1)[1]
    return "" if _THINK_OPEN in text else text


# ---- worked solutions: the first step (math's `first_step` PI, the engine's cross-model hints) -------------


_BOXED_TAIL = re.compile(r"\s*\\boxed\{.*$", re.S)


_ONE_OP = re.compile(r"(\d+)([+\-*])(\d+)")


def _place_value_step(expr: str) -> str | None:
    """A first step for a one-operation integer expression that does not compute it: split a two-digit operand
    into tens and units (`47*3=40*3+7*3`, `11+25=11+20+5`, `85-27=85-20-7`). None when no operand splits."""
    m = _ONE_OP.fullmatch(expr)
    if m is None:
        return None
    a, op, b = m.groups()

    def split(n: str) -> tuple[int, int] | None:
        tens, units = int(n) // 10 * 10, int(n) % 10
        return (tens, units) if tens and units else None

    if (p := split(b)) is not None:
        rest = {"+": f"{a}+{p[0]}+{p[1]}", "-": f"{a}-{p[0]}-{p[1]}", "*": f"{a}*{p[0]}+{a}*{p[1]}"}[op]
        return f"{expr}={rest}"
    if (p := split(a)) is not None:
        rest = {"+": f"{p[0]}+{p[1]}+{b}", "-": f"{p[0]}+{p[1]}-{b}", "*": f"{p[0]}*{b}+{p[1]}*{b}"}[op]
        return f"{expr}={rest}"
    return None


def first_step_of(solution: str) -> str | None:
    """The first step of a worked solution: for an `a=b=c` chain (arith), `a=b`; for a one-operation chain `a=c`
    (whose only step IS the answer) a place-value split of an operand instead; else the first sentence or line
    (MATH). A thinking model's solution is read after its `</think>` (the think trace is not a step). None for an
    empty solution or a one-operation chain with nothing to split."""
    text = _BOXED_TAIL.sub("", after_thinking(solution)).strip().rstrip(".=").strip()
    if not text:
        return None
    if re.fullmatch(r"[^\s=]+(=[^\s=]+)+", text):  # an arith chain: one operation per `=`
        parts = text.split("=")
        return "=".join(parts[:2]) if len(parts) > 2 else _place_value_step(parts[0])
    first = re.split(r"(?<=[.!?]\$)\s+|(?<=[.!?])\s+(?=[A-Z$\\])|\n", text, maxsplit=1)[0].strip()
    return first.rstrip(".=").strip() or None


def reveals(text: str, answer: str) -> bool:
    """Whether `text` contains `answer` as a whole token (not inside a longer number or word)."""
    answer = answer.strip()
    return bool(answer) and re.search(rf"(?<![\w.]){re.escape(answer)}(?![\w.])", text) is not None
