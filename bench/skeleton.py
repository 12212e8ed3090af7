"""Skeletons per second over the 102 recorded Goedel-Prover proofs (../shared/lean/recorded-mathlib-checks).

Run: .venv/bin/python bench/skeleton.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from formalpi.lean.skeleton import SkeletonParseError, skeleton_of

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "lean" / "recorded-mathlib-checks" / "input"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5, help="passes over the corpus")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    args = ap.parse_args()
    texts = [f.read_text(encoding="utf-8") for f in sorted(args.corpus.glob("*.lean"))]
    if not texts:
        raise SystemExit(f"no .lean files in {args.corpus}")
    chars = sum(map(len, texts))
    passes, refused = [], 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for t in texts:
            try:
                sk = skeleton_of(t)
                sk.graph.summary()
                sk.to_lean()
            except SkeletonParseError:
                refused += 1
        passes.append(time.perf_counter() - t0)
    best, med = min(passes), statistics.median(passes)
    print(f"files: {len(texts)}  chars: {chars}  refused: {refused // args.repeat}  passes: {args.repeat}")
    print(
        f"skeleton+graph+to_lean per file: median {1000 * med / len(texts):.2f} ms, best {1000 * best / len(texts):.2f} ms"
    )
    print(f"throughput: {len(texts) / med:.0f} skeletons/s (median pass), {len(texts) / best:.0f}/s (best pass)")


if __name__ == "__main__":
    main()
