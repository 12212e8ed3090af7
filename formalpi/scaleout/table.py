"""`formalpi table`: a table of experiment rows x seeds, run on local GPUs, local CPU workers or a Ray cluster.

A table is a list of (row, seed) runs. Each run is the ordinary `run_experiment` of one config and seed, so a run
is resumable through its run store (formalpi/runs.py): a finished run is skipped, a half-done run picks up where
it stopped, and a run whose worker was lost is started again and writes only the records it is missing — nothing
is counted twice. Order comes from the configs: a row whose `model.path` names another row's run directory
(`runs/math_try_again/{seed}/checkpoint_r0`) starts after that row's run of the same seed.

Where runs execute:
  local   one worker process per slot (a GPU of `--gpus`, or a CPU worker with one torch thread); a worker
          killed by a signal is started again (`--retries`), a worker that fails with an error is not.
  Ray     each run is a Ray task asking for its GPU/CPU resources; Ray places it, orders it after its parent
          (the parent's result is the task's argument) and retries it when its worker dies (`max_retries`). The
          run store must be on storage every node sees at the same path (a shared filesystem).

The table ends with `formalpi report` over the rows' run directories (formalpi.cli.analysis.report).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from formalpi.config import ExperimentConfig, IPRSExperiment, OPSDExperiment, RetryExperiment, load_config
from formalpi.errors import ConfigError, FormalpiError

DOMAINS = ("math", "code", "lean")
WORKER_LOG_DIR = "_table_logs"  # under runs_dir: one log per run (local workers)
RAY_TASK_NAME = "formalpi_table_run"


class TableError(FormalpiError):
    """A run of the table failed (not a lost worker: an error inside the run); the message names it and its log."""


# ---- the plan ---------------------------------------------------------------------------------------------------


class RunJob(BaseModel):
    """One run of the table, as a worker receives it (JSON for a local worker, pickled for a Ray task)."""

    row: str  # the config's name
    config_path: str  # absolute
    overrides: list[str] = []
    seed: int
    cwd: str  # relative paths in the config (runs_dir, model.path) are relative to this directory
    depends_on: list[str] = []  # keys ("row/seed") of the runs whose checkpoints this run starts from
    tiny_model: str | None = None  # the built-in model's directory for rows with model.path = "tiny" (the caller
    # resolves it once: formalpi.tiny sits beside scale-out, not below it)

    @property
    def key(self) -> str:
        return f"{self.row}/{self.seed}"


@dataclass(frozen=True)
class TablePlan:
    jobs: list[RunJob]  # in an order that respects the dependencies
    configs: dict[str, ExperimentConfig]  # by row name
    sources: dict[str, Path] = field(default_factory=dict)  # row name -> its toml

    def run_dir(self, job: RunJob) -> Path:
        return Path(job.cwd) / self.configs[job.row].runs_dir / job.row / str(job.seed)

    def row_dirs(self) -> list[Path]:
        cwd = Path(self.jobs[0].cwd) if self.jobs else Path.cwd()
        return [cwd / c.runs_dir / name for name, c in self.configs.items()]


def config_paths(specs: Sequence[str], experiments_dir: Path = Path("experiments")) -> list[Path]:
    """Each spec is a toml path or a domain name (every `experiments/<domain>_*.toml` row), in order, no repeats."""
    out: list[Path] = []
    for spec in specs:
        if spec in DOMAINS and not Path(spec).is_file():
            found = sorted(experiments_dir.glob(f"{spec}_*.toml"))
            if not found:
                raise ConfigError(
                    f"table: no {spec}_*.toml in {experiments_dir}/ (run from the repository root, or pass the tomls)"
                )
            out.extend(found)
        elif Path(spec).is_file():
            out.append(Path(spec))
        else:
            raise ConfigError(f"table: {spec!r} is neither a config file nor a domain ({', '.join(DOMAINS)})")
    seen: set[Path] = set()
    unique: list[Path] = []
    for p in out:  # a file named twice (or by a domain and by path) is one row set
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append(p)
    return unique


def parent_row(cfg: ExperimentConfig, rows: Sequence[str]) -> str | None:
    """The row whose run directory `model.path` names (`<runs_dir>/<row>/{seed}/...`), or None."""
    from formalpi.engine.stages import SEED_FIELD

    path = cfg.model.path
    if SEED_FIELD not in path:
        return None
    parts = Path(path).parts
    base = Path(cfg.runs_dir).parts
    rest = parts[len(base) :] if parts[: len(base)] == base else ()
    if len(rest) >= 2 and rest[1] == SEED_FIELD:
        return rest[0]
    return None


def plan_table(
    paths: Sequence[Path],
    seeds: Sequence[int] | None = None,
    overrides: Sequence[str] = (),
    cwd: Path | None = None,
    tiny_model: str | None = None,
) -> TablePlan:
    """Load every row, find its parent row, and order the runs (parents first, else in the order given).
    `tiny_model`: where the built-in model is, for rows that start from `model.path = "tiny"`."""
    cwd = (cwd or Path.cwd()).resolve()
    configs: dict[str, ExperimentConfig] = {}
    sources: dict[str, Path] = {}
    for p in paths:
        cfg = load_config(p, list(overrides))
        if cfg.name in configs:
            raise ConfigError(
                f"table: {p} and {sources[cfg.name]} both name their row {cfg.name!r}; row names "
                "(run directories) must differ"
            )
        configs[cfg.name], sources[cfg.name] = cfg, Path(p).resolve()
    parents: dict[str, str | None] = {}
    for name, cfg in configs.items():
        parent = parent_row(cfg, list(configs))
        if parent is not None and parent not in configs:
            ckpts = [cfg.model.path.replace("{seed}", str(s)) for s in (seeds or cfg.seeds)]
            if not all((cwd / c).is_dir() for c in ckpts):
                raise ConfigError(
                    f"table: row {name} starts from row {parent}'s checkpoint (model.path = "
                    f"{cfg.model.path!r}); add experiments/{parent}.toml to the table or run it first"
                )
            parent = None  # its checkpoints exist: nothing to wait for
        parents[name] = parent
    order = _topological(parents)
    jobs = []
    for name in order:
        cfg = configs[name]
        for s in seeds if seeds else cfg.seeds:
            dep = parents[name]
            jobs.append(
                RunJob(
                    row=name,
                    config_path=str(sources[name]),
                    overrides=list(overrides),
                    seed=s,
                    cwd=str(cwd),
                    depends_on=[f"{dep}/{s}"] if dep else [],
                    tiny_model=tiny_model,
                )
            )
    return TablePlan(jobs, {n: configs[n] for n in order}, sources)


def _topological(parents: dict[str, str | None]) -> list[str]:
    out: list[str] = []
    state: dict[str, int] = {}  # 1 = on the path, 2 = placed

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise ConfigError(f"table: rows start from each other's checkpoints in a cycle: {' -> '.join(path + [n])}")
        state[n] = 1
        parent = parents[n]
        if parent is not None:
            visit(parent, path + [n])
        state[n] = 2
        out.append(n)

    for n in parents:
        visit(n, [])
    return out


def is_finished(plan: TablePlan, job: RunJob) -> bool:
    """The run store says the run is complete: its final eval is done and its results.json is written."""
    from formalpi.runs import RunStore

    d = plan.run_dir(job)
    return RunStore(d).is_done("eval") and (d / "results.json").is_file()


def check_table(plan: TablePlan) -> None:
    """`formalpi run`'s preflight for every row before any worker starts; a row that starts from another row's
    checkpoint is checked for everything but that checkpoint (it does not exist yet)."""
    from formalpi.engine.preflight import check_condition, check_extras, check_model_path, check_seed

    for name, cfg in plan.configs.items():
        for job in (j for j in plan.jobs if j.row == name):
            check_seed(job.seed)
        check_condition(cfg)
        check_extras(cfg)
        if not any(j.depends_on for j in plan.jobs if j.row == name) and "{seed}" not in cfg.model.path:
            check_model_path(cfg.model.path, f"{plan.sources[name].name}: model.path")


# ---- one run (inside a worker) ------------------------------------------------------------------------------------


class RunOutcome(BaseModel):
    key: str
    summary: dict[str, dict[str, float]]
    wall_s: float
    pid: int
    host: str
    skipped_stages: list[str] = []
    kept_records: int = 0  # records already in the run store when this worker started (a resumed run)


def run_job(job: RunJob) -> RunOutcome:
    """Run (or resume) one row x seed in this process and write its results.json."""
    import socket

    from formalpi.analysis.results import write_run_results
    from formalpi.engine.experiment import run_experiment
    from formalpi.engine.stages import start_model

    here = os.getcwd()
    os.chdir(job.cwd)  # the config's relative paths (runs_dir, a parent row's checkpoint) are the table's
    try:
        cfg = load_config(job.config_path, job.overrides)
        run_dir = Path(cfg.runs_dir) / job.row / str(job.seed)
        kept = sum(p.read_bytes().count(b"\n") for p in run_dir.glob("*.jsonl"))
        t0 = time.perf_counter()
        model_path = start_model(cfg, job.seed)
        if model_path == "tiny":
            if job.tiny_model is None:
                raise ConfigError(
                    f"table: row {job.row} starts from model.path = 'tiny' and the plan has no "
                    "tiny_model: plan_table(..., tiny_model=formalpi.tiny.resolve_model_path('tiny'))"
                )
            model_path = job.tiny_model
        result = run_experiment(cfg, job.seed, model_path=model_path)
        write_run_results(result.store.root)
    finally:
        os.chdir(here)
    return RunOutcome(
        key=job.key,
        summary=result.summary,
        wall_s=round(time.perf_counter() - t0, 1),
        pid=os.getpid(),
        host=socket.gethostname(),
        skipped_stages=list(result.skipped_stages),
        kept_records=kept,
    )


def _ray_run_job(job: RunJob, *_parents: Any) -> RunOutcome:
    """The Ray task: `_parents` are the parent runs' outcomes (Ray starts this task after they are done)."""
    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(1)
    return run_job(job)


# ---- executing the plan -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where runs go: local slots (GPU ids or CPU workers) or a Ray cluster."""

    gpus: tuple[str, ...] = ()  # local: one run per GPU
    cpu_workers: int = 1  # local without GPUs: worker processes, one torch thread each
    ray_address: str | None = None  # Ray: "auto", "ray://...", an address, or "local" (a Ray instance here)
    gpus_per_run: float = 0.0  # Ray
    cpus_per_run: float = 1.0  # Ray
    retries: int = 2  # how often a run whose worker died is started again

    @property
    def uses_ray(self) -> bool:
        return self.ray_address is not None


def parse_gpus(text: str) -> tuple[str, ...]:
    """'0-7' or '0,2,3' -> the GPU ids; ConfigError naming --gpus otherwise."""
    out: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise ConfigError(f"--gpus {text!r}: expected GPU ids as a range or a list, e.g. --gpus 0-7 or --gpus 0,2")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        out.extend(str(i) for i in range(lo, hi + 1))
    if len(set(out)) != len(out):
        raise ConfigError(f"--gpus {text!r}: a GPU is named twice")
    return tuple(out)


Say = Callable[[str], None]


def run_table(plan: TablePlan, where: Placement, say: Say = print) -> dict[str, RunOutcome]:
    """Run every unfinished job of the plan; one line per run as it starts again or ends. Raises TableError after
    the runs that could go on have gone on, if any run failed."""
    todo = [j for j in plan.jobs if not is_finished(plan, j)]
    done_before = len(plan.jobs) - len(todo)
    if done_before:
        say(f"{done_before} of {len(plan.jobs)} runs already finished in the run store (skipped)")
    if not todo:
        return {}
    runner = _run_ray if where.uses_ray else _run_local
    outcomes, failures = runner(plan, todo, where, say)
    if failures:
        raise TableError(
            f"{len(failures)} of {len(todo)} runs failed: "
            + "; ".join(f"{k}: {v}" for k, v in failures.items())
            + ". Fix the cause and run the same command again (finished "
            "runs are skipped, the others resume)"
        )
    return outcomes


def _line(i: int, n: int, o: RunOutcome) -> str:
    res = ", ".join(f"{k} pass@1 {v.get('pass@1', float('nan')):.1f}" for k, v in o.summary.items())
    skipped = ""
    if o.kept_records:  # a worker lost before, or an earlier table run stopped: nothing was redone or recounted
        skipped = f"; resumed with {o.kept_records} records already in the run store" + (
            f", stages skipped: {', '.join(o.skipped_stages)}" if o.skipped_stages else ""
        )
    return f"[{i}/{n}] {o.key} done in {o.wall_s:.0f} s (pid {o.pid} on {o.host}): {res}{skipped}"


def _run_local(plan: TablePlan, todo: list[RunJob], where: Placement, say: Say):
    """One worker process per slot: `python -m formalpi.scaleout.table JOB.json`, resumed on a lost worker."""
    slots: list[str | None] = [*where.gpus] or [None] * max(1, where.cpu_workers)
    pending = list(todo)
    finished: set[str] = {j.key for j in plan.jobs} - {j.key for j in todo}
    failed: dict[str, str] = {}
    outcomes: dict[str, RunOutcome] = {}
    free = list(range(len(slots)))
    running: dict[Future, tuple[RunJob, int]] = {}
    with ThreadPoolExecutor(max_workers=len(slots)) as pool:
        while pending or running:
            for job in [j for j in pending if any(d in failed for d in j.depends_on)]:
                pending.remove(job)
                failed[job.key] = f"not run: {', '.join(d for d in job.depends_on if d in failed)} failed"
            ready = [j for j in pending if all(d in finished for d in j.depends_on)]
            while ready and free:
                job, slot = ready.pop(0), free.pop(0)
                pending.remove(job)
                running[pool.submit(_local_worker, plan, job, slots[slot], where.retries, say)] = (job, slot)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                job, slot = running.pop(fut)
                free.append(slot)
                try:
                    outcomes[job.key] = fut.result()
                    finished.add(job.key)
                    say(_line(len(outcomes), len(todo), outcomes[job.key]))
                except TableError as e:
                    failed[job.key] = str(e)
                    say(f"[failed] {job.key}: {e}")
    return outcomes, failed


def _local_worker(plan: TablePlan, job: RunJob, gpu: str | None, retries: int, say: Say) -> RunOutcome:
    log_dir = Path(job.cwd) / plan.configs[job.row].runs_dir / WORKER_LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{job.row}.{job.seed}"
    (log_dir / f"{stem}.job.json").write_text(job.model_dump_json())
    env = dict(os.environ)
    # the worker imports the formalpi this process runs (a checkout run with `python -m` is not the installed one)
    code_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([code_root, *filter(None, [env.get("PYTHONPATH")])])
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    else:  # CPU worker: one torch thread, so the workers share the cores instead of fighting over them
        env.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = log_dir / f"{stem}.outcome.json"
    for attempt in range(retries + 1):
        out.unlink(missing_ok=True)
        with open(log_dir / f"{stem}.log", "a") as log:
            proc = subprocess.run(
                [sys.executable, "-m", "formalpi.scaleout.table", str(log_dir / f"{stem}.job.json"), str(out)],
                cwd=job.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if proc.returncode == 0 and out.is_file():
            return RunOutcome.model_validate_json(out.read_text())
        if proc.returncode >= 0:  # the run itself failed: starting it again would fail the same way
            raise TableError(f"exit status {proc.returncode}; see {log_dir / (stem + '.log')}")
        name = signal.Signals(-proc.returncode).name
        say(
            f"[lost] {job.key}: worker killed by {name} on {'GPU ' + gpu if gpu else 'CPU'}"
            + (f"; resuming it (try {attempt + 2} of {retries + 1})" if attempt < retries else "")
        )
    raise TableError(f"its worker was lost {retries + 1} times; see {log_dir / (stem + '.log')}")


def _run_ray(plan: TablePlan, todo: list[RunJob], where: Placement, say: Say):
    from formalpi.scaleout.ray_executor import connect

    ray = connect(None if where.ray_address == "local" else where.ray_address)
    # one worker process per run, as the local executor: a run's vLLM engine (vLLM allows one sleep-mode engine per
    # process) and its cached GPU memory leave with it. Ray sets max_calls=1 by itself only when num_gpus is given
    # here; it comes through .options() below, so without this a worker ran several rows in turn
    task = ray.remote(max_calls=1)(_ray_run_job)
    resources = dict(
        num_gpus=where.gpus_per_run, num_cpus=where.cpus_per_run, max_retries=where.retries, retry_exceptions=False
    )
    refs: dict[str, Any] = {}
    key_of: dict[Any, str] = {}
    for job in todo:  # parents come first in the plan: their refs exist when a child is submitted
        parents = [refs[d] for d in job.depends_on if d in refs]
        # the task's name is its worker's process title while it runs (`ray::formalpi_table_run:<row>/<seed>`)
        refs[job.key] = task.options(name=f"{RAY_TASK_NAME}:{job.key}", **resources).remote(job, *parents)
        key_of[refs[job.key]] = job.key
    outcomes: dict[str, RunOutcome] = {}
    failed: dict[str, str] = {}
    waiting = list(refs.values())
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1)
        key = key_of[ready[0]]
        try:
            outcomes[key] = ray.get(ready[0])
            say(_line(len(outcomes), len(todo), outcomes[key]))
        except (
            ray.exceptions.RayTaskError,
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.TaskCancelledError,
        ) as e:
            cause = getattr(e, "cause", None)
            failed[key] = f"{type(cause or e).__name__}: {str(cause or e).strip().splitlines()[-1]}"
            say(f"[failed] {key}: {failed[key]}")
    return outcomes, failed


# ---- the dry run --------------------------------------------------------------------------------------------------

# Rates measured in docs/performance.md on one GPU, Qwen3-1.7B architecture (scaled by 1.72 B / the row's size)
RATE_PARAMS_B = 1.7  # as model names give sizes (Qwen3-1.7B); the measured model
GEN_TOKENS_S = {"vllm": 33_929, "hf": 3_257}  # "Generation: vLLM vs transformers", 512 new tokens
SFT_TOKENS_S = {"lora": 42_071, "full": 49_118}  # "SFT (one GPU)", batch 32 x 1024, Liger on
OPSD_STUDENT_TOKENS_S = 2_048 / 17.1  # "OPSD step": 8 problems x 256 student tokens in 17.1 s (transformers)
PROMPT_TOKENS = 200  # a MATH prompt in the chat template, roughly (for trained tokens)
KNOWN_SIZES = {("math", "train"): 7_500, ("math", "test"): 500, ("math500", "test"): 500}


@dataclass(frozen=True)
class RowCost:
    row: str
    seeds: int
    problems: tuple[int, int]  # train, eval
    generated: int  # tokens per seed, upper bound (every completion runs to its max_new_tokens)
    trained: int  # tokens per seed, upper bound
    gpu_hours: float  # per seed
    basis: str
    gpu_hours_vllm: float = 0.0  # per seed, were the row to sample with vLLM (model.backend = "vllm")


def _params_b(model: str) -> float:
    m = re.search(r"(\d+(?:\.\d+)?)[bB]\b", model)
    return float(m.group(1)) if m else RATE_PARAMS_B


def _split_size(cfg: ExperimentConfig, split: str, limit: int | None) -> int:
    if (cfg.data.dataset, split) in KNOWN_SIZES:
        n = KNOWN_SIZES[(cfg.data.dataset, split)]
    else:
        from formalpi.domain import open_domain

        try:
            n = len(open_domain(cfg.domain).problems(cfg.data.dataset, split, path=cfg.data.path, limit=None))
        except Exception as e:  # noqa: BLE001 - any reason the data is not here: say how to size the row
            raise ConfigError(
                f"--dry-run: cannot count {cfg.name}'s {cfg.data.dataset} {split!r} problems ({e}); "
                "fetch the data or set data.train_limit / data.eval_limit"
            ) from None
    return min(n, limit) if limit is not None else n


def row_cost(cfg: ExperimentConfig, seeds: int) -> RowCost:
    """Tokens and GPU-hours of one seed of a row, at max_new_tokens for every completion (an upper bound)."""
    from formalpi.engine.conditions import get_condition

    train = _split_size(cfg, cfg.data.train_split, cfg.data.train_limit) if cfg.trains else 0
    evals = _split_size(cfg, cfg.data.eval_split, cfg.data.eval_limit)
    scale = _params_b(cfg.model.path) / RATE_PARAMS_B
    eval_stages = cfg.retry.rounds if isinstance(cfg, RetryExperiment) else 1
    sampled = eval_stages * evals * cfg.eval.n * cfg.eval.max_new_tokens  # through the row's generator
    trained, other_s, basis = 0, 0.0, f"{cfg.model.backend} generation"
    if isinstance(cfg, RetryExperiment):
        condition = get_condition(cfg.condition, cfg.domain)
        first = condition.first_attempt_samples(cfg.sampling.n)
        k = cfg.retry.k if condition.pi is not None else 0  # controls without PI draw no retries
        sampled += cfg.retry.rounds * train * first * (1 + k) * cfg.sampling.max_new_tokens  # every attempt fails
        example_tokens = min(cfg.train.max_length, PROMPT_TOKENS + cfg.sampling.max_new_tokens)
        examples = cfg.train.epochs * train * first
        if cfg.train.max_steps is not None:  # a fixed step budget trains max_steps batches, whatever the examples
            examples = cfg.train.max_steps * cfg.train.batch_size * cfg.train.grad_accum
        trained = int(cfg.retry.rounds * examples) * example_tokens
        other_s = trained / (SFT_TOKENS_S[cfg.train.finetune] / scale)
        basis += f", {cfg.train.finetune} SFT"
    elif isinstance(cfg, (OPSDExperiment, IPRSExperiment)):  # the student samples inside the training step
        if isinstance(cfg, OPSDExperiment):
            steps, per_step, max_new = (
                cfg.opsd.steps,
                cfg.opsd.batch_size * cfg.opsd.samples_per_problem,
                cfg.opsd.max_new_tokens,
            )
        else:
            steps, per_step, max_new = (
                cfg.iprs.steps,
                cfg.iprs.batch_size * cfg.iprs.num_generations,
                cfg.iprs.max_new_tokens,
            )
        assert max_new is not None, "the method's validator sets it from sampling.max_new_tokens"
        trained = steps * per_step * max_new
        other_s = trained / (OPSD_STUDENT_TOKENS_S / scale)
        basis += ", OPSD step rate" + (" (IPRS not measured: OPSD's rate)" if isinstance(cfg, IPRSExperiment) else "")
    hours = {b: (sampled / (r / scale) + other_s) / 3600 for b, r in GEN_TOKENS_S.items()}
    return RowCost(
        cfg.name,
        seeds,
        (train, evals),
        sampled + (0 if isinstance(cfg, RetryExperiment) else trained),
        trained,
        hours[cfg.model.backend],
        basis,
        hours["vllm"],
    )


def dry_run_lines(plan: TablePlan) -> list[str]:
    seeds = {name: sum(1 for j in plan.jobs if j.row == name) for name in plan.configs}
    costs = [row_cost(cfg, seeds[name]) for name, cfg in plan.configs.items()]
    w = max(len(c.row) for c in costs)
    lines = [
        f"{'row':<{w}}  seeds  train/eval problems  generated tok/seed  trained tok/seed  GPU-h/seed  "
        f"GPU-h (all seeds)  rates"
    ]
    for c in costs:
        lines.append(
            f"{c.row:<{w}}  {c.seeds:>5}  {c.problems[0]:>7,} / {c.problems[1]:<9,}  {c.generated:>18,}  "
            f"{c.trained:>16,}  {c.gpu_hours:>10.2f}  {c.gpu_hours * c.seeds:>17.2f}  {c.basis}"
        )
    total_gen = sum(c.generated * c.seeds for c in costs)
    total_train = sum(c.trained * c.seeds for c in costs)
    total_h = sum(c.gpu_hours * c.seeds for c in costs)
    total_v = sum(c.gpu_hours_vllm * c.seeds for c in costs)
    lines.append(
        f"total: {len(plan.jobs)} runs, {total_gen:,} generated and {total_train:,} trained tokens, "
        f"{total_h:,.1f} GPU-hours ({total_v:,.1f} with vLLM for sampling and eval: "
        f"--set model.backend=vllm) (upper bound: every completion runs to max_new_tokens and every first "
        "attempt gets its retries; rates from docs/performance.md, one GPU, scaled by model size)"
    )
    lines.append(
        "run order: "
        + ", ".join(j.key + (f" (after {', '.join(j.depends_on)})" if j.depends_on else "") for j in plan.jobs)
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m formalpi.scaleout.table JOB.json OUTCOME.json`: one local worker."""
    job_file, out_file = argv if argv is not None else sys.argv[1:]
    import torch

    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        torch.set_num_threads(1)
    try:
        outcome = run_job(RunJob.model_validate_json(Path(job_file).read_text()))
    except FormalpiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    Path(out_file).write_text(outcome.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
