"""Cost per proof of the replay of VALID verdicts (formalpi/lean/replay.py) on its SCRIPTED stand-in, and the
replay pipeline on the 98 recorded real proofs that real Lean accepted.

    .venv/bin/python bench/lean_replay.py [--proofs 120] [--samples 4] [--workers 1,2]

No Lean runs here: the stand-in (formalpi/lean/replay_double.py) does no kernel work, so these numbers are the
replay's own orchestration (writing files, three bounded processes per proof, reading SafeVerify's output) with
a Python process standing in for `lean` and `safe_verify`. Real SafeVerify imports the header (Mathlib) once
for the target and once for the submission per call, and `lean -o` elaborates the proof again: its real cost per
proof is unmeasured.

1. `--proofs` distinct statements, `--samples` proofs each (the target is compiled once per statement):
   through LeanPool with the REPL double (no latency) with replay off and on, same batch; extra wall per proof.
2. The Replayer alone: mean seconds per proof per stage over `--workers` settings.
3. The 98 recorded Goedel-Prover proofs (real REPL replies) through the pool with the stand-in: how many stay
   VALID (a wrong target file, theorem name or submission extraction would turn them into findings or crashes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from formalpi.lean.pool import LeanConfig, LeanPool  # noqa: E402
from formalpi.lean.replay import Replayer, ReplayRequest, ReplaySettings, standin_commands  # noqa: E402
from formalpi.records import Status  # noqa: E402

HEADER = "import Mathlib"
DOUBLE = [sys.executable, "-m", "formalpi.lean.double"]


def items(n: int, samples: int) -> list[dict]:
    return [
        {
            "statement": f"theorem bench_{i} (x : ℕ) (h : x = 2) : x + 1 = {i} := by\n",
            "proof": f"omega -- double:ok sample {k}",
            "header": HEADER,
        }
        for i in range(n)
        for k in range(samples)
    ]


def pool_overhead(console: Console, n: int, samples: int, workers: int) -> None:
    batch = items(n, samples)
    table = Table(
        title=f"LeanPool + replay stand-in: {len(batch)} VALID proofs ({n} statements x {samples}), "
        f"{workers} REPL workers, replay_workers={workers}"
    )
    for col in ("replay", "wall s", "ms/proof", "replayed", "valid"):
        table.add_column(col, justify="right")
    walls = {}
    for on in (False, True):
        cfg = LeanConfig(
            project_dir=ROOT,
            repl_command=DOUBLE,
            workers=workers,
            timeout_s=30.0,
            replay=on,
            replay_workers=workers,
            prewarm_header=HEADER,
            **standin_commands(),
        )
        with LeanPool(cfg) as pool:
            pool.verify_many(
                [{"statement": "theorem w : True := by\n", "proof": "trivial -- double:ok", "header": HEADER}]
            )  # warm
            t0 = time.perf_counter()
            v = pool.verify_many(batch)
            walls[on] = time.perf_counter() - t0
            replayed = pool.stats["replayed"]
        table.add_row(
            "on (stand-in)" if on else "off",
            f"{walls[on]:.2f}",
            f"{walls[on] / len(batch) * 1000:.1f}",
            str(replayed),
            f"{sum(x.status is Status.VALID for x in v)}/{len(batch)}",
        )
    console.print(table)
    console.print(
        f"replay adds {(walls[True] - walls[False]) / len(batch) * 1000:.1f} ms of wall per proof "
        f"on the stand-in ({workers} at a time; the target is compiled once per statement)"
    )


def replayer_stages(console: Console, n: int, worker_counts: list[int]) -> None:
    table = Table(title=f"Replayer alone on the stand-in: {n} distinct statements, one proof each")
    for col in ("replay workers", "wall s", "ms/proof (wall)", "mean ms/proof (per request)", "p90 ms", "outcomes"):
        table.add_column(col, justify="right")
    for w in worker_counts:
        s = standin_commands()
        r = Replayer(
            ReplaySettings(
                project_dir=ROOT,
                compile_command=s["replay_compile_command"],
                replay_command=s["replay_command"],
                workers=w,
            )
        )
        reqs = [
            ReplayRequest(
                HEADER,
                f"theorem s{i} (x : ℕ) (h : x = 2) : x + 1 = {i} := by\n",
                f"s{i}",
                f"theorem s{i} (x : ℕ) (h : x = 2) : x + 1 = {i} := by\n  omega\n",
            )
            for i in range(n)
        ]
        try:
            t0 = time.perf_counter()
            res = r.replay_many(reqs)
            wall = time.perf_counter() - t0
        finally:
            r.close()
        times = sorted(x.time_s for x in res)
        table.add_row(
            str(w),
            f"{wall:.2f}",
            f"{wall / n * 1000:.1f}",
            f"{statistics.mean(times) * 1000:.1f}",
            f"{times[int(0.9 * (n - 1))] * 1000:.1f}",
            str(dict(Counter(x.outcome.value for x in res))),
        )
    console.print(table)


def recorded(console: Console) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from tests.test_lean_attacks import _accepted_recorded
    from tests.conftest import shared_path

    root = shared_path("lean", "recorded-mathlib-checks")
    its = [{"header": h, "statement": s, "proof": d} for _, h, s, d in _accepted_recorded()]
    cfg = LeanConfig(
        project_dir=ROOT,
        workers=2,
        timeout_s=10.0,
        replay_workers=2,
        **standin_commands(),
        repl_command=[*DOUBLE, "--mathlib-checks", str(root), "--latency-scale", "0.001"],
    )
    t0 = time.perf_counter()
    with LeanPool(cfg) as pool:
        v = pool.verify_many(its)
        stats = dict(pool.stats)
    wall = time.perf_counter() - t0
    counts = Counter(x.status.value for x in v)
    console.print(
        f"{len(its)} recorded real proofs (Goedel-Prover, accepted by real Lean) through the pool with the "
        f"replay stand-in: {dict(counts)}; replayed {stats['replayed']}, findings "
        f"{stats['replay_findings']}, failures {stats['replay_failures']}; {wall:.1f} s"
    )
    for x in v:
        if x.status is not Status.VALID:
            console.print(f"  not valid: {x.reason[:160]}")


def process_floor(console: Console, n: int = 10) -> None:
    import subprocess

    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run([*standin_commands()["replay_command"], "--help"], capture_output=True)
    per = (time.perf_counter() - t0) / n
    console.print(
        f"floor: one stand-in process (start Python, import, exit) takes {per * 1000:.0f} ms on this "
        f"machine now; a replay is three of them (target compile once per statement, submission "
        f"compile, safe_verify)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proofs", type=int, default=120)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    console = Console(width=130)
    ws = [int(w) for w in args.workers.split(",")]
    console.print(
        "SCRIPTED stand-in for `lake env lean` and SafeVerify: no kernel work is measured here; the real "
        "cost per proof (three processes that each import the header) is unmeasured."
    )
    process_floor(console)
    pool_overhead(console, args.proofs // args.samples, args.samples, max(ws))
    replayer_stages(console, args.proofs, ws)
    recorded(console)


if __name__ == "__main__":
    main()
