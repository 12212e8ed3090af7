"""Experiment commands: `demo`, `run`, `tiny train`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from formalpi.cli._common import console, parse_seeds, progress, stage_progress
from formalpi.errors import require_module

tiny_app = typer.Typer(no_args_is_help=True, help="The built-in tiny model (Qwen3 architecture, trained on arith).")


@tiny_app.command("train")
def tiny_train(
    force: bool = typer.Option(False, help="retrain from the seed (ignores shipped and cached weights)"),
    eval_n: int = typer.Option(4, help="samples per held-out problem for the base pass@1"),
    probe: bool = typer.Option(
        True,
        help="also print the PI manipulation checks (greedy copy rates "
        "per level; retry yield and PI-copy rate per condition)",
    ),
):
    """Train (or load from cache) the tiny model and print its base pass@1 on the held-out arith split."""
    import shutil

    from formalpi.tiny import TinySpec, base_pass_at_1, ensure_tiny_model, tiny_path

    spec = TinySpec()
    if force:  # retrain from the seed into the cache (the shipped weights are left as they are)
        shutil.rmtree(tiny_path(spec), ignore_errors=True)
    t0 = time.perf_counter()
    with progress() as p:
        task = p.add_task("train tiny model", total=spec.steps)
        path = ensure_tiny_model(spec, on_step=lambda s, loss: p.update(task, completed=s + 1), use_shipped=not force)
    console.print(f"model: {path} ({time.perf_counter() - t0:.1f} s)")
    summary = base_pass_at_1(str(path), n=eval_n)
    table = Table(title="tiny model: base pass@1 on the held-out arith split (%)")
    for k in summary:
        table.add_column(k)
    table.add_row(*(f"{v['pass@1']:.1f}" for v in summary.values()))
    console.print(table)
    if probe:  # what the model does with each condition's PI before any training (docs/demo.md, section 1)
        import tempfile

        from formalpi.analysis.manipulation import manipulation_markdown
        from formalpi.demo import copy_probe, copy_probe_markdown, probe_pi

        console.print("Greedy retries shown a number in the gold condition's wording (held-out, per level):")
        console.print(copy_probe_markdown(copy_probe(str(path))), markup=False)
        with tempfile.TemporaryDirectory() as d:
            console.print(manipulation_markdown(probe_pi(str(path), Path(d))), markup=False)


def require_scale_extras(scale) -> None:
    """The optional packages the scale-out flags need, checked before any work (not in a launched subprocess)."""
    from formalpi.engine.launch import Launcher, Strategy
    from formalpi.scaleout.ray_executor import Executor

    if scale is None:
        return
    if scale.launcher is Launcher.ACCELERATE and scale.strategy in (Strategy.ZERO2, Strategy.ZERO3):
        require_module("deepspeed", f"--strategy {scale.strategy.value}")
    if scale.executor is Executor.RAY:
        require_module("ray", "--executor ray")


def register(root: typer.Typer) -> None:
    root.add_typer(tiny_app, name="tiny")

    @root.command()
    def demo(
        full: bool = typer.Option(
            False,
            "--full",
            help="the powered design (3 seeds x 750 problems, "
            "formalpi/configs/demo_full.toml; about 25 min on two "
            "cores) instead of the reduced one",
        ),
        seeds: Optional[str] = typer.Option(None, help="comma-separated seeds (default: the config's)"),
        runs_dir: str = typer.Option("runs", help="where runs/demo/... is written"),
        jobs: Optional[int] = typer.Option(
            None, help="worker processes, one torch thread each (default: one per usable core)"
        ),
        set_: Optional[List[str]] = typer.Option(None, "--set", help="override a config key: key=value"),
    ):
        """The headline experiment in miniature: tiny model, arith, baseline + 8 rows x seeds; resumable.
        Prints plain progress lines, then per variant the table, Holm verdicts and manipulation checks."""
        from formalpi.demo import main

        main(full=full, seeds=parse_seeds(seeds) if seeds else None, runs_dir=runs_dir, overrides=set_ or [], jobs=jobs)

    @root.command("generate-hints")
    def generate_hints(
        config: Path = typer.Argument(
            ..., help="the row whose training problems get hints, e.g. experiments/math_cross_model_hint.toml"
        ),
        model: str = typer.Option(..., help="the (larger) model that writes them: a local checkpoint or hub id"),
        out: Optional[Path] = typer.Option(None, help="default: <data dir>/cross_model_<dataset>.jsonl"),
        n: int = typer.Option(4, help="samples per problem; the first verified one is kept"),
        seed: int = typer.Option(0, help="sampling seed"),
        set_: Optional[List[str]] = typer.Option(None, "--set", help="override a config key"),
    ):
        """Write the cross-model file (another model's verified solutions + first-step hints) for a row."""
        from formalpi.config import load_config
        from formalpi.domain import open_domain
        from formalpi.engine.hints import generate_cross_model
        from formalpi.engine.stages import make_generator, train_problems
        from formalpi.paths import data_dir
        from formalpi.tiny import resolve_model_path

        cfg = load_config(config, set_ or [])
        target = out or data_dir() / f"cross_model_{cfg.data.dataset}.jsonl"
        domain = open_domain(cfg.domain, cfg.verify)
        try:
            problems = train_problems(domain, cfg, seed)
            gen = make_generator(cfg, resolve_model_path(model))
            with progress() as p:
                res = generate_cross_model(
                    gen,
                    domain,
                    problems,
                    cfg,
                    target,
                    n=n,
                    seed=seed,
                    on_progress=stage_progress(p)(f"hints ({model})", len(problems)),
                )
        finally:
            domain.close()
        console.print(
            f"wrote {res.path}: {res.solved} of {res.problems} problems solved by {model} "
            f"({res.hints} with a first-step hint; {res.samples} samples)"
        )

    @root.command()
    def run(
        config: Path = typer.Argument(..., help="experiments/<name>.toml"),
        seeds: Optional[str] = typer.Option(None, help="comma-separated seeds (default: the config's)"),
        set_: Optional[List[str]] = typer.Option(None, "--set", help="override a config key: key=value"),
        variant: Optional[str] = typer.Option(
            None,
            "--variant",
            help="a sibling setting of the row, run as <row>@<variant> (formalpi.config.VARIANTS, e.g. lora_lr)",
        ),
        launcher: str = typer.Option("local", help="training: local (this process) | accelerate"),
        num_gpus: int = typer.Option(1, "--num-gpus", help="accelerate processes and generation workers"),
        strategy: str = typer.Option("zero3", help="accelerate config: ddp | zero2 | zero3 | fsdp"),
        executor: str = typer.Option("local", help="verification pools: local | ray (one actor per node)"),
        ray_address: Optional[str] = typer.Option(None, help="Ray cluster address ('auto' after ray start)"),
        allow_weak_sandbox: bool = typer.Option(
            False,
            "--allow-weak-sandbox",
            help="code: run candidates even where the sandbox lacks layers "
            "(recorded in the manifest; every table says so)",
        ),
    ):
        """Run one experiment config over its seeds (resumes whatever is already in the run store)."""
        from formalpi.config import load_config
        from formalpi.engine.preflight import preflight
        from formalpi.scaleout.cli_options import scale_from_flags

        scale = scale_from_flags(launcher, num_gpus, strategy, executor, ray_address)
        require_scale_extras(scale)
        cfg = load_config(
            config,
            [*(set_ or []), *(["verify.allow_weak_sandbox=true"] if allow_weak_sandbox else [])],
            variant=variant,
        )
        seed_list = parse_seeds(seeds) if seeds else cfg.seeds
        preflight(cfg, seed_list)
        # torch and transformers load here, after every check (seconds on a busy machine)
        from formalpi.analysis.results import write_run_results
        from formalpi.engine.experiment import run_experiment
        from formalpi.engine.stages import start_model
        from formalpi.scaleout.options import make_domain
        from formalpi.tiny import resolve_model_path

        # what the engine is handed: the domain (a Ray actor per node with --executor ray), where training and
        # generation go, and each seed's starting model resolved ("tiny": the built-in model, built on first use)
        domain = make_domain(cfg, scale)
        try:
            with progress() as p:
                for seed in seed_list:
                    result = run_experiment(
                        cfg,
                        seed,
                        stage_progress(p),
                        domain=domain,
                        placement=scale.placement if scale else None,
                        model_path=resolve_model_path(start_model(cfg, seed)),
                    )
                    write_run_results(result.store.root)  # results.json: metrics, budget, fingerprint of this seed
                    if result.skipped_stages:
                        console.print(
                            f"{cfg.name} seed {seed}: resumed; already finished in {result.store.root}, "
                            f"not run again: {', '.join(result.skipped_stages)}",
                            highlight=False,
                            markup=False,
                        )
                    console.print(
                        f"[bold]{cfg.name}[/] seed {seed}: "
                        + ", ".join(f"{k} {v.get('pass@1', float('nan')):.1f}" for k, v in result.summary.items())
                    )
        finally:
            domain.close()
        console.print(f"runs in {Path(cfg.runs_dir) / cfg.name}; `formalpi report {Path(cfg.runs_dir) / cfg.name}`")
