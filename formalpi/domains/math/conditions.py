"""Math's own PI conditions: the gold answer, a wrong answer, the first step of the reference solution, and the
gold answer alone (OPSD's teacher context). They reach the engine through `MathDomain.conditions()`."""

from __future__ import annotations

from formalpi.pi_condition import FAILED, TRY_AGAIN, PIContext, define, first_step_of, reveals, shuffled_partner


@define("gold", domains={"math"})
def gold(ctx: PIContext) -> str:
    """The failure bit and the gold final answer: "Your answer is incorrect. The correct answer is 42. Try again." """
    return f"{FAILED} The correct answer is {ctx.problem.gold}. {TRY_AGAIN}"


@define("wrong", domains={"math"})
def wrong(ctx: PIContext) -> str:
    """The failure bit and a wrong "correct answer": the gold answer of another problem (seeded shuffle)."""
    other = shuffled_partner(ctx)
    answer = other.gold
    if answer == ctx.problem.gold:  # a shuffled answer that happens to be right is no longer "wrong"
        others = [p.gold for p in ctx.problems if p.gold != ctx.problem.gold]
        answer = ctx.rng.choice(others) if others else answer
    return f"{FAILED} The correct answer is {answer}. {TRY_AGAIN}"


@define("first_step", domains={"math"})
def first_step(ctx: PIContext) -> str | None:
    """The failure bit and the first step of the reference solution: "Your answer is incorrect. Hint: the first step
    is 9+16*8=9+128. Try again."

    From `problem.meta["solution"]` (arith: the first reduction, or a place-value split for one-operation
    problems; MATH: the first sentence). None (no retry) when the problem has no worked solution or when its
    first step would contain the gold answer: the hint never gives the answer away."""
    step = first_step_of(ctx.problem.meta.get("solution") or "")
    if step is None or reveals(step, ctx.problem.gold or ""):
        return None
    return f"{FAILED} Hint: the first step is {step}. {TRY_AGAIN}"


@define("answer_only", domains={"math"})
def answer_only(ctx: PIContext) -> str:
    """The gold answer only, no failure bit: "The correct answer is 42." (OPSD's teacher context)."""
    return f"The correct answer is {ctx.problem.gold}."


CONDITIONS = (gold.condition, wrong.condition, first_step.condition, answer_only.condition)
