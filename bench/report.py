"""Time the full report on a synthetic store: 40 conditions × 3 seeds × 500 problems (target: < 10 s).

.venv/bin/python bench/report.py [--conditions 40] [--seeds 3] [--problems 500] [--n 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from formalpi.analysis.report import ReportOptions, build_report, save_report
from formalpi.analysis.synthetic import synthetic_store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conditions", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--n", type=int, default=4, help="eval samples per problem")
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        # 40 conditions = the baseline + 39 PI conditions
        paths = synthetic_store(
            Path(tmp) / "runs",
            conditions=[f"cond{i:02d}" for i in range(args.conditions - 1)],
            seeds=[42 + i for i in range(args.seeds)],
            problems=args.problems,
            n=args.n,
            gain=0.002,
        )
        t1 = time.perf_counter()
        c1 = time.process_time()  # CPU time: the wall clock on a shared 2-core box also counts other people's work
        opts = ReportOptions(n_boot=args.n_boot)
        groups, diversity = build_report([Path(tmp) / "runs"], opts)
        t2 = time.perf_counter()
        path = save_report(groups, diversity, Path(tmp) / "runs", opts)
        t3 = time.perf_counter()
        c3 = time.process_time()
        print(f"store: {len(paths)} runs x {args.problems} problems x n={args.n} written in {t1 - t0:.2f} s")
        print(f"analysis (read + stats + frontier + levels + diversity): {t2 - t1:.2f} s")
        print(f"markdown + 5 PNG plots: {t3 - t2:.2f} s")
        print(
            f"write_report total: {t3 - t1:.2f} s wall, {c3 - c1:.2f} s CPU  ({path.stat().st_size} bytes of markdown)"
        )


if __name__ == "__main__":
    main()
