"""False accepts and false rejects of the math checker on the labelled sets, by class, next to math-verify alone.

    .venv/bin/python bench/math_labelled.py [--tree PATH] [--workers 2] [--set NAME ...] [--show CLASS]

Sets: tests/data/math_labelled/*.jsonl (built by scripts/math_labelled_sets.py; sources and licences there) and the
hostile corpus tests/math_attacks.toml. Each case is (gold, completion, expect): expect valid = a right answer (not
VALID is a false reject), anything else = must not be VALID (VALID is a false accept).
Two checkers on the same strings: the project's (MathVerifier: strict reader + math-verify, in its pool) and
math-verify alone (the same pool, strict=False: math-verify's own extraction of the completion, its parse of the
gold). `--tree` imports the math checker from another checkout (e.g. a worktree of an older commit) to measure it.
Math-Verify's suite: predictions written in prose with no box (form "prose") are counted apart, since the project
requires a boxed answer by design.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "math_labelled"


def load_sets() -> dict[str, list[dict]]:
    sets = {
        f.stem: [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        for f in sorted(DATA.glob("*.jsonl"))
        if f.stem != "known_false_rejects"
    }
    attacks = tomllib.loads((ROOT / "tests" / "math_attacks.toml").read_text(encoding="utf-8"))["case"]
    sets["math_attacks"] = [
        {
            "class": c["class"],
            "gold": c["gold"],
            "completion": c["text"],
            "expect": "valid" if c["expect"] == "valid" else "not_valid",
        }
        for c in attacks
    ]
    return sets


def checker_module():
    """The math checker's module in the checkout on sys.path: `formalpi.domains.math.domain`, or `domains.math` in
    checkouts from before the domains became packages of formalpi."""
    try:
        return importlib.import_module("formalpi.domains.math.domain")
    except ModuleNotFoundError:
        return importlib.import_module("domains.math")


def run(cases: list[dict], workers: int, strict: bool) -> list[bool]:
    MathVerifier = checker_module().MathVerifier
    with MathVerifier(workers=workers, strict=strict, timeout_s=10) as v:
        rs = v.check_completions([(c["gold"], c["completion"]) for c in cases])
    return [bool(r.check and r.check.equivalent) for r in rs]


def report(name: str, cases: list[dict], ours: list[bool], mv: list[bool], show: str | None) -> dict:
    by = defaultdict(lambda: [0, 0, 0, 0])  # n, ours wrong, math-verify wrong, valid?
    for c, o, m in zip(cases, ours, mv):
        key = c["class"] + ("  [prose, unboxed]" if c.get("form") == "prose" else "")
        good = c["expect"] == "valid"
        row = by[(good, key)]
        row[0] += 1
        row[1] += o != good
        row[2] += m != good
        if show and (show == "all" or show in key) and o != good:
            print(f"    {'FR' if good else 'FA'} {key}: gold={c['gold']!r} completion={c['completion'][-120:]!r}")
    print(f"\n== {name}: {len(cases)} cases")
    totals = {}
    for good, what in ((True, "false rejects (right answers not VALID)"), (False, "false accepts (VALID)")):
        rows = sorted((k, v) for (g, k), v in by.items() if g == good)
        if not rows:
            continue
        print(f"  {what}:   ours / math-verify alone")
        for k, (n, o, m, _) in rows:
            print(f"    {k:<48} {n:>5}   {o:>4} ({100 * o / n:5.1f} %)   {m:>4} ({100 * m / n:5.1f} %)")
        boxed = [(n, o, m) for k, (n, o, m, _) in rows if "prose" not in k]
        n, o, m = (sum(x[i] for x in boxed) for i in range(3))
        if n:
            print(
                f"    {'TOTAL (boxed or bare)':<48} {n:>5}   {o:>4} ({100 * o / n:5.1f} %)   {m:>4} ({100 * m / n:5.1f} %)"
            )
        totals["FR" if good else "FA"] = (n, o, m)
    return totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose math checker is measured")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", help="only these sets (file stems, or math_attacks)")
    ap.add_argument("--show", help="print each misjudged case of classes containing this text ('all': every one)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))
    print(f"checker: {Path(checker_module().__file__).parent}")
    for name, cases in load_sets().items():
        if args.set and name not in args.set:
            continue
        t0 = time.perf_counter()
        ours = run(cases, args.workers, strict=True)
        mv = run(cases, args.workers, strict=False)
        report(name, cases, ours, mv, args.show)
        print(f"  ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
