"""LeanPool throughput and per-proof overhead against the REPL double at a fixed latency; pre-check and reply
reading costs.

    .venv/bin/python bench/lean_pool.py [--proofs 2000] [--workers 1,2,4,8] [--latency-ms 20]
                                        [--crash-rate 0.05] [--hang-rate 0.01] [--timeout-s 0.5] [--seed 0]
                                        [--reply-mb 10]

Clean runs: every proof is distinct (no cache hits) and answered after `latency-ms` by the double. Each proof is
ONE command: the proof plus the verifier's type check and `#print axioms` (round trips per proof are counted).
  throughput = proofs / wall; ideal = workers / latency; efficiency = throughput / ideal;
  overhead per proof = wall × workers / proofs − latency (the pool's and the pipes' time per proof per worker);
  pool-only = wall × workers / proofs − the bare floor (one LeanRepl driven directly, same two round trips).
Fault run (largest worker count): `crash-rate` of the proofs make the double crash mid-reply (retried once,
then CRASH), `hang-rate` make it hang (TIMEOUT after `timeout-s`); every request must end in exactly one verdict.
Pre-check: `verdict.prepare` on proofs of 16/32/64 KB of three shapes (tactic lines, nested comments, strings), and
on a 440 KB input of tactic lines with the size limit raised: µs per KB at each size shows it is linear.
Reply reading: one `--reply-mb` reply through LeanRepl; and small proofs on a second worker while the first reads
it (their rate next to the same proofs alone, measured in the same run).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from formalpi.lean import verdict as strict  # noqa: E402
from formalpi.lean.pool import LeanConfig, LeanPool  # noqa: E402
from formalpi.lean.repl import LeanRepl  # noqa: E402
from formalpi.records import Status  # noqa: E402

HEADER = "import Mathlib"


def items(n: int, marks: list[str]) -> list[dict]:
    return [
        {
            "statement": f"theorem bench_{i} (x : ℕ) (h : x = 2) : x + 1 = {i} := by\n",
            "proof": f"omega -- double:{marks[i]}",
            "header": HEADER,
        }
        for i in range(n)
    ]


def make_pool(workers: int, latency_ms: float, timeout_s: float) -> LeanPool:
    cfg = LeanConfig(
        project_dir=Path.cwd(),
        workers=workers,
        timeout_s=timeout_s,
        max_uses=10_000,
        repl_command=[sys.executable, "-m", "formalpi.lean.double", "--latency-ms", str(latency_ms)],
        prewarm_header=HEADER,
        crash_retries=1,
        replay=False,
    )  # the REPL pool's own mechanics; bench/lean_replay.py measures the replay
    pool = LeanPool(cfg)
    pool.verify_many(items(workers, [f"ok warmup{k}" for k in range(workers)]))  # wait until warm
    return pool


class RoundTrips:
    """Counts requests sent to every REPL (LeanRepl.send), to report REPL round trips per proof."""

    n = 0
    _send = LeanRepl.send

    @classmethod
    def install(cls) -> None:
        def send(self, request, timeout_s):
            cls.n += 1
            return cls._send(self, request, timeout_s)

        LeanRepl.send = send


def bare_floor(latency_ms: float, n: int = 300) -> float:
    """Seconds per proof of one LeanRepl driven directly (the same one command per proof, no pool): the floor
    that the double, the pipes and the OS scheduler set, against which the pool's own overhead is measured."""
    with LeanRepl([sys.executable, "-m", "formalpi.lean.double", "--latency-ms", str(latency_ms)], Path.cwd()) as r:
        r.command(HEADER, None, 10)
        preps = [strict.prepare(it["statement"], it["proof"]) for it in items(n, ["ok"] * n)]
        t0 = time.perf_counter()
        for p in preps:
            r.command(p.cmd, 0, 10)
        return (time.perf_counter() - t0) / n


def precheck_table(console: Console) -> None:
    stmt = "theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
    shapes = {
        "tactic lines": "  norm_num\n",
        "nested comments": "  /- a /- b -/ c -/ omega\n",
        "strings": '  have _s : "ab\\"c" = "ab\\"c" := rfl\n',
    }
    table = Table(
        title="pre-check (verdict.prepare) CPU time, best of 3 (CPU: the shared machine's load inflates wall time)"
    )
    for col in ("shape", "16 KB ms", "32 KB ms", "64 KB ms", "µs/KB at 16 / 64 KB"):
        table.add_column(col, justify="right")
    for name, line in shapes.items():
        ms = []
        for kb in (16, 32, 64):
            text = line * (kb * 1024 // len(line.encode()) - 1)
            best = float("inf")
            for _ in range(3):
                t0 = time.process_time()
                out = strict.prepare(stmt, text)
                best = min(best, time.process_time() - t0)
            ms.append(best * 1000)
            assert isinstance(out, strict.PreparedProof), out
        table.add_row(name, *(f"{m:.1f}" for m in ms), f"{ms[0] / 16 * 1000:.0f} / {ms[2] / 64 * 1000:.0f}")
    console.print(table)
    big = "by\n" + "  norm_num\n" * 40_000
    t0 = time.process_time()
    strict.prepare(stmt, big, max_bytes=1 << 20)
    t_big = time.process_time() - t0
    t0 = time.perf_counter()
    v = strict.prepare(stmt, big)
    console.print(
        f"440 KB of tactic lines: {t_big * 1000:.0f} ms CPU with the limit raised to 1 MB; "
        f"{(time.perf_counter() - t0) * 1e6:.0f} µs to refuse it at the default limit ({v.status.value})"
    )


def reply_read(console: Console, mb: float, latency_ms: float) -> None:
    argv = [sys.executable, "-m", "formalpi.lean.double", "--latency-ms", str(latency_ms)]
    with LeanRepl(argv, Path.cwd()) as r:
        r.command(HEADER, None, 10)
        t0, c0 = time.perf_counter(), time.thread_time()
        res = r.command(f"theorem x : True := trivial -- double:ok double:bigreply={mb:g}", 0, 120)
        t_read, c_read = time.perf_counter() - t0, time.thread_time() - c0
    console.print(
        f"one {mb:g} MB reply through LeanRepl: {res.outcome.value}, {t_read:.2f} s wall (the double "
        f"building and writing it included), {c_read:.2f} s CPU in the reading thread"
    )
    small = items(200, ["ok"] * 200)
    with make_pool(2, latency_ms, timeout_s=60.0) as pool:
        t0 = time.perf_counter()
        for it in small[:100]:  # one at a time, as below
            pool.verify(**it)
        alone = time.perf_counter() - t0
        big = {
            "statement": "theorem big : True := by\n",
            "header": HEADER,
            "proof": f"trivial -- double:ok double:bigreply={mb:g}",
        }
        import threading

        th = threading.Thread(target=pool.verify, kwargs=big)
        th.start()
        time.sleep(0.05)
        t0 = time.perf_counter()
        for it in small[100:]:  # they go to the worker that is not reading the big reply
            pool.verify(**it)
        beside = time.perf_counter() - t0
        th.join()
    console.print(
        f"100 small proofs one by one on 2 workers: {alone:.2f} s alone, {beside:.2f} s while the other "
        f"worker's {mb:g} MB reply is written and read"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proofs", type=int, default=2000)
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--crash-rate", type=float, default=0.05)
    ap.add_argument("--hang-rate", type=float, default=0.01)
    ap.add_argument("--timeout-s", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reply-mb", type=float, default=10.0)
    args = ap.parse_args()
    console = Console(width=120)
    lat = args.latency_ms / 1000.0
    n = args.proofs

    table = Table(title=f"LeanPool vs REPL double: {n} proofs, {args.latency_ms:g} ms per proof")
    floor = bare_floor(args.latency_ms)
    for col in (
        "workers",
        "wall s",
        "proofs/s",
        "ideal/s",
        "efficiency",
        "overhead ms/proof",
        "pool-only ms/proof",
        "round trips/proof",
        "answered",
    ):
        table.add_column(col, justify="right")
    worker_counts = [int(w) for w in args.workers.split(",")]
    RoundTrips.install()
    for w in worker_counts:
        with make_pool(w, args.latency_ms, timeout_s=10.0) as pool:
            batch = items(n, ["ok"] * n)
            sent = RoundTrips.n
            t0 = time.perf_counter()
            verdicts = pool.verify_many(batch)
            wall = time.perf_counter() - t0
            trips = (RoundTrips.n - sent) / n
        ok = sum(v.status is Status.VALID for v in verdicts)
        tput, ideal = n / wall, w / lat
        table.add_row(
            str(w),
            f"{wall:.2f}",
            f"{tput:.1f}",
            f"{ideal:.1f}",
            f"{tput / ideal:.1%}",
            f"{(wall * w / n - lat) * 1000:.2f}",
            f"{(wall * w / n - floor) * 1000:.2f}",
            f"{trips:.2f}",
            f"{ok}/{n} valid",
        )
    console.print(table)
    console.print("LeanConfig.replay = false in these pool runs (REPL mechanics only; see bench/lean_replay.py)")
    console.print(
        f"bare LeanRepl floor (one round trip per proof, no pool): {floor * 1000:.2f} ms/proof "
        f"= latency {args.latency_ms:g} ms + {(floor - lat) * 1000:.2f} ms (double, pipes, scheduler); "
        "pool-only = overhead above that floor"
    )

    rng = random.Random(args.seed)
    marks = []
    for _ in range(n):
        r = rng.random()
        marks.append("crash" if r < args.crash_rate else "hang" if r < args.crash_rate + args.hang_rate else "ok")
    expected = Counter({"crash": Status.CRASH, "hang": Status.TIMEOUT, "ok": Status.VALID}[m] for m in marks)
    w = max(worker_counts)
    with make_pool(w, args.latency_ms, timeout_s=args.timeout_s) as pool:
        t0 = time.perf_counter()
        verdicts = pool.verify_many(items(n, marks))
        wall = time.perf_counter() - t0
        stats = dict(pool.stats)
    got = Counter(v.status for v in verdicts)
    mismatched = sum(
        v.status is not {"crash": Status.CRASH, "hang": Status.TIMEOUT, "ok": Status.VALID}[m]
        for v, m in zip(verdicts, marks)
    )
    faults = Table(
        title=f"Faults: {w} workers, {args.crash_rate:.0%} crashes, {args.hang_rate:.0%} hangs "
        f"(timeout {args.timeout_s:g} s)"
    )
    for col in ("status", "expected", "got"):
        faults.add_column(col, justify="right")
    for st in (Status.VALID, Status.CRASH, Status.TIMEOUT):
        faults.add_row(st.value, str(expected[st]), str(got[st]))
    console.print(faults)
    console.print(
        f"requests {n}, verdicts {len(verdicts)}, lost {n - len(verdicts)}, "
        f"wrong status {mismatched}, wall {wall:.2f} s; pool stats {stats}"
    )
    precheck_table(console)
    reply_read(console, args.reply_mb, args.latency_ms)
    if len(verdicts) != n or mismatched:
        sys.exit(1)


if __name__ == "__main__":
    main()
