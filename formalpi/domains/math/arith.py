"""`arith`: a procedural arithmetic dataset with difficulty levels 1–5, seeded and reproducible.

Levels (operands uniform in the ranges given):
  1  a + b                 a, b in 0..30
  2  a + b | a - b         a, b in 10..99
  3  a * b                 a in 10..99, b in 2..9
  4  a + b * c | (a + b) * c    a, b in 1..20, c in 2..9
  5  (a + b) * (c - d) | a * b - c * d     a, b, c, d in 1..12

Each problem's `gold` is the integer answer; `meta["solution"]` is a worked solution that evaluates one operation
per step and ends in `\\boxed{answer}` (the format the built-in tiny model is trained on). Splits never overlap:
a problem's split is a hash of its expression, so train/test membership does not depend on how many are drawn.
"""

from __future__ import annotations

import hashlib
import random

from formalpi.errors import DataError
from formalpi.records import Problem

LEVELS = (1, 2, 3, 4, 5)
SPLITS = {"train": (0, 80), "test": (80, 100)}  # hash buckets: 80% train, 20% test


def _expr(level: int, rng: random.Random) -> tuple[str, list[str]]:
    """An expression and its step-by-step reductions (each step evaluates one operation)."""
    r = rng.randint
    if level == 1:
        a, b = r(0, 30), r(0, 30)
        return f"{a}+{b}", []
    if level == 2:
        a, b = r(10, 99), r(10, 99)
        return (f"{a}+{b}", []) if rng.random() < 0.5 else (f"{a}-{b}", [])
    if level == 3:
        return f"{r(10, 99)}*{r(2, 9)}", []
    if level == 4:
        a, b, c = r(1, 20), r(1, 20), r(2, 9)
        if rng.random() < 0.5:
            return f"{a}+{b}*{c}", [f"{a}+{b * c}"]
        return f"({a}+{b})*{c}", [f"{a + b}*{c}"]
    a, b, c, d = (r(1, 12) for _ in range(4))
    if rng.random() < 0.5:
        return f"({a}+{b})*({c}-{d})", [f"{a + b}*({c}-{d})", f"{a + b}*{c - d}"]
    return f"{a}*{b}-{c}*{d}", [f"{a * b}-{c}*{d}", f"{a * b}-{c * d}"]


def _bucket(expr: str) -> int:
    return int(hashlib.sha256(expr.encode()).hexdigest(), 16) % 100


def question(expr: str) -> str:
    return f"What is {expr}?"


def arith_problems(split: str, n_per_level: int, seed: int = 0, levels: tuple[int, ...] = LEVELS) -> list[Problem]:
    """`n_per_level` distinct problems of each level in `split` ("train" or "test"), in a seeded order."""
    if split not in SPLITS:
        raise DataError(f"arith: unknown split {split!r} (use 'train' or 'test')")
    lo, hi = SPLITS[split]
    out: list[Problem] = []
    for level in levels:
        rng = random.Random(f"arith|{seed}|{split}|{level}")
        seen: set[str] = set()
        tries = 0
        while len(seen) < n_per_level:
            tries += 1
            if tries > 200 * n_per_level + 1000:
                raise DataError(f"arith: level {level} has fewer than {n_per_level} distinct {split} problems")
            expr, steps = _expr(level, rng)
            if expr in seen or not lo <= _bucket(expr) < hi:
                continue
            seen.add(expr)
            answer = str(eval(expr, {"__builtins__": {}}))  # our own generated arithmetic, never user input
            chain = "=".join([expr, *steps, answer])
            out.append(
                Problem(
                    id=f"arith-{split}-L{level}-{len(seen) - 1:04d}",
                    domain="math",
                    text=question(expr),
                    gold=answer,
                    level=level,
                    split=split,
                    meta={"solution": f"{chain}. \\boxed{{{answer}}}", "expr": expr},
                )
            )
    return out
