"""Whole programs: `run` one Python program in a sandbox of its own, `run_many` over warm sandboxes (results in
order). The Ray executor's sandbox actors and the sandbox benchmark use them; the code domain judges through
`judge.JudgePool` instead."""

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor


from formalpi.domains.code.sandbox import Limits, RunResult, Sandbox


def run(
    program: str,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    *,
    limits: Limits | None = None,
    allow_weak: bool = False,
) -> RunResult:
    """Run `program` (Python source) in a sandbox of its own (started and ended here: nothing outlives the call);
    `limits` overrides timeout_s / memory_mb. Many programs: `run_many`, which keeps its sandboxes warm across them."""
    lim = limits or Limits(timeout_s=timeout_s, memory_mb=memory_mb)
    with Sandbox(lim, allow_weak=allow_weak) as sb:
        return sb.run_program(program, lim)


def run_many(
    programs: Sequence[str],
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    *,
    workers: int | None = None,
    limits: Limits | None = None,
    allow_weak: bool = False,
) -> list[RunResult]:
    """Run each program in a fresh child of a warm sandbox, `workers` sandboxes at a time; results in order."""
    lim = limits or Limits(timeout_s=timeout_s, memory_mb=memory_mb)
    workers = max(1, workers or os.cpu_count() or 1)
    sandboxes: list[Sandbox] = []
    free: list[Sandbox] = []
    lock = threading.Lock()

    def one(program: str) -> RunResult:
        with lock:
            sb = free.pop() if free else None
        if sb is None:
            sb = Sandbox(lim, allow_weak=allow_weak)
            with lock:
                sandboxes.append(sb)
        try:
            return sb.run_program(program, lim)
        finally:
            with lock:
                free.append(sb)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, programs))
    finally:
        for sb in sandboxes:
            sb.close()
