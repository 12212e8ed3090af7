"""Data-parallel generation: problems split into N shards, one worker process (one engine) per GPU.

Each worker runs the ordinary stage function (`evaluate` or `sample_attempts`) on its shard, with
`CUDA_VISIBLE_DEVICES=<its gpu>`, against a run store of its own (`<run>/shards/<stage>/<i>/`), so workers never
write the same file. The parent then merges the shards into the run's store in problem order, deduplicated by
record key, and adds the shards' budgets to the run's manifest.

Why the merged records equal a single-process run's: shards are cut at the stage's chunk boundaries, and a
chunk's samples depend only on (seed, stage, the chunk's first key) and the chunk's problems — so every chunk is
generated exactly as the single process would generate it. Resuming works at both levels: chunks already in
the run store are not sharded again, and a killed worker's shard store resumes like any run store.

    python -m formalpi.engine.shard JOB.json     # one worker (the parent writes JOB.json)
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from formalpi.config import ExperimentBase
from formalpi.errors import FormalpiError
from formalpi.records import Attempt, EvalRecord, Problem
from formalpi.runs import RunStore

T = TypeVar("T")


class GenStage(str, Enum):
    EVAL = "eval"  # evaluate(): one EvalRecord per problem (eval.jsonl)
    ATTEMPTS = "attempts"  # sample_attempts(): n first attempts per problem (attempts.jsonl)


class ShardError(FormalpiError):
    """A generation worker failed; the message names the shard, its command and the tail of its log."""


class ShardJob(BaseModel):
    """What one worker is asked to do (written as JSON; the worker reads nothing else)."""

    stage: GenStage
    config: dict[str, Any]  # the experiment config as JSON
    seed: int
    model_path: str
    shard: int
    store_dir: str  # this shard's own run store
    problems_file: str  # JSONL of the shard's Problem records, in order
    chunk_size: int
    round: int = 0  # ATTEMPTS: the retry round
    n: int = 1  # ATTEMPTS: samples per problem
    temperatures: list[float] | None = None  # ATTEMPTS: per-sample temperatures (temperature_range controls)


def eval_chunk_size() -> int:
    """evaluate()'s chunk size: the shard boundaries must be its chunk boundaries."""
    from formalpi.engine.evaluate import evaluate

    return int(inspect.signature(evaluate).parameters["chunk_size"].default)


def attempts_chunk_size(batch_size: int, n: int) -> int:
    return max(1, batch_size // n)  # as sample_attempts() chunks


def item_key(stage: GenStage, round_: int) -> Callable[[Problem], str]:
    if stage is GenStage.EVAL:
        return lambda p: p.id
    return lambda p: f"{p.id}|r{round_}|k0"


def record_key(stage: GenStage) -> Callable[[Any], str]:
    if stage is GenStage.EVAL:
        return lambda r: r.problem_id
    return lambda a: f"{a.problem_id}|r{a.round}|k{a.retry}"


def dedup_key(stage: GenStage) -> Callable[[Any], str]:
    """A record's own identity (an attempt id: several samples share one item key)."""
    if stage is GenStage.EVAL:
        return lambda r: r.problem_id
    return lambda a: a.id


def record_model(stage: GenStage) -> type[BaseModel]:
    return EvalRecord if stage is GenStage.EVAL else Attempt


def split_shards(items: Sequence[T], num_shards: int, chunk_size: int) -> list[list[T]]:
    """Contiguous shards made of whole chunks, as even as chunk counts allow; never an empty shard."""
    if num_shards < 1 or chunk_size < 1:
        raise ShardError(f"split_shards: num_shards ({num_shards}) and chunk_size ({chunk_size}) must be >= 1")
    chunks = [list(items[i : i + chunk_size]) for i in range(0, len(items), chunk_size)]
    k = min(num_shards, len(chunks))
    shards, start = [], 0
    for s in range(k):
        take = len(chunks) // k + (1 if s < len(chunks) % k else 0)
        shards.append([x for c in chunks[start : start + take] for x in c])
        start += take
    return shards


def pending_chunks(items: Sequence[T], key: Callable[[T], str], have: set[str], chunk_size: int) -> list[T]:
    """The items of every chunk that still misses a key (whole chunks, so chunk boundaries stay put)."""
    out: list[T] = []
    for i in range(0, len(items), chunk_size):
        chunk = list(items[i : i + chunk_size])
        if any(key(x) not in have for x in chunk):
            out.extend(chunk)
    return out


def worker_command(job_file: Path, python: str = sys.executable) -> list[str]:
    return [python, "-m", "formalpi.engine.shard", str(job_file)]


def worker_env(shard: int, gpus: Sequence[str] | None) -> dict[str, str]:
    """The environment of worker `shard`: it sees only its GPU (as cuda:0). No GPUs given: unchanged (CPU)."""
    env = dict(os.environ)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = str(gpus[shard % len(gpus)])
    return env


def run_sharded(
    stage: GenStage,
    cfg: ExperimentBase,
    seed: int,
    model_path: str,
    problems: Sequence[Problem],
    store: RunStore,
    num_shards: int,
    *,
    round_: int = 0,
    n: int | None = None,
    chunk_size: int | None = None,
    gpus: Sequence[str] | None = None,
    timeout_s: float | None = None,
    temperatures: Sequence[float] | None = None,
) -> list[BaseModel]:
    """Run `stage` over `problems` in `num_shards` worker processes and merge into `store`; returns the
    stage's records for `problems` in problem order (as the single-process stage function returns them)."""
    if stage is GenStage.ATTEMPTS and n is None:
        n = cfg.sampling.n
    if chunk_size is None:
        chunk_size = (
            eval_chunk_size()
            if stage is GenStage.EVAL
            else attempts_chunk_size(cfg.sampling.batch_size, n or cfg.sampling.n)
        )
    ikey, rkey, model = item_key(stage, round_), record_key(stage), record_model(stage)
    file = stage.value
    have = {rkey(r) for r in store.read(file, model)}
    todo = pending_chunks(problems, ikey, have, chunk_size)
    shard_root = store.root / "shards" / f"{file}_r{round_}"
    shards = split_shards(todo, num_shards, chunk_size) if todo else []
    procs: list[tuple[int, subprocess.Popen, Path, list[str]]] = []
    try:
        for i, part in enumerate(shards):
            d = shard_root / str(i)
            d.mkdir(parents=True, exist_ok=True)
            pfile = d / "problems.jsonl"
            pfile.write_text("".join(p.model_dump_json() + "\n" for p in part))
            job = ShardJob(
                stage=stage,
                config=cfg.model_dump(mode="json"),
                seed=seed,
                model_path=model_path,
                shard=i,
                store_dir=str(d),
                problems_file=str(pfile),
                chunk_size=chunk_size,
                round=round_,
                n=n or 1,
                temperatures=list(temperatures) if temperatures else None,
            )
            jfile = d / "job.json"
            jfile.write_text(job.model_dump_json(indent=2))
            cmd = worker_command(jfile)
            log = open(d / "worker.log", "w")
            procs.append(
                (
                    i,
                    subprocess.Popen(
                        cmd, stdout=log, stderr=subprocess.STDOUT, env=worker_env(i, gpus), start_new_session=True
                    ),
                    d,
                    cmd,
                )
            )
            log.close()
        for i, proc, d, cmd in procs:
            try:
                rc = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                rc = None
            if rc != 0:
                tail = "\n".join((d / "worker.log").read_text(errors="replace").splitlines()[-20:])
                raise ShardError(
                    f"generation shard {i} {'timed out' if rc is None else f'exited {rc}'}: "
                    f"{' '.join(cmd)}\nlog: {d / 'worker.log'}\n{tail}"
                )
    finally:
        for _i, proc, _d, _cmd in procs:  # a failure in one shard ends the others: no orphaned engines
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    merge_shards(store, file, model, dedup_key(stage), [shard_root / str(i) for i in range(len(shards))])
    shutil.rmtree(shard_root, ignore_errors=True)  # merged: budgets counted once, the records live in the store
    try:
        shard_root.parent.rmdir()  # `shards/` goes too once no other stage's shards are in it
    except OSError:
        pass
    order = {ikey(p): j for j, p in enumerate(problems)}
    return sorted((r for r in store.read(file, model) if rkey(r) in order), key=lambda r: order[rkey(r)])


def merge_shards(
    store: RunStore, file: str, model: type[BaseModel], key: Callable[[Any], str], shard_dirs: Sequence[Path]
) -> int:
    """Append the shards' records missing from `store` (first copy of each key wins, shard order = problem
    order) and add the shards' budget counters to the store's manifest. Returns how many were appended."""
    have = {key(r) for r in store.read(file, model)}
    new = []
    for d in shard_dirs:
        shard = RunStore(d)
        for r in shard.read(file, model):
            if key(r) not in have:
                have.add(key(r))
                new.append(r)
        for stage, entry in shard.manifest().get("stages", {}).items():
            amounts = {k: v for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if amounts:
                store.add_budget(stage, **amounts)
    return store.append(file, new)


def run_worker(job: ShardJob) -> int:
    """One shard, in this process: the same stage function the single-process run calls."""
    from formalpi.config import config_from_dict
    from formalpi.domain import open_domain
    from formalpi.engine.backends import generator_for, release

    cfg = config_from_dict(job.config, f"shard job {job.store_dir}")
    problems = [
        Problem.model_validate_json(line) for line in Path(job.problems_file).read_text().splitlines() if line.strip()
    ]
    store = RunStore(Path(job.store_dir))
    gen = generator_for(cfg.model, job.model_path, batch_size=cfg.sampling.batch_size)
    domain = open_domain(cfg.domain, cfg.verify)  # the run's own settings, as the parent built its domain
    out: Sequence[BaseModel]
    try:
        if job.stage is GenStage.EVAL:
            from formalpi.engine.evaluate import evaluate
            from formalpi.engine.stages import condition_label

            e = cfg.eval
            out = evaluate(
                gen,
                domain,
                problems,
                n=e.n,
                temperature=e.temperature,
                top_p=e.top_p,
                max_new_tokens=e.max_new_tokens,
                seed=job.seed,
                condition=condition_label(cfg),
                store=store,
                chunk_size=job.chunk_size,
            )
        else:
            from formalpi.engine.retry import sample_attempts

            out = sample_attempts(
                gen,
                domain,
                problems,
                n=job.n,
                cfg=cfg,
                seed=job.seed,
                round_=job.round,
                store=store,
                temperatures=job.temperatures or None,
            )
    finally:
        release(gen)
        domain.close()
    return len(out)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print(
            "usage: python -m formalpi.engine.shard JOB.json (written by formalpi.engine.shard.run_sharded)",
            file=sys.stderr,
        )
        return 2
    try:
        job = ShardJob.model_validate_json(Path(argv[0]).read_text())
        count = run_worker(job)
    except FormalpiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"shard": job.shard, "records": count}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
