"""The registry of PI conditions and matched controls.

A condition is one small function `(ctx: PIContext) -> str | None`: the text the model is shown after a failed
attempt (its second user turn), or None for "no retry for this attempt". Controls are conditions too, so every
row of the seed's tables is one config flag (`condition = "gold"`). Domain-specific conditions live next to their
domain (`formalpi/lean/pi.py`, `domains/code.py`) and register themselves here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

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


@dataclass(frozen=True)
class Condition:
    name: str
    pi: PIFunction | None  # None: the condition never retries (e.g. rejection sampling)
    description: str  # what the model sees, for the report's "what the teacher sees" table
    domains: frozenset[str] = frozenset({"math", "code", "lean"})
    first_attempts: bool = False  # also train on the model's own correct first attempts
    sample_multiplier: int = 1  # controls that draw more first-attempt samples instead of retrying


REGISTRY: dict[str, Condition] = {}


def register(name: str, *, domains: set[str] | None = None, first_attempts: bool = False,
             sample_multiplier: int = 1, retries: bool = True) -> Callable[[PIFunction], PIFunction]:
    """Decorator: the function's docstring is the condition's description (what the model sees)."""

    def deco(fn: PIFunction) -> PIFunction:
        REGISTRY[name] = Condition(
            name=name, pi=fn if retries else None, description=(fn.__doc__ or "").strip().split("\n\n")[0],
            domains=frozenset(domains or {"math", "code", "lean"}), first_attempts=first_attempts,
            sample_multiplier=sample_multiplier)
        return fn

    return deco


def get_condition(name: str, domain: str | None = None) -> Condition:
    _load_domain_conditions()
    if name not in REGISTRY:
        raise ConfigError(f"condition: unknown condition {name!r}; known: {', '.join(sorted(REGISTRY))}")
    cond = REGISTRY[name]
    if domain is not None and domain not in cond.domains:
        raise ConfigError(f"condition: {name!r} is not defined for domain {domain!r} "
                          f"(it is for {', '.join(sorted(cond.domains))})")
    return cond


def _load_domain_conditions() -> None:
    """Import the modules whose conditions register themselves (each is optional at import time)."""
    import importlib

    for mod in ("formalpi.lean.pi", "domains.code"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:  # a real missing dependency inside the module is an error
                raise


def retry_turns(prompt: str, attempt: Attempt, pi: str) -> list[tuple[str, str]]:
    """The retry conversation: the problem, the model's failed attempt, then the PI as the next user turn."""
    return [("user", prompt), ("assistant", attempt.completion), ("user", pi)]


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


# ---- the generic conditions (math; most apply to code and Lean too) ---------------------------------------


@register("gold", domains={"math"})
def gold(ctx: PIContext) -> str:
    """The failure bit and the gold final answer: "Your answer is incorrect. The correct answer is 42. Try again." """
    return f"{FAILED} The correct answer is {ctx.problem.gold}. {TRY_AGAIN}"


@register("gibberish", domains={"math", "code", "lean"})
def gibberish(ctx: PIContext) -> str:
    """The failure bit and a content-free hint: "Your answer is incorrect. Hint: XYZZY. Try again." """
    return f"{FAILED} Hint: XYZZY. {TRY_AGAIN}"


@register("wrong", domains={"math"})
def wrong(ctx: PIContext) -> str:
    """The failure bit and a wrong "correct answer": the gold answer of another problem (seeded shuffle)."""
    other = shuffled_partner(ctx)
    answer = other.gold
    if answer == ctx.problem.gold:  # a shuffled answer that happens to be right is no longer "wrong"
        others = [p.gold for p in ctx.problems if p.gold != ctx.problem.gold]
        answer = ctx.rng.choice(others) if others else answer
    return f"{FAILED} The correct answer is {answer}. {TRY_AGAIN}"


@register("try_again", domains={"math", "code", "lean"})
def try_again(ctx: PIContext) -> str:
    """Only the failure bit: "Your answer is incorrect. Try again." """
    return f"{FAILED} {TRY_AGAIN}"


@register("rejection", first_attempts=True, retries=False)
def rejection(ctx: PIContext) -> None:
    """Nothing: no retry. SFT on the model's own correct first attempts (rejection sampling / self-SFT)."""
    return None
