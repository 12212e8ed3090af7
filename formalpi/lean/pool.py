"""LeanPool: N REPL workers keyed by normalized header, with strict verdicts.

* Each worker sends its header once (`import Mathlib …`, no env → env 0); every proof runs with `"env": 0` and
  its `#print axioms` in the env that proof produced. Environments are never chained between proofs.
* `workers` slots in all. A request takes an idle worker of its header; else a free slot starts one; else the
  least-recently-used idle worker of another header is evicted for it; else the request waits (backpressure:
  a queue on a condition variable, never an error).
* A worker is retired after `max_uses` proofs or when its process tree's RSS passes `memory_limit_mb`; one that
  timed out, crashed or answered garbage is killed. Either way a replacement with the same header is started in
  the background, so the slot is refilled while other requests go on.
* Each request ends in exactly one verdict: a crash is retried `crash_retries` times on a fresh worker, then
  reported as CRASH. Verdicts are cached by hash(header, statement, proof) (TIMEOUT/CRASH are not cached:
  they say more about the machine than about the proof).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from formalpi.errors import ConfigError, FormalpiError, LeanUnavailable
from formalpi.lean import verdict as strict
from formalpi.lean.protocol import CommandReply, ReplError
from formalpi.lean.repl import LeanRepl, Outcome, ReplResult
from formalpi.records import Status, Verdict

DEFAULT_REPL_COMMAND = ("lake", "env", ".lake/packages/REPL/.lake/build/bin/repl")
DEFAULT_HEADER = "import Mathlib"


@dataclass
class LeanConfig:
    project_dir: Path | str = Path("lean_project")
    repl_command: Sequence[str] = DEFAULT_REPL_COMMAND  # argv, run in project_dir
    workers: int = 4
    timeout_s: float = 60.0  # wall-clock per proof (the axiom check gets its own `timeout_s`)
    max_uses: int = 100  # proofs per process before it is retired (REPL memory only grows)
    memory_limit_mb: float = 12_000.0  # RSS of the process tree above which a worker is retired
    address_space_mb: int | None = None  # RLIMIT_AS per process; None: unlimited (Lean maps .olean files)
    header_timeout_s: float = 600.0  # `import Mathlib` takes seconds to minutes on a cold machine
    prewarm_header: str | None = None  # started on `workers` slots at construction when set
    crash_retries: int = 1
    cache_size: int = 100_000
    check_axioms: bool = True
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables for the REPL
    canaries_per_batch: int = 0  # used by the canary selftest (another module)

    def __post_init__(self) -> None:
        self.project_dir = Path(self.project_dir)
        self.repl_command = list(self.repl_command)
        for name in ("workers", "max_uses"):
            if getattr(self, name) < 1:
                raise ConfigError(f"LeanConfig.{name} = {getattr(self, name)}: must be at least 1")
        for name in ("timeout_s", "memory_limit_mb", "header_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"LeanConfig.{name} = {getattr(self, name)}: must be positive")
        if not self.repl_command:
            raise ConfigError("LeanConfig.repl_command is empty: give the REPL argv, e.g. "
                              f"{list(DEFAULT_REPL_COMMAND)}")


def normalize_header(header: str) -> str:
    """Headers that differ only in blank lines or trailing spaces share workers."""
    return "\n".join(line.rstrip() for line in header.strip().splitlines() if line.strip())


def cache_key(header: str, statement: str, proof: str) -> str:
    h = hashlib.sha256()
    for part in (normalize_header(header), statement, proof):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


class WorkerState(str, Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"


@dataclass(eq=False)
class Worker:
    id: int
    header: str
    state: WorkerState = WorkerState.STARTING
    repl: LeanRepl | None = None
    header_env: int | None = None
    uses: int = 0
    last_used: float = 0.0
    start_error: str = ""  # why the start failed (then repl is None)
    launching: LeanRepl | None = None  # the process while its header loads, so close() can kill it


_NOT_CACHED = {Status.TIMEOUT, Status.CRASH}


class LeanInputError(FormalpiError, ValueError):
    """A malformed request to the pool (e.g. a verify_many item without 'statement')."""


class LeanPool:
    def __init__(self, config: LeanConfig) -> None:
        if not Path(config.project_dir).is_dir():  # checked here, not in LeanConfig: doctor builds configs first
            raise LeanUnavailable(f"LeanConfig.project_dir {config.project_dir} is not a directory: run "
                                  "`formalpi lean setup` or point project_dir at a built Lake project")
        self.config = config
        self._cond = threading.Condition()
        self._workers: list[Worker] = []
        self._ids = itertools.count()
        self._cache: OrderedDict[str, Verdict] = OrderedDict()
        self._closed = False
        self._batches = 0  # verify_many calls so far: seeds each batch's canary positions
        self._threads: list[threading.Thread] = []
        self.stats = {"verified": 0, "cache_hits": 0, "started": 0, "retired": 0, "killed": 0, "crash_retries": 0}
        if config.prewarm_header is not None:
            with self._cond:
                for _ in range(config.workers):
                    self._spawn(normalize_header(config.prewarm_header))

    # ---- public API -------------------------------------------------------------------------------------

    def verify(self, statement: str, proof: str, header: str = DEFAULT_HEADER, use_cache: bool = True) -> Verdict:
        """Check `proof` against the trusted `statement` under `header`; blocks while all workers are busy."""
        key = cache_key(header, statement, proof)
        with self._cond:
            hit = self._cache.get(key) if use_cache else None
            if hit is not None:
                self._cache.move_to_end(key)
                self.stats["cache_hits"] += 1
                return hit.model_copy(deep=True)
        prep = strict.prepare(statement, proof)
        if isinstance(prep, Verdict):
            out = prep
        else:
            out = self._check(normalize_header(header), prep)
        with self._cond:
            self.stats["verified"] += 1
            if use_cache and out.status not in _NOT_CACHED:
                self._cache[key] = out.model_copy(deep=True)
                if len(self._cache) > self.config.cache_size:
                    self._cache.popitem(last=False)
        return out

    def verify_many(self, items: Sequence[dict[str, Any]]) -> list[Verdict]:
        """One verdict per item (`{"statement", "proof", "header"?}`), in order; thread-safe.

        With `canaries_per_batch > 0`, known-true and known-false canaries are mixed into every batch and a
        misjudged one raises CanaryError (formalpi/lean/canary.py); canary verdicts are never returned.
        """
        if self.config.canaries_per_batch > 0:
            from formalpi.lean.canary import verify_with_canaries

            with self._cond:
                batch = self._batches
                self._batches += 1
            rng = random.Random(f"canaries|{batch}")
            return verify_with_canaries(self._verify_many, items, self.config.canaries_per_batch, rng)
        return self._verify_many(items)

    def _verify_many(self, items: Sequence[dict[str, Any]]) -> list[Verdict]:
        for i, it in enumerate(items):
            if "statement" not in it or "proof" not in it:
                raise LeanInputError(f"verify_many: item {i} needs keys 'statement' and 'proof' "
                                 f"(and optionally 'header'); got {sorted(it)}")
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(len(items), 2 * self.config.workers)) as ex:
            futs = [ex.submit(self.verify, it["statement"], it["proof"], it.get("header", DEFAULT_HEADER),
                              not it.get("canary", False)) for it in items]
            return [f.result() for f in futs]

    async def averify(self, statement: str, proof: str, header: str = DEFAULT_HEADER) -> Verdict:
        return await asyncio.to_thread(self.verify, statement, proof, header)

    def close(self) -> None:
        """Kill every worker's process group and wait for background starts; idempotent."""
        with self._cond:
            self._closed = True
            workers, self._workers = self._workers, []
            threads = list(self._threads)
            self._cond.notify_all()
        for w in workers:  # killing a launching process ends its header wait at once
            for r in (w.repl, w.launching):
                if r is not None:
                    r.kill()
        for t in threads:
            t.join(timeout=10)

    def __enter__(self) -> LeanPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def worker_pids(self) -> list[int]:
        with self._cond:
            return [w.repl.pid for w in self._workers if w.repl is not None]

    # ---- checking one proof -----------------------------------------------------------------------------

    def _check(self, header: str, prep: strict.PreparedProof) -> Verdict:
        t0 = time.monotonic()
        for attempt in range(self.config.crash_retries + 1):
            worker = self._acquire(header)
            res, axioms_res = self._run(worker, prep)
            if res.outcome is Outcome.OK and isinstance(res.reply, ReplError):  # the REPL lost its state
                res = ReplResult(Outcome.CRASH, raw=res.raw, detail=f"REPL error: {res.reply.message}")
            bad = res if res.outcome is not Outcome.OK else axioms_res
            self._release(worker, failed=bad is not None and bad.outcome is not Outcome.OK)
            if bad is not None and bad.outcome is not Outcome.OK:
                status = Status.TIMEOUT if bad.outcome is Outcome.TIMEOUT else Status.CRASH
                if status is Status.CRASH and attempt < self.config.crash_retries:
                    with self._cond:
                        self.stats["crash_retries"] += 1
                    continue
                return Verdict(status=status, reason=f"{bad.outcome.value}: {bad.detail}", answer=prep.body,
                               time_s=time.monotonic() - t0, worker_id=worker.id)
            axioms_reply = axioms_res.reply if axioms_res is not None else None
            v = strict.judge(prep, res.reply, axioms_reply)  # type: ignore[arg-type]
            if not self.config.check_axioms and v.status is Status.REJECTED and axioms_reply is None:
                v = v.model_copy(update={"status": Status.VALID, "score": 1.0, "reason": "axioms not checked"})
            return v.model_copy(update={"time_s": time.monotonic() - t0, "worker_id": worker.id})
        raise AssertionError("unreachable")

    def _run(self, worker: Worker, prep: strict.PreparedProof) -> tuple[ReplResult, ReplResult | None]:
        repl = worker.repl
        assert repl is not None
        res = repl.command(prep.cmd, worker.header_env, self.config.timeout_s)
        if res.outcome is not Outcome.OK or not self.config.check_axioms:
            return res, None
        reply = res.reply
        if not isinstance(reply, CommandReply) or reply.errors or reply.sorries or reply.env is None \
                or strict.has_sorry_warning(reply.messages):
            return res, None  # already not valid: no axiom check needed
        return res, repl.command(strict.axioms_command(prep.name), reply.env, self.config.timeout_s)

    # ---- workers ----------------------------------------------------------------------------------------

    def _acquire(self, header: str) -> Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise LeanUnavailable("LeanPool is closed")
                for w in self._workers:
                    if w.header == header and w.state is WorkerState.IDLE:
                        if w.repl is None:  # its start failed: free the slot and say why (typed, no hang)
                            self._workers.remove(w)
                            self._cond.notify_all()
                            raise LeanUnavailable(w.start_error)
                        w.state = WorkerState.BUSY
                        return w
                mine = [w for w in self._workers if w.header == header]
                if len(self._workers) < self.config.workers:
                    self._spawn(header)
                elif not mine:
                    others = [w for w in self._workers if w.state is WorkerState.IDLE]
                    if others:  # least-recently-used eviction of another header's worker
                        victim = min(others, key=lambda w: w.last_used)
                        self._workers.remove(victim)
                        self._kill_later(victim)
                        self._spawn(header)
                self._cond.wait()

    def _release(self, worker: Worker, failed: bool) -> None:
        worker.uses += 1
        worker.last_used = time.monotonic()
        retire = failed or worker.uses >= self.config.max_uses or not worker.repl.alive  # type: ignore[union-attr]
        if not retire and worker.repl.rss_mb() > self.config.memory_limit_mb:  # type: ignore[union-attr]
            retire = True
        with self._cond:
            if not retire:
                worker.state = WorkerState.IDLE
                self._cond.notify_all()
                return
            self.stats["killed" if failed else "retired"] += 1
            if worker in self._workers:
                self._workers.remove(worker)
                if not self._closed:
                    self._spawn(worker.header)  # background replacement keeps the slot
            self._cond.notify_all()
        self._kill_later(worker)

    def _kill_later(self, worker: Worker) -> None:
        if worker.repl is not None:
            worker.repl.kill()

    def _spawn(self, header: str) -> None:
        """Start a worker for `header` in the background (caller holds the lock)."""
        w = Worker(id=next(self._ids), header=header)
        self._workers.append(w)
        self.stats["started"] += 1
        t = threading.Thread(target=self._start_worker, args=(w,), daemon=True, name=f"lean-worker-{w.id}")
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _start_worker(self, w: Worker) -> None:
        cfg = self.config
        repl: LeanRepl | None = None
        error = ""
        env: int | None = None
        try:
            repl = LeanRepl(cfg.repl_command, cfg.project_dir, address_space_mb=cfg.address_space_mb, env=cfg.env)
            with self._cond:
                w.launching = repl
                if self._closed:
                    repl.kill()
            if w.header:
                res = repl.command(w.header, None, cfg.header_timeout_s)
                if res.outcome is not Outcome.OK or not isinstance(res.reply, CommandReply) or res.reply.errors:
                    why = res.detail if res.outcome is not Outcome.OK else (
                        res.reply.message if isinstance(res.reply, ReplError)
                        else "; ".join(m.data for m in res.reply.errors))  # type: ignore[union-attr]
                    error = (f"the header failed to load ({why[:300]}); check the header and that the Lake "
                             f"project {cfg.project_dir} is built (`formalpi lean doctor`)")
                    repl.kill()
                    repl = None
                else:
                    env = res.reply.env
        except LeanUnavailable as e:
            error = str(e)
            repl = None
        with self._cond:
            if self._closed or w not in self._workers:
                if repl is not None:
                    repl.kill()
                return
            w.repl, w.header_env, w.start_error = repl, env, error
            w.state = WorkerState.IDLE
            w.last_used = time.monotonic()
            self._cond.notify_all()
