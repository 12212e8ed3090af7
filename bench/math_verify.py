"""Verifications per second of the math domain.

    .venv/bin/python bench/math_verify.py [--n 2000] [--workers 2] [--math500 PATH]

Measures, on arith completions shaped like the tiny model's (correct worked solutions, wrong integers, no box):
  1. MathDomain.verify_many as the demo calls it (integer fast path first, pool only when needed);
  2. the same pairs with the fast path off, i.e. every check through math-verify in the pebble pool;
and, when a MATH-500 file is given or found in ../shared/data, its 500 gold solutions through math-verify.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file's name shadows the `math_verify` package when run as a script (its folder is sys.path[0]): drop it.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from domains.math import MathDomain, MathVerifier, extract_answer, load_math500  # noqa: E402


def arith_batch(n: int, seed: int = 0):
    """n (problem, completion) pairs: 50% correct solution, 35% wrong integer, 15% no boxed answer."""
    rng = random.Random(seed)
    problems = MathDomain().problems("arith", "train", limit=max(5, n // 4), seed=seed)
    ps, cs = [], []
    for i in range(n):
        p = problems[i % len(problems)]
        u = rng.random()
        if u < 0.5:
            c = p.meta["solution"]
        elif u < 0.85:
            c = f"{p.meta['expr']}={int(p.gold) + rng.choice([-2, -1, 1, 10])}. \\boxed{{{int(p.gold) + 1}}}"
        else:
            c = f"{p.meta['expr']}={p.gold}"
        ps.append(p)
        cs.append(c)
    return ps, cs


def rate(n: int, seconds: float) -> str:
    return f"{n} in {seconds:.3f}s = {n / seconds:,.0f} verifications/s"


def outcomes(results) -> dict[str, int]:
    """Outcome counts, so that a crashing checker cannot pass for a fast one."""
    return {o.value: sum(r.outcome is o for r in results) for o in {r.outcome for r in results}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--math500", type=Path, default=ROOT.parent / "shared" / "data" / "math500.jsonl")
    args = ap.parse_args()

    ps, cs = arith_batch(args.n)
    with MathDomain(workers=args.workers) as d:
        t0 = time.perf_counter()
        vs = d.verify_many(ps, cs)
        dt = time.perf_counter() - t0
        counts = {s.value: sum(v.status is s for v in vs) for s in {v.status for v in vs}}
        print(f"arith, MathDomain.verify_many (fast path):  {rate(len(vs), dt)}   statuses {counts}")

    pairs = [(p.gold, a) for p, c in zip(ps, cs) if (a := extract_answer(c)) is not None]
    with MathVerifier(workers=args.workers, fast_path=False) as v:
        v.check_many(pairs[:4])  # start the pool outside the timing
        t0 = time.perf_counter()
        rs = v.check_many(pairs)
        dt = time.perf_counter() - t0
        print(f"arith, math-verify in pool ({args.workers} workers):  {rate(len(pairs), dt)}   {outcomes(rs)}")

    if args.math500.is_file():
        m = load_math500(args.math500)
        pairs = [(p.gold, extract_answer(p.meta["solution"])) for p in m]
        with MathVerifier(workers=args.workers, fast_path=False) as v:
            v.check_many(pairs[:4])
            t0 = time.perf_counter()
            rs = v.check_many(pairs)
            dt = time.perf_counter() - t0
            ok = sum(bool(r.check and r.check.equivalent) for r in rs)
            print(f"MATH-500 gold, math-verify in pool ({args.workers} workers):  {rate(len(rs), dt)}   "
                  f"equivalent {ok}/{len(rs)}   {outcomes(rs)}")


if __name__ == "__main__":
    main()
