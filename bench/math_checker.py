"""Verifications per second of the math checker, against math-verify alone, measured in the same run.

    .venv/bin/python bench/math_checker.py [--workers 2] [--math500 PATH] [--arith 2000] [--seed 0]

Pair sets (MATH-500 from ../shared/data or --math500):
  * shuffled:  each gold answer against another problem's reference answer (the last box of its solution), pairs
               with identical strings dropped: wrong answers of every kind, as a model produces them;
  * reference: each gold answer against its own reference solution, the whole solution text as the completion
               (the anchor's math-verify extracts the answer from it itself; the project's extraction is strict):
               right answers, as a model that solves the problem writes them;
  * rewritten: each gold answer against its reference answer as sympy's LaTeX printer writes it back (math-verify's
               parse of the reference answer, printed), identical strings dropped: right answers written
               differently (`9 i + 6` for `6+9i`, `\\left(3, 4\\right]`, `x^{3} + 3 x - 6`, …);
  * arith:     the demo's completions (correct worked solutions, wrong integers, no box), whole completions.
For each set: the project's checker (MathVerifier: strict reader + math-verify, pool with a hard timeout), and the
anchor, math-verify alone: `parse` + `verify` in this process, one pair after another, with its own defaults
(signal-based timeouts), and math-verify alone in the same pool (strict=False) to separate the pool's cost.
"reach math-verify" counts the project's pairs not decided by the strict reader.

Then the reader's scaling on adversarial inputs: each 10 KB and 40 KB (time ratio ~4 means linear).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from formalpi.domains.math.domain import MathDomain, MathSettings, MathVerifier, Outcome  # noqa: E402
from formalpi.domains.math.comparison import compare_form  # noqa: E402
from formalpi.domains.math.extraction import extract_answer, extract_boxes  # noqa: E402
from formalpi.records import Status  # noqa: E402


def math500_pairs(path: Path, seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    golds = [r["answer"] for r in rows]
    refs = [extract_answer(r["solution"]) or "" for r in rows]
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    shuffled = [(g, refs[j]) for g, j in zip(golds, order) if refs[j] and refs[j] != g]
    reference = [(g, r["solution"]) for g, r in zip(golds, rows)]
    return shuffled, reference


def rewritten_pairs(path: Path) -> list[tuple[str, str]]:
    from math_verify import parse
    from sympy import Basic, latex

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            parsed = parse("\\boxed{" + (extract_answer(r["solution"]) or "") + "}")
            if parsed and isinstance(parsed[0], Basic) and (text := latex(parsed[0])) != r["answer"]:
                out.append((r["answer"], text))
    return out


def math_verify_alone(pairs, completions: bool = False) -> tuple[float, int]:
    """math-verify's own speed: parse + verify, in this process, with its default (signal) timeouts."""
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    ok = 0
    for gold, pred in pairs:
        try:
            ok += bool(verify(parse("\\boxed{" + gold + "}"), parse(pred if completions else "\\boxed{" + pred + "}")))
        except Exception:  # noqa: BLE001  counted as not equivalent, as the project would
            pass
    return time.perf_counter() - t0, ok


def pooled(pairs, workers: int, strict: bool, completions: bool = False):
    with MathVerifier(workers=workers, strict=strict) as v:
        run = v.check_completions if completions else v.check_many
        run(pairs[: workers * 2])  # start and warm the pool outside the timing
        t0 = time.perf_counter()
        rs = run(pairs)
        return time.perf_counter() - t0, rs


def row(name: str, n: int, dt: float, anchor: float, extra: str = "") -> str:
    return f"  {name:<44} {n:>5} pairs {dt:8.3f}s {n / dt:9,.0f}/s  {anchor / dt:5.2f}x anchor  {extra}"


def summary(rs) -> str:
    valid = sum(bool(r.check and r.check.equivalent) for r in rs)
    rej = sum(bool(r.check and r.check.status is Status.REJECTED) for r in rs)
    to = sum(r.outcome is Outcome.TIMEOUT for r in rs)
    cr = sum(r.outcome is Outcome.CRASH for r in rs)
    return f"valid {valid}, rejected {rej}, timeout {to}, crash {cr}"


def bench_pairs(name: str, pairs, workers: int, completions: bool = False) -> None:
    print(f"{name}: {len(pairs)} pairs")
    dt_a, ok_a = math_verify_alone(pairs, completions)
    print(row("anchor: math-verify alone (1 process)", len(pairs), dt_a, dt_a, f"valid {ok_a}"))
    dt_p, rs_p = pooled(pairs, workers, strict=False, completions=completions)
    print(row(f"math-verify alone in the pool ({workers} workers)", len(pairs), dt_p, dt_a, summary(rs_p)))
    dt_s, rs_s = pooled(pairs, workers, strict=True, completions=completions)
    reach = [(p, r) for p, r in zip(pairs, rs_s) if r.check and not r.check.fast]
    print(
        row(
            f"project checker ({workers} workers)",
            len(pairs),
            dt_s,
            dt_a,
            summary(rs_s) + f", reach math-verify {len(reach)}",
        )
    )
    if reach:  # the same path measured on its own: the pairs the reader hands to math-verify
        sub = [p for p, _ in reach]
        dt_a2, _ = math_verify_alone(sub, completions)
        dt_p2, rs_p2 = pooled(sub, workers, strict=False, completions=completions)
        dt_s2, rs_s2 = pooled(sub, workers, strict=True, completions=completions)
        print(row("  those reaching math-verify: anchor", len(sub), dt_a2, dt_a2))
        print(row(f"  … math-verify alone in the pool ({workers} w.)", len(sub), dt_p2, dt_a2, summary(rs_p2)))
        print(row(f"  … project checker ({workers} w.)", len(sub), dt_s2, dt_a2, summary(rs_s2)))


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


def bench_arith(n: int, workers: int) -> None:
    ps, cs = arith_batch(n)
    pairs = [(p.gold, a) for p, c in zip(ps, cs) if (a := extract_answer(c)) is not None]
    print(f"arith (the demo's completions): {n} completions, {len(pairs)} with a box")
    dt_a, ok = math_verify_alone(pairs)
    print(row("anchor: math-verify alone (1 process)", len(pairs), dt_a, dt_a, f"valid {ok}"))
    with MathDomain(MathSettings(workers=workers)) as d:
        d.verify_many(ps[:4], cs[:4])
        t0 = time.perf_counter()
        vs = d.verify_many(ps, cs)
        dt = time.perf_counter() - t0
    counts = {s.value: sum(v.status is s for v in vs) for s in Status if any(v.status is s for v in vs)}
    print(row(f"MathDomain.verify_many ({workers} workers)", len(cs), dt, dt_a * len(cs) / len(pairs), str(counts)))


ADVERSARIAL = {
    "open braces": lambda k: r"\boxed{" + "{" * k,
    "many boxes": lambda k: r"\boxed{1}" * (k // 9),
    "space-form box": lambda k: r"\boxed " + "9" * k,
    "comments": lambda k: "%" * k + "\n\\boxed{5}",
    "backslashes": lambda k: "\\" * (k + 1),
    "iffalse": lambda k: r"\iffalse " * (k // 9),
    "begin": lambda k: r"\begin{" + "a" * k,
    "verb": lambda k: r"\verb" + "|" * k,
}
ADVERSARIAL_ANSWERS = {  # boxed answers are capped at 10,000 characters: the reader's worst cases within the cap
    "thousands": lambda k: "1," * (k // 2) + "1",
    "thin-space digits": lambda k: "1\\," * (k // 3) + "1",
    "fracs": lambda k: r"\frac" * (k // 5),
    "powers": lambda k: "x^" * (k // 2) + "x",
    "spaces": lambda k: "5" + " " * k,
    "text": lambda k: r"\text{a}" * (k // 8),
    "relations": lambda k: "1<" * (k // 2) + "x",
    "braces": lambda k: "{1}" * (k // 3),
    "brackets": lambda k: "(" * k,
}


def best_of(fn, repeats: int = 5) -> float:
    """The fastest of a few runs: the machine is shared, and the question is the cost, not the noise."""
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def bench_adversarial() -> None:
    print("reader on adversarial inputs (in-process, no pool; best of 5): seconds at two sizes; ratio ~4 = linear")
    for name, make in ADVERSARIAL.items():
        ts = []
        for k in (10_000, 40_000):
            text = make(k)
            ts.append(best_of(lambda: extract_boxes(text)))
        print(f"  completion {name:<20} 10 KB {ts[0]:.4f}s   40 KB {ts[1]:.4f}s   ratio {ts[1] / max(ts[0], 1e-9):.1f}")
    for name, make in ADVERSARIAL_ANSWERS.items():
        ts = []
        for k in (2_400, 9_600):
            text = make(k)
            ts.append(
                best_of(
                    lambda: (compare_form("5", text, credit_cap=0.9), compare_form(r"2\sqrt{5}", text, credit_cap=0.9))
                )
            )
        print(f"  answer {name:<24} 2.4 KB {ts[0]:.4f}s  9.6 KB {ts[1]:.4f}s   ratio {ts[1] / max(ts[0], 1e-9):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--arith", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--math500", type=Path, default=ROOT.parent / "shared" / "data" / "math500.jsonl")
    args = ap.parse_args()
    if args.math500.is_file():
        shuffled, reference = math500_pairs(args.math500, args.seed)
        bench_pairs("MATH-500 shuffled (gold vs another problem's reference answer)", shuffled, args.workers)
        bench_pairs(
            "MATH-500 reference (gold vs its own whole reference solution)", reference, args.workers, completions=True
        )
        bench_pairs(
            "MATH-500 rewritten (gold vs its reference answer as sympy prints it)",
            rewritten_pairs(args.math500),
            args.workers,
        )
    else:
        print(f"{args.math500} not found: MATH-500 pair sets skipped")
    bench_arith(args.arith, args.workers)
    bench_adversarial()


if __name__ == "__main__":
    main()
