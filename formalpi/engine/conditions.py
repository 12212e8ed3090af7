"""The registry of PI conditions and matched controls.

A condition is one small function `(ctx: PIContext) -> str | None`: the text the model is shown after a failed
attempt (its second user turn), or None for "no retry for this attempt". Controls are conditions too, so every
row of the seed's tables is one config flag (`condition = "gold"`). `REGISTRY` holds the generic conditions;
domain-specific ones live next to their domain (`formalpi/lean/pi.py`, `domains/code.py`), are made with
`formalpi.pi_condition.define` (which does not register) and reach the engine through the domain adapter
(`Domain.conditions()`, looked up by `get_condition(name, domain)`): the engine never imports a domain module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from formalpi.domain import domain_conditions
from formalpi.errors import ConfigError, DataError
from formalpi.pi_condition import (FAILED, TRY_AGAIN, Condition, PIContext, PIFunction, after_thinking,
                                   make_condition, shuffled_partner)
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
        raise ConfigError(f"condition: {name!r} is not defined for domain {_domain_name(domain)!r} "
                          f"(it is for {', '.join(sorted(cond.domains))})")
    return cond


def _domain_name(domain: "str | Any") -> str:
    return domain if isinstance(domain, str) else domain.name


def retry_turns(prompt: str, attempt: Attempt, pi: str) -> list[tuple[str, str]]:
    """The retry conversation: the problem, the model's failed attempt, then the PI as the next user turn."""
    return [("user", prompt), ("assistant", attempt.completion), ("user", pi)]


def condition_turns(condition: Condition, prompt: str, attempt: Attempt, pi: str) -> list[tuple[str, str]]:
    """What a retry is generated from: the retry conversation, or the problem alone for fresh-context controls."""
    return [("user", prompt)] if condition.fresh_context else retry_turns(prompt, attempt, pi)


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


# ---- more PI conditions and matched controls ------------------------------------------------------------------

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


@register("first_step", domains={"math"})
def first_step(ctx: PIContext) -> str | None:
    """The failure bit and the first step of the reference solution: "Your answer is incorrect. Hint: the first step
    is 9+16*8=9+128. Try again."

    From `problem.meta["solution"]` (arith: the first reduction, or a place-value split for one-operation
    problems; MATH: the first sentence). None (no retry) when the problem has no worked solution or when its
    first step would contain the gold answer: the hint never gives the answer away."""
    step = first_step_of(ctx.problem.meta.get("solution") or "")
    if step is None or reveals(step, ctx.problem.gold):
        return None
    return f"{FAILED} Hint: the first step is {step}. {TRY_AGAIN}"


def load_cross_model(path: str | Path) -> dict[str, dict[str, str]]:
    """Another model's outputs, a JSONL file of {"problem_id", "hint"?, "solution"?} lines → id → {hint, solution}.

    Later lines for the same problem add to (and override) earlier ones."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"cross-model file {p}: no such file (a JSONL file of "
                        f"{{\"problem_id\": ..., \"hint\": ..., \"solution\": ...}} lines)")
    out: dict[str, dict[str, str]] = {}
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"cross-model file {p}:{i}: not JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("problem_id"), str):
            raise DataError(f"cross-model file {p}:{i}: needs a string field \"problem_id\"")
        fields = {k: row[k] for k in ("hint", "solution") if k in row}
        bad = [k for k, v in fields.items() if not isinstance(v, str)]
        if bad or not fields:
            raise DataError(f"cross-model file {p}:{i}: needs string field(s) \"hint\" and/or \"solution\"")
        out.setdefault(row["problem_id"], {}).update(fields)
    return out


def _cross_model(ctx: PIContext, field_name: str) -> str | None:
    table = ctx.extras.get("cross_model")
    if table is None:
        raise ConfigError("cross-model conditions: ctx.extras['cross_model'] is not set (load another model's "
                          "outputs with load_cross_model(path); `formalpi run` reads $FORMALPI_CROSS_MODEL or "
                          "cross_model_<dataset>.jsonl in the data dir)")
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


@register("answer_only", domains={"math"})
def answer_only(ctx: PIContext) -> str:
    """The gold answer only, no failure bit: "The correct answer is 42." (OPSD's teacher context)."""
    return f"The correct answer is {ctx.problem.gold}."


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
