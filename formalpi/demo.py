"""`formalpi demo`: the headline experiment in miniature, on the tiny model and `arith`.

Rows: baseline (the untrained model) and eight trained rows — gold, gibberish, wrong, try_again (PI conditions),
rejection, double_sample (N=16 fresh samples), double_sample_matched (one fresh sample per failed attempt),
compute_matched (controls) — × seeds, each trained two ways ("variants"):
  epochs  `train.epochs` passes over the condition's own examples (more examples, more optimizer steps), and
  steps   a fixed number of optimizer steps for every condition (`demo.fixed_steps`), so the number of examples a
          condition yields is not confounded with how much the model is trained.
Two sizes: formalpi/configs/demo.toml (`make demo`, minutes) and demo_full.toml (`formalpi demo --full`, the
powered design of docs/demo.md). Every run is resumable from the run store (runs/demo/...); independent runs
go to `jobs` worker processes with one torch thread each, so parallel work never oversubscribes the cores.
Prints one plain line per finished stage and run (readable in a log file), then per variant the seed-format
table with Holm-adjusted verdicts, the manipulation checks and the per-level view.
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from importlib import resources
from multiprocessing import get_context
from pathlib import Path

from formalpi.analysis import N_BOOT
from formalpi.config import ExperimentConfig, RetryExperiment, apply_overrides, config_from_dict, with_method
from formalpi.errors import ConfigError
from formalpi.progress import line_progress

DEMO_CONDITIONS = (
    "gold",
    "gibberish",
    "wrong",
    "try_again",
    "rejection",
    "double_sample",
    "double_sample_matched",
    "compute_matched",
)
VARIANTS = ("epochs", "steps")
CONFIGS = {False: "demo.toml", True: "demo_full.toml"}


@dataclass(frozen=True)
class DemoPlan:
    """What the `[demo]` table of a demo config says beyond the experiment config itself."""

    base: RetryExperiment  # every trained demo row is retry-STaR
    variants: tuple[str, ...]
    fixed_steps: int
    conditions: tuple[str, ...] = DEMO_CONDITIONS

    @property
    def root(self) -> Path:
        return Path(self.base.runs_dir) / self.base.name

    def baseline(self) -> ExperimentConfig:
        return with_method(self.base, "baseline", name=f"{self.base.name}/baseline")

    def config(self, variant: str, condition: str) -> RetryExperiment:
        cfg = self.base.model_copy(
            update={"name": f"{self.base.name}/{variant}/{condition}", "condition": condition}, deep=True
        )
        if variant == "steps":
            cfg.train.max_steps = self.fixed_steps
        return cfg


def demo_plan(full: bool = False, overrides: Sequence[str] = ()) -> DemoPlan:
    """The demo's plan from formalpi/configs/demo.toml (or demo_full.toml), with `--set key=value` overrides
    (`demo.fixed_steps=...`, `demo.variants=[...]` and any experiment key)."""
    name = CONFIGS[full]
    data = apply_overrides(
        tomllib.loads(resources.files("formalpi.configs").joinpath(name).read_text()), list(overrides)
    )
    extra = data.pop("demo", {})
    unknown = set(extra) - {"variants", "fixed_steps"}
    if unknown:
        raise ConfigError(
            f"formalpi/configs/{name}: unknown key(s) demo.{', demo.'.join(sorted(unknown))} "
            f"(known: demo.variants, demo.fixed_steps)"
        )
    variants = tuple(extra.get("variants", VARIANTS))
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants:
        raise ConfigError(f"formalpi/configs/{name}: demo.variants: {bad or variants} (choose from {list(VARIANTS)})")
    steps = extra.get("fixed_steps", 100)
    if not isinstance(steps, int) or steps <= 0:
        raise ConfigError(f"formalpi/configs/{name}: demo.fixed_steps must be a positive integer (got {steps!r})")
    base = config_from_dict(data, f"formalpi/configs/{name}", list(overrides))
    if not isinstance(base, RetryExperiment):
        raise ConfigError(
            f"formalpi/configs/{name}: method: the demo's trained rows are retry-STaR; set "
            f'method = "retry" (got {base.method!r})'
        )
    return DemoPlan(base, variants, steps)


def demo_config(overrides: Sequence[str] = (), full: bool = False) -> RetryExperiment:
    """The demo's experiment config (its `[demo]` table removed)."""
    return demo_plan(full, overrides).base


# ---- running ----------------------------------------------------------------------------------------------


def _say(line: str) -> None:
    print(line, flush=True)


def _write_atomic(path: Path, lines: Sequence[str]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(lines))
    os.replace(tmp, path)


def seed_store(src: Path, dst: Path, first_only: bool) -> None:
    """Start run directory `dst` from `src`'s records: its first attempts (`first_only`) or all its attempts and
    retries, with their verdicts. Only where the two runs would generate exactly these records: same seed, model,
    problems and sampling (generation is seeded per (seed, stage, chunk)); the engine's resume logic then skips
    what is there. A directory that already has a manifest is left alone."""
    from formalpi.records import Attempt, Judged
    from formalpi.runs import RunStore

    if (dst / "manifest.json").exists() or not (src / "manifest.json").exists():
        return
    attempts = [a for a in RunStore(src).read("attempts", Attempt) if not first_only or a.retry == 0]
    ids = {a.id for a in attempts}
    verdicts = [j for j in RunStore(src).read("verdicts", Judged) if j.attempt_id in ids]
    dst.mkdir(parents=True, exist_ok=True)
    _write_atomic(dst / "verdicts.jsonl", [j.model_dump_json() + "\n" for j in verdicts])
    _write_atomic(dst / "attempts.jsonl", [a.model_dump_json() + "\n" for a in attempts])


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_job(
    plan: DemoPlan, condition: str | None, seed: int, threads: int = 1, share_from: Path | None = None
) -> list[tuple[str, int, dict]]:
    """One (condition, seed): every variant of it (the baseline when `condition` is None). In a worker process.
    `share_from`: a run of the same seed whose first attempts this condition would draw identically.
    Returns (run name, seed, summary) per run."""
    from formalpi.engine.experiment import run_experiment
    from formalpi.engine.stages import start_model
    from formalpi.tiny import resolve_model_path

    _set_threads(threads)
    out = []
    if condition is None:
        cfgs = [plan.baseline()]
    else:
        cfgs = [plan.config(v, condition) for v in plan.variants]
    first = None
    for cfg in cfgs:
        store_dir = Path(cfg.runs_dir) / cfg.name / str(seed)
        if first is not None:  # the other variants train differently on the same attempts and retries
            seed_store(first, store_dir, first_only=False)
        elif share_from is not None:
            seed_store(share_from, store_dir, first_only=True)
        t0 = time.perf_counter()
        label = cfg.name.removeprefix(f"{plan.base.name}/")
        result = run_experiment(
            cfg, seed, line_progress(f"  {label} seed {seed}"), model_path=resolve_model_path(start_model(cfg, seed))
        )
        from formalpi.analysis.results import write_run_results

        write_run_results(store_dir)  # the run's results.json (as `formalpi run` writes it)
        first = first or store_dir
        out.append((label, seed, {"summary": result.summary, "wall_s": time.perf_counter() - t0}))
    return out


def default_jobs() -> int:
    """Worker processes: one per core this process may use (each runs one torch thread)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def shares_first_attempts(plan: DemoPlan, a: str, b: str) -> bool:
    """Whether conditions a and b draw the same first attempts (same count, same temperature)."""
    from formalpi.engine.conditions import get_condition

    ca, cb = get_condition(a, plan.base.domain), get_condition(b, plan.base.domain)
    n = plan.base.sampling.n
    return ca.first_attempt_samples(n) == cb.first_attempt_samples(n) and ca.temperatures(n) == cb.temperatures(n)


def run_demo(plan: DemoPlan, seeds: Sequence[int], jobs: int = 1, say: Callable[[str], None] = _say) -> Path:
    """Run every (row, seed) of the plan, `jobs` at a time; returns runs/<name>. Finished runs are skipped.

    Per seed, one condition (try_again) samples the first attempts; every condition that would draw the same ones
    starts from its records once it has finished (they are the same records: sampling is seeded per seed, stage
    and chunk), so the demo samples first attempts once per seed instead of once per condition."""
    primary = "try_again" if "try_again" in plan.conditions else plan.conditions[0]
    first = [(None, s, None) for s in seeds] + [(primary, s, None) for s in seeds]
    later = {
        s: [
            (c, s, plan.root / plan.variants[0] / primary / str(s) if shares_first_attempts(plan, c, primary) else None)
            for c in plan.conditions
            if c != primary
        ]
        for s in seeds
    }
    total = len(first) + sum(len(v) for v in later.values())
    t0 = time.perf_counter()
    done = 0

    def report(results) -> None:
        nonlocal done
        done += 1
        for label, seed, r in results:
            p1 = r["summary"].get("all", {}).get("pass@1", float("nan"))
            say(
                f"[{done}/{total}] {label} seed {seed}: pass@1 {p1:.1f}  ({r['wall_s']:.0f} s; "
                f"{time.perf_counter() - t0:.0f} s since start)"
            )

    if jobs <= 1:
        for cond, seed, share in first:
            report(run_job(plan, cond, seed, 1, share))
            if cond is not None:
                for job in later[seed]:
                    report(run_job(plan, job[0], job[1], 1, job[2]))
        return plan.root
    # spawn: fresh interpreters (no forked torch/OpenMP state)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        pending = {pool.submit(run_job, plan, c, s, 1, sh): (c, s) for c, s, sh in first}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                cond, seed = pending.pop(f)
                report(f.result())
                if cond == primary:
                    pending.update({pool.submit(run_job, plan, c, s, 1, sh): (c, s) for c, s, sh in later[seed]})
    return plan.root


# ---- reporting --------------------------------------------------------------------------------------------


def variant_dirs(plan: DemoPlan, variant: str) -> list[Path]:
    return [plan.root / "baseline", plan.root / variant]


def demo_tables(plan: DemoPlan, variant: str, n_boot: int = N_BOOT) -> str:
    """The seed-format table with Holm verdicts against the baseline and against try_again, the manipulation
    checks and the per-level gains, for one variant (markdown)."""
    from formalpi.analysis.manipulation import collect_dirs, manipulation_markdown
    from formalpi.analysis.report import render_condition_table

    dirs = variant_dirs(plan, variant)
    parts = [
        f"### Variant `{variant}`"
        + (
            f" (every condition trained {plan.fixed_steps} optimizer steps)"
            if variant == "steps"
            else f" ({plan.base.train.epochs:g} epochs over each condition's examples)"
        ),
        "Gains over the baseline (pp), Holm-adjusted over the family:",
        render_condition_table(dirs, n_boot=n_boot),
    ]
    if "try_again" in plan.conditions:
        parts += [
            "Against try_again (does the PI's content matter beyond the failure bit?):",
            render_condition_table(dirs, reference="try_again", n_boot=n_boot).split("\n\n", 1)[-1],
        ]
    parts += ["Manipulation checks (pooled over seeds):", manipulation_markdown(collect_dirs(dirs))]
    return "\n\n".join(parts)


def write_reports(plan: DemoPlan) -> list[Path]:
    """report.md (+ plots: per-level gains, frontier bins, ...) per variant, under runs/<name>/<variant>/."""
    from formalpi.analysis.report import write_report

    return [write_report(variant_dirs(plan, v), plan.root / v) for v in plan.variants]


# ---- the model's manipulation checks, before any experiment ----------------------------------------------

PROBE_CONDITIONS = ("gold", "wrong", "gibberish", "try_again", "double_sample_matched")


def probe_pi(
    model_path: str,
    out_dir: Path,
    limit: int = 250,
    n: int = 4,
    seed: int = 0,
    conditions: Sequence[str] = PROBE_CONDITIONS,
):
    """What the model does with each condition's PI, without training: first attempts on `limit` training
    problems (n each), one retry per failure under each condition, with the experiments' own retry code and
    PI texts. Returns formalpi.analysis.manipulation checks (retry yield, PI-copy rate) per condition.

    This decides whether the model is a usable miniature (can it read an answer? does a retry do as well as a
    fresh sample?) before any condition is trained on; it says nothing about which condition's SFT helps."""
    from formalpi.domains.math.domain import MathDomain
    from formalpi.analysis.manipulation import ConditionChecks, store_checks
    from formalpi.engine.backends import HFGenerator
    from formalpi.engine.conditions import get_condition
    from formalpi.engine.retry import retry_failures, sample_attempts, verify_attempts
    from formalpi.records import Attempt, Judged
    from formalpi.runs import RunStore

    cfg = demo_config([f"sampling.n={n}", f"data.train_limit={limit}"])
    out = []
    with MathDomain() as domain:
        problems = domain.problems("arith", "train", limit=limit)
        by_id = {p.id: p for p in problems}
        gen = HFGenerator.from_pretrained(model_path)
        first = RunStore(out_dir / "first")
        first.root.mkdir(parents=True, exist_ok=True)
        attempts = sample_attempts(gen, domain, problems, n=n, cfg=cfg, seed=seed, round_=0, store=first)
        judged = verify_attempts(domain, attempts, by_id, first, "verify_r0")
        failed = [j for j in judged if not j.verdict.passed]
        for name in conditions:
            store = RunStore(out_dir / name)
            store.root.mkdir(parents=True, exist_ok=True)
            if not store.path("attempts").exists():  # each condition's store starts from the shared first attempts
                store.append("attempts", first.read("attempts", Attempt))
                store.append("verdicts", first.read("verdicts", Judged))
            retries = retry_failures(
                gen,
                domain,
                get_condition(name, "math"),
                failed,
                {a.id: a for a in attempts},
                by_id,
                cfg=cfg,
                seed=seed,
                round_=0,
                store=store,
                all_problems=problems,
            )
            verify_attempts(domain, retries, by_id, store, "verify_r0")
            out.append(ConditionChecks(name, (store_checks(store, name, seed),)))
    return out


@dataclass(frozen=True)
class CopyRates:
    """Greedy retries on one level's held-out problems, shown a number in the gold condition's exact wording."""

    level: int
    problems: int
    gold_copy: float  # shown the true answer: the share of retries that write it
    other_copy: float  # shown another problem's answer (same level): the share that write that


def copy_probe(model_path: str, levels: Sequence[int] = (2, 3, 4, 5), per_level: int = 40) -> list[CopyRates]:
    """Can the model read an answer stated in feedback it has never seen worded this way? Per level: a failed
    attempt (`formalpi.tiny.wrong_solution`), then "Your answer is incorrect. The correct answer is N. Try again."
    with N the gold answer or the next problem's (a plausible number the model should weigh, not copy); greedy.
    The design criterion of docs/demo.md, section 1 (b); fast (a few seconds), deterministic."""
    import random

    from formalpi.domains.math.arith import arith_problems
    from formalpi.domains.math.domain import extract_answer
    from formalpi.engine.backends import HFGenerator, SamplingParams
    from formalpi.pi_condition import FAILED, TRY_AGAIN
    from formalpi.tiny import wrong_solution

    gen = HFGenerator.from_pretrained(model_path)
    out = []
    for level in levels:
        problems = arith_problems("test", per_level, seed=5, levels=(level,))
        pairs = [
            (p, q.gold)
            for p, q in zip(problems, problems[1:] + problems[:1])
            if p.gold is not None and q.gold != p.gold
        ]
        rates = []
        for stated in ([p.gold for p, _ in pairs], [o for _, o in pairs]):
            rng = random.Random(0)  # the same failed attempts under both statements
            prompts = [
                gen.chat_prompt(
                    [
                        ("user", p.text),
                        ("assistant", wrong_solution(p.meta["solution"], str(p.gold), rng)),
                        ("user", f"{FAILED} The correct answer is {n}. {TRY_AGAIN}"),
                    ]
                )
                for (p, _), n in zip(pairs, stated)
            ]
            outs = gen.generate(prompts, SamplingParams(n=1, temperature=0.0, max_new_tokens=48, seed=0))
            rates.append(sum(extract_answer(o[0].text) == n for o, n in zip(outs, stated)) / len(pairs))
        out.append(CopyRates(level, len(pairs), *rates))
    return out


def copy_probe_markdown(rates: Sequence[CopyRates]) -> str:
    from formalpi.analysis.tables import markdown_table

    return markdown_table(
        ("level", "problems", "gold copy %", "other number copy %"),
        [(f"L{r.level}", str(r.problems), f"{100 * r.gold_copy:.1f}", f"{100 * r.other_copy:.1f}") for r in rates],
    )


def main(
    full: bool = False,
    seeds: Sequence[int] | None = None,
    runs_dir: str | None = None,
    overrides: Sequence[str] = (),
    jobs: int | None = None,
    say: Callable[[str], None] = _say,
) -> Path:
    """`formalpi demo [--full]`: run the plan, print the tables, write the reports. Returns runs/<name>."""
    sets = ([f'runs_dir="{runs_dir}"'] if runs_dir else []) + list(overrides)
    plan = demo_plan(full, sets)
    seeds = list(seeds) if seeds else plan.base.seeds
    jobs = jobs or default_jobs()
    from formalpi.engine.preflight import preflight

    for cfg in [plan.baseline()] + [plan.config(v, c) for c in plan.conditions for v in plan.variants]:
        preflight(cfg, seeds, runs_dir_flag="--runs-dir")  # a bad seed or path fails now, not in a worker
    n_runs = len(seeds) * (1 + len(plan.conditions) * len(plan.variants))
    say(
        f"demo{' --full' if full else ''}: {n_runs} runs ({len(plan.conditions)} conditions x "
        f"{len(plan.variants)} variants + baseline, seeds {', '.join(map(str, seeds))}) in {plan.root}, "
        f"{jobs} worker process(es) x 1 torch thread"
    )
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    run_demo(plan, seeds, jobs=jobs, say=say)
    wall = time.perf_counter() - t0
    for v in plan.variants:
        say("\n" + demo_tables(plan, v))
    reports = write_reports(plan)
    say(f"\nreports: {', '.join(map(str, reports))} (plots beside them)")
    say(f"wall time {wall:.0f} s, CPU time {_cpu_seconds() - cpu0:.0f} s (this process and its workers)")
    return plan.root


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the worker processes)."""
    import resource

    self_, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":  # pragma: no cover - `python -m formalpi.demo` is `formalpi demo`
    main(full="--full" in sys.argv)
