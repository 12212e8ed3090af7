"""LeanPool: N REPL workers keyed by normalized header, with strict verdicts.

* Each worker sends its header once (`import Mathlib …`, no env → env 0); every proof is ONE command with
  `"env": 0`: helpers, the trusted statement with the model's body, then the type and axiom checks
  (formalpi.lean.verdict). Environments are never chained between proofs. Each reply must carry the env number
  the REPL gives that worker's next command; a reply out of step kills the worker and the proof is retried.
* `workers` slots in all. A request takes an idle worker of its header; else a free slot starts one; else the
  least-recently-used idle worker of another header is evicted for it; else the request waits (backpressure:
  a queue on a condition variable) for at most `acquire_timeout_s`, then raises LeanUnavailable.
* A worker is retired after `max_uses` proofs or when its process tree's RSS passes `memory_limit_mb`; one that
  timed out, crashed or answered garbage is killed. Either way a replacement with the same header is started in
  the background, so the slot is refilled while other requests go on.
* Each request ends in exactly one verdict: a crash is retried `crash_retries` times on a fresh worker, then
  reported as CRASH; bad input (not text, lone surrogates, over `max_proof_bytes`) is a REJECTED verdict for that
  item alone. A cancelled `averify` kills its worker at once (a replacement starts). Verdicts are cached by hash(header, statement, proof) (TIMEOUT/CRASH are not cached:
  they say more about the machine than about the proof).
* Every VALID verdict from the REPL is then replayed in processes the proof never ran in (formalpi/lean/replay.py:
  SafeVerify on the compiled .olean files; batched per `verify_many`): a finding makes it REJECTED ("replay: …"),
  a failure of the replay itself CRASH. `replay=False` turns this off; runs record it and every report table
  says so.
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
from formalpi.lean.replay import (
    DEFAULT_COMPILE_COMMAND,
    DEFAULT_REPLAY_COMMAND,
    Replayer,
    ReplayOutcome,
    ReplayRequest,
    ReplaySettings,
    request_for,
)
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
    acquire_timeout_s: float = 900.0  # longest wait for a free worker before LeanUnavailable
    max_proof_bytes: int = 64 * 1024  # longer proof text is REJECTED before any other check
    # Replay of VALID verdicts (formalpi/lean/replay.py). Off only when set False; runs then carry a warning.
    replay: bool = True
    replay_compile_command: Sequence[str] = DEFAULT_COMPILE_COMMAND  # argv + ["-o", OLEAN, SOURCE], in project_dir
    replay_command: Sequence[str] = DEFAULT_REPLAY_COMMAND  # argv + [TARGET_OLEAN, SUBMISSION_OLEAN]
    replay_timeout_s: float = 300.0  # per process (each imports the header: seconds to minutes)
    replay_memory_mb: float = 16_000.0  # RSS of each replay process tree
    replay_workers: int = 2  # proofs replayed at once

    def __post_init__(self) -> None:
        self.project_dir = Path(self.project_dir)
        self.repl_command = list(self.repl_command)
        self.replay_compile_command = list(self.replay_compile_command)
        self.replay_command = list(self.replay_command)
        if not isinstance(self.replay, bool):
            raise ConfigError(f"LeanConfig.replay = {self.replay!r}: must be true or false")
        for name in ("workers", "max_uses", "replay_workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"LeanConfig.{name} = {getattr(self, name)}: must be at least 1")
        for name in (
            "timeout_s",
            "memory_limit_mb",
            "header_timeout_s",
            "acquire_timeout_s",
            "max_proof_bytes",
            "replay_timeout_s",
            "replay_memory_mb",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"LeanConfig.{name} = {getattr(self, name)}: must be positive")
        if not self.repl_command:
            raise ConfigError(
                f"LeanConfig.repl_command is empty: give the REPL argv, e.g. {list(DEFAULT_REPL_COMMAND)}"
            )
        for name, default in (
            ("replay_compile_command", DEFAULT_COMPILE_COMMAND),
            ("replay_command", DEFAULT_REPLAY_COMMAND),
        ):
            if self.replay and not getattr(self, name):
                raise ConfigError(
                    f"LeanConfig.{name} is empty: give its argv, e.g. {list(default)}, or set replay=False"
                )

    def replay_settings(self) -> ReplaySettings:
        return ReplaySettings(
            project_dir=Path(self.project_dir),
            compile_command=self.replay_compile_command,
            replay_command=self.replay_command,
            timeout_s=self.replay_timeout_s,
            memory_limit_mb=self.replay_memory_mb,
            workers=self.replay_workers,
        )


def normalize_header(header: str) -> str:
    """Headers that differ only in blank lines or trailing spaces share workers."""
    return "\n".join(line.rstrip() for line in header.strip().splitlines() if line.strip())


def cache_key(header: str, statement: str, proof: str, kind: str = "proof") -> str:
    h = hashlib.sha256()
    for part in (kind, normalize_header(header), statement, proof):
        h.update(str(part).encode("utf-8", "surrogatepass"))  # lone surrogates hash too (the pre-check refuses them)
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
    next_env: int | None = None  # the env number the next reply must carry (replies matched to requests)


class _Request:
    """One in-flight check, so that `averify`'s cancellation can find and kill its worker."""

    def __init__(self) -> None:
        self.cancelled = False
        self.worker: Worker | None = None


_NOT_CACHED = {Status.TIMEOUT, Status.CRASH}


@dataclass
class _Pending:
    """One request between the REPL's verdict and the replay: `replay` is set for a VALID verdict to replay."""

    verdict: Verdict
    key: str
    cacheable: bool  # use_cache and not a cache hit
    replay: ReplayRequest | None
    hit: bool = False  # came from the cache


class LeanInputError(FormalpiError, ValueError):
    """A malformed request to the pool (e.g. a verify_many item without 'statement')."""


class LeanPool:
    def __init__(self, config: LeanConfig) -> None:
        if not Path(config.project_dir).is_dir():  # checked here, not in LeanConfig: doctor builds configs first
            raise LeanUnavailable(
                f"LeanConfig.project_dir {config.project_dir} is not a directory: run "
                "`formalpi lean setup` or point project_dir at a built Lake project"
            )
        self.config = config
        self._cond = threading.Condition()
        self._workers: list[Worker] = []
        self._ids = itertools.count()
        self._cache: OrderedDict[str, Verdict] = OrderedDict()
        self._closed = False
        self._batches = 0  # verify_many calls so far: seeds each batch's canary positions
        self._threads: list[threading.Thread] = []
        self.stats = {
            "verified": 0,
            "cache_hits": 0,
            "started": 0,
            "retired": 0,
            "killed": 0,
            "crash_retries": 0,
            "cancelled": 0,
            "env_mismatches": 0,
            "replayed": 0,
            "replay_findings": 0,
            "replay_failures": 0,
        }
        self._replay: Replayer | None = None
        if config.prewarm_header is not None:
            with self._cond:
                for _ in range(config.workers):
                    self._spawn(normalize_header(config.prewarm_header))

    # ---- public API -------------------------------------------------------------------------------------

    def verify(self, statement: str, proof: str, header: str = DEFAULT_HEADER, use_cache: bool = True) -> Verdict:
        """Check `proof` against the trusted `statement` under `header`; blocks while all workers are busy (at
        most `acquire_timeout_s`, then LeanUnavailable)."""
        return self._verify("proof", statement, proof, header, use_cache, None)

    def check(self, code: str, header: str | None = None, use_cache: bool = True) -> Verdict:
        """Check any Lean code with its own theorems, with the same strict verdicts: the whitelist (theorem/lemma/
        example declarations, `open … in`, `set_option … in`), no error, no sorry, and every declared theorem's
        axioms within propext/Classical.choice/Quot.sound. `header=None` takes the code's own imports (its module
        header, read as Lean does) as the header (default "import Mathlib" when it has none); its file-level `open`/
        whitelisted `set_option` lines are scoped to the declarations after them (`verdict.read_file_header`)."""
        if header is None and isinstance(code, str):
            header = strict.module_header(code) or DEFAULT_HEADER
        return self._verify("code", "", code, header, use_cache, None)

    def _verify(
        self, kind: str, statement: str, proof: str, header: str, use_cache: bool, request: _Request | None
    ) -> Verdict:
        return self._finish([self._judge(kind, statement, proof, header, use_cache, request)])[0]

    def _judge(
        self, kind: str, statement: str, proof: str, header: str, use_cache: bool, request: _Request | None
    ) -> _Pending:
        """The pre-check and the REPL's verdict; the replay (for a VALID one) is left to `_finish`."""
        key = cache_key(header, statement, proof, kind)
        with self._cond:
            hit = self._cache.get(key) if use_cache else None
            if hit is not None:
                self._cache.move_to_end(key)
                self.stats["cache_hits"] += 1
                return _Pending(hit.model_copy(deep=True), key, False, None, hit=True)
        cfg = self.config
        if not isinstance(header, str):
            prep: strict.PreparedProof | Verdict = strict.rejected(proof, "header must be text")
        elif kind == "code":
            prep = strict.prepare_code(proof, header, max_bytes=cfg.max_proof_bytes)
        else:
            prep = strict.prepare(
                statement, proof, header, max_bytes=cfg.max_proof_bytes, check_axioms=cfg.check_axioms
            )
        replay = None
        if isinstance(prep, Verdict):
            out = prep
        else:
            out = self._check(normalize_header(header), prep, request or _Request())
            if out.status is Status.VALID and cfg.replay:
                replay = request_for(prep, header, statement if kind == "proof" else None)
        return _Pending(out, key, use_cache, replay)

    def _finish(self, pending: Sequence[_Pending]) -> list[Verdict]:
        """Replay the VALID ones in one batch, then count and cache every verdict."""
        todo = [p for p in pending if p.replay is not None]
        if todo:
            results = self._replayer().replay_many([p.replay for p in todo])  # type: ignore[misc]
            with self._cond:
                self.stats["replayed"] += len(todo)
                self.stats["replay_findings"] += sum(r.outcome is ReplayOutcome.FINDING for r in results)
                self.stats["replay_failures"] += sum(r.outcome is ReplayOutcome.TOOL_FAILURE for r in results)
            for p, r in zip(todo, results, strict=True):
                if r.outcome is ReplayOutcome.FINDING:
                    p.verdict = p.verdict.model_copy(
                        update={
                            "status": Status.REJECTED,
                            "score": 0.0,
                            "reason": f"replay: {r.reason}",
                            "time_s": p.verdict.time_s + r.time_s,
                        }
                    )
                elif r.outcome is ReplayOutcome.TOOL_FAILURE:
                    p.verdict = p.verdict.model_copy(
                        update={
                            "status": Status.CRASH,
                            "score": 0.0,
                            "reason": f"replay failed ({r.stage}): {r.reason}",
                            "time_s": p.verdict.time_s + r.time_s,
                        }
                    )
                else:
                    p.verdict = p.verdict.model_copy(update={"time_s": p.verdict.time_s + r.time_s})
        with self._cond:
            for p in pending:
                if not p.hit:
                    self.stats["verified"] += 1
                if p.cacheable and p.verdict.status not in _NOT_CACHED:
                    self._cache[p.key] = p.verdict.model_copy(deep=True)
                    if len(self._cache) > self.config.cache_size:
                        self._cache.popitem(last=False)
        return [p.verdict for p in pending]

    def _replayer(self) -> Replayer:
        with self._cond:
            if self._replay is None:
                self._replay = Replayer(self.config.replay_settings())
            return self._replay

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
                raise LeanInputError(
                    f"verify_many: item {i} needs keys 'statement' and 'proof' "
                    f"(and optionally 'header'); got {sorted(it)}"
                )
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(len(items), 2 * self.config.workers)) as ex:
            futs = [
                ex.submit(
                    self._judge,
                    "proof",
                    it["statement"],
                    it["proof"],
                    it.get("header", DEFAULT_HEADER),
                    not it.get("canary", False),
                    None,
                )
                for it in items
            ]
            return self._finish([f.result() for f in futs])

    async def averify(
        self, statement: str, proof: str, header: str = DEFAULT_HEADER, use_cache: bool = True
    ) -> Verdict:
        """`verify` for asyncio. Cancelling the awaiting task kills the worker that is checking this proof (a
        replacement starts in the background), so an abandoned check does not hold a worker until its timeout."""
        request = _Request()
        try:
            return await asyncio.to_thread(self._verify, "proof", statement, proof, header, use_cache, request)
        except asyncio.CancelledError:
            self._cancel(request)
            raise

    def _cancel(self, request: _Request) -> None:
        with self._cond:
            request.cancelled = True
            worker = request.worker
            repl = worker.repl if worker is not None else None
            self.stats["cancelled"] += 1
        if repl is not None:
            repl.terminate()  # its reader sees EOF; _check then retires the worker and starts a replacement

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
        if self._replay is not None:
            self._replay.close()

    def __enter__(self) -> LeanPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def worker_pids(self) -> list[int]:
        with self._cond:
            return [w.repl.pid for w in self._workers if w.repl is not None]

    # ---- checking one proof -----------------------------------------------------------------------------

    def _check(self, header: str, prep: strict.PreparedProof, request: _Request) -> Verdict:
        t0 = time.monotonic()
        for attempt in range(self.config.crash_retries + 1):
            worker = self._acquire(header)
            with self._cond:
                request.worker = worker
                cancelled = request.cancelled
            res = self._run(worker, prep) if not cancelled else ReplResult(Outcome.CRASH, detail="cancelled")
            with self._cond:
                request.worker = None
                cancelled = request.cancelled
            if cancelled:
                self._release(worker, failed=True)
                return Verdict(
                    status=Status.CRASH,
                    reason="cancelled by the caller; its worker was replaced",
                    answer=prep.body,
                    time_s=time.monotonic() - t0,
                    worker_id=worker.id,
                )
            if res.outcome is Outcome.OK and isinstance(res.reply, ReplError):  # the REPL lost its state
                res = ReplResult(Outcome.CRASH, raw=res.raw, detail=f"REPL error: {res.reply.message}")
            self._release(worker, failed=res.outcome is not Outcome.OK)
            if res.outcome is not Outcome.OK:
                status = Status.TIMEOUT if res.outcome is Outcome.TIMEOUT else Status.CRASH
                if status is Status.CRASH and attempt < self.config.crash_retries:
                    with self._cond:
                        self.stats["crash_retries"] += 1
                    continue
                return Verdict(
                    status=status,
                    reason=f"{res.outcome.value}: {res.detail}",
                    answer=prep.body,
                    time_s=time.monotonic() - t0,
                    worker_id=worker.id,
                )
            v = strict.judge(prep, res.reply)  # type: ignore[arg-type]
            return v.model_copy(update={"time_s": time.monotonic() - t0, "worker_id": worker.id})
        raise AssertionError("unreachable")

    def _run(self, worker: Worker, prep: strict.PreparedProof) -> ReplResult:
        """One round trip: the proof and our checks in one command, in the header's env. The reply must carry
        the env number this worker's next command gets (the REPL numbers them in order); anything else means
        the stream is out of step with the requests, so the worker is killed and the proof retried."""
        repl = worker.repl
        assert repl is not None
        res = repl.command(prep.cmd, worker.header_env, self.config.timeout_s)
        if res.outcome is Outcome.OK and isinstance(res.reply, CommandReply):
            expected = worker.next_env
            if expected is not None and res.reply.env != expected:
                with self._cond:
                    self.stats["env_mismatches"] += 1
                repl.kill()
                return ReplResult(
                    Outcome.CRASH,
                    raw=res.raw[:2000],
                    elapsed_s=res.elapsed_s,
                    detail=f"reply out of step with its request (env {res.reply.env}, expected "
                    f"{expected}); worker restarted",
                )
            worker.next_env = None if expected is None else expected + 1
        return res

    # ---- workers ----------------------------------------------------------------------------------------

    def _acquire(self, header: str) -> Worker:
        deadline = time.monotonic() + self.config.acquire_timeout_s
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
                left = deadline - time.monotonic()
                if left <= 0:
                    busy = sum(w.state is WorkerState.BUSY for w in self._workers)
                    starting = sum(w.state is WorkerState.STARTING for w in self._workers)
                    raise LeanUnavailable(
                        f"no Lean worker became free within LeanConfig.acquire_timeout_s="
                        f"{self.config.acquire_timeout_s:g}s ({busy} busy, {starting} starting, of "
                        f"{self.config.workers}); raise acquire_timeout_s or workers, or check that the REPL "
                        f"answers (`formalpi lean doctor`)"
                    )
                self._cond.wait(left)

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
                    if res.outcome is not Outcome.OK:
                        why = res.detail
                    elif isinstance(res.reply, ReplError):
                        why = res.reply.message
                    elif isinstance(res.reply, CommandReply):
                        why = "; ".join(m.data for m in res.reply.errors)
                    else:
                        why = f"the REPL answered the header with a {type(res.reply).__name__}"
                    error = (
                        f"the header failed to load ({why[:300]}); check the header and that the Lake "
                        f"project {cfg.project_dir} is built (`formalpi lean doctor`)"
                    )
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
            w.next_env = None if env is None else env + 1
            w.state = WorkerState.IDLE
            w.last_used = time.monotonic()
            self._cond.notify_all()
