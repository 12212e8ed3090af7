"""The registry of PI conditions and matched controls.

A condition is one small function `(ctx: PIContext) -> str | None`: the text the model is shown after a failed
attempt (its second user turn), or None for "no retry for this attempt". Controls are conditions too, so every
row of the seed's tables is one config flag (`condition = "gold"`). `REGISTRY` holds the generic conditions;
domain-specific ones (math's `gold`, `wrong`, `first_step`, `answer_only`; code's test suites; Lean's skeletons
and diagnoses) live in their domain's package (`formalpi/domains/{math,code,lean}/`), are made with
`formalpi.pi_condition.define` (which does not register) and reach the engine through the domain adapter
(`Domain.conditions()`, looked up by `get_condition(name, domain)`): the engine never imports a domain module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from formalpi.domain import domain_conditions
from formalpi.errors import ConfigError, DataError
from formalpi.pi_condition import FAILED, TRY_AGAIN, Condition, PIContext, PIFunction, make_condition
from formalpi.records import Attempt

REGISTRY: dict[str, Condition] = {}  # the generic conditions (every domain's own come from Domain.conditions())


def register(name: str, **flags: Any) -> Callable[[PIFunction], PIFunction]:
    """Decorator for a generic condition (this module only): made as `define` does and added to REGISTRY."""

    def deco(fn: PIFunction) -> PIFunction:
        REGISTRY[name] = make_condition(name, fn, **flags)
        return fn

    return deco


def available_conditions(domain: "str | Any | None" = None) -> dict[str, Condition]:
    """The generic conditions plus the ones `domain` (a name or a Domain) defines itself."""
    out = dict(REGISTRY)
    if domain is not None:
        out.update({c.name: c for c in domain_conditions(domain)})
    return out


def get_condition(name: str, domain: "str | Any | None" = None) -> Condition:
    """The condition `name` for `domain` (a domain name or a Domain object; None: the generic ones only)."""
    known = available_conditions(domain)
    if name not in known:
        where = f" for domain {_domain_name(domain)!r}" if domain is not None else ""
        raise ConfigError(f"condition: unknown condition {name!r}{where}; known: {', '.join(sorted(known))}")
    cond = known[name]
    if domain is not None and _domain_name(domain) not in cond.domains:
        raise ConfigError(
            f"condition: {name!r} is not defined for domain {_domain_name(domain)!r} "
            f"(it is for {', '.join(sorted(cond.domains))})"
        )
    return cond


def _domain_name(domain: "str | Any") -> str:
    return domain if isinstance(domain, str) else domain.name


def retry_turns(prompt: str, attempt: Attempt, pi: str) -> list[tuple[str, str]]:
    """The retry conversation: the problem, the model's failed attempt, then the PI as the next user turn."""
    return [("user", prompt), ("assistant", attempt.completion), ("user", pi)]


def condition_turns(condition: Condition, prompt: str, attempt: Attempt, pi: str) -> list[tuple[str, str]]:
    """What a retry is generated from: the retry conversation, or the problem alone for fresh-context controls."""
    return [("user", prompt)] if condition.fresh_context else retry_turns(prompt, attempt, pi)


# ---- the generic conditions (every domain) ---------------------------------------------------------------


@register("gibberish", domains={"math", "code", "lean"})
def gibberish(ctx: PIContext) -> str:
    """The failure bit and a content-free hint: "Your answer is incorrect. Hint: XYZZY. Try again." """
    return f"{FAILED} Hint: XYZZY. {TRY_AGAIN}"


@register("try_again", domains={"math", "code", "lean"})
def try_again(ctx: PIContext) -> str:
    """Only the failure bit: "Your answer is incorrect. Try again." """
    return f"{FAILED} {TRY_AGAIN}"


@register("rejection", first_attempts=True, retries=False)
def rejection(ctx: PIContext) -> None:
    """Nothing: no retry. SFT on the model's own correct first attempts (rejection sampling / self-SFT)."""
    return None


# ---- another model's outputs ---------------------------------------------------------------------------------


def load_cross_model(path: str | Path) -> dict[str, dict[str, str]]:
    """Another model's outputs, a JSONL file of {"problem_id", "hint"?, "solution"?} lines → id → {hint, solution}.

    Later lines for the same problem add to (and override) earlier ones."""
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"cross-model file {p}: no such file (a JSONL file of "
            f'{{"problem_id": ..., "hint": ..., "solution": ...}} lines)'
        )
    out: dict[str, dict[str, str]] = {}
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"cross-model file {p}:{i}: not JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("problem_id"), str):
            raise DataError(f'cross-model file {p}:{i}: needs a string field "problem_id"')
        fields = {k: row[k] for k in ("hint", "solution") if k in row}
        bad = [k for k, v in fields.items() if not isinstance(v, str)]
        if bad or not fields:
            raise DataError(f'cross-model file {p}:{i}: needs string field(s) "hint" and/or "solution"')
        out.setdefault(row["problem_id"], {}).update(fields)
    return out


def _cross_model(ctx: PIContext, field_name: str) -> str | None:
    table = ctx.extras.get("cross_model")
    if table is None:
        raise ConfigError(
            "cross-model conditions: ctx.extras['cross_model'] is not set (load another model's "
            "outputs with load_cross_model(path); `formalpi run` reads $FORMALPI_CROSS_MODEL or "
            "cross_model_<dataset>.jsonl in the data dir)"
        )
    text = (table.get(ctx.problem.id) or {}).get(field_name)
    return text.strip() if text and text.strip() else None


@register("cross_model_hint", domains={"math", "code", "lean"}, needs={"cross_model"})
def cross_model_hint(ctx: PIContext) -> str | None:
    """The failure bit and another model's hint: "Your answer is incorrect. Hint: <hint>. Try again."

    From `ctx.extras["cross_model"][problem_id]["hint"]`; None (no retry) for a problem without one."""
    hint = _cross_model(ctx, "hint")
    return None if hint is None else f"{FAILED} Hint: {hint.rstrip('.')}. {TRY_AGAIN}"


@register("cross_model_retry", domains={"math", "code", "lean"}, needs={"cross_model"})
def cross_model_retry(ctx: PIContext) -> str | None:
    """The failure bit and another model's full solution: "Your answer is incorrect. Here is another model's
    solution:\n<solution>\nTry again."

    From `ctx.extras["cross_model"][problem_id]["solution"]`; None (no retry) for a problem without one."""
    sol = _cross_model(ctx, "solution")
    return None if sol is None else f"{FAILED} Here is another model's solution:\n{sol}\n{TRY_AGAIN}"


# ---- matched controls (no PI content: they isolate sample count, temperature and problem choice) -----------


@register("double_sample", first_attempts=True, retries=False, samples=16)
def double_sample(ctx: PIContext) -> None:
    """Nothing: no retry. N=16 independent first-attempt samples per problem (the seed's double-sample control),
    SFT on the correct ones: more samples instead of PI."""
    return None


@register("double_sample_matched", fresh_context=True)
def double_sample_matched(ctx: PIContext) -> str:
    """Nothing: each failed attempt gets a second, independent sample from the problem alone (no failed attempt,
    no failure bit); verified second samples are trained on as retries are (the retry rows' sample budget:
    N + one per failure)."""
    return ""


@register("compute_matched", first_attempts=True, retries=False, sample_multiplier=2)
def compute_matched(ctx: PIContext) -> None:
    """Nothing: no retry. As many first-attempt samples as the matched retry row (retry.match_budget_of) drew at
    the same seed, first attempts + retries (or their tokens, retry.match_unit); without one recorded, 2N (the
    worst case); SFT on the correct ones."""
    return None


@register("temp_uniform", first_attempts=True, retries=False, samples=8, temperature_range=(0.5, 1.2))
def temp_uniform(ctx: PIContext) -> None:
    """Nothing: no retry. N=8 first-attempt samples at temperatures evenly spread over [0.5, 1.2], SFT on the
    correct ones (diversity from temperature, not from PI)."""
    return None


@register("frontier_rejection", first_attempts=True, retries=False, samples=16, frontier_only=True)
def frontier_rejection(ctx: PIContext) -> None:
    """Nothing: no retry. N=16 first-attempt samples; SFT on the correct ones of frontier problems only (solve
    rate among the 16 strictly between 0 and 1)."""
    return None
