"""`formalpi table`: the rows x seeds of a table on local GPUs, local CPU workers or a Ray cluster (thin: the work
is formalpi/scaleout/table.py), then `formalpi report` over the table."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from formalpi.cli._common import console, parse_seeds


def register(root: typer.Typer) -> None:
    @root.command("table")
    def table(
        configs: List[str] = typer.Argument(
            ..., help="experiment tomls, or a domain (math | code | lean) for every experiments/<domain>_*.toml row"
        ),
        seeds: Optional[str] = typer.Option(None, help="comma-separated seeds for every row (default: each row's own)"),
        gpus: Optional[str] = typer.Option(None, help="local GPUs, one run per GPU, e.g. 0-7 or 0,2"),
        jobs: int = typer.Option(1, help="local CPU worker processes when no --gpus (one torch thread each)"),
        ray_address: Optional[str] = typer.Option(
            None,
            "--ray-address",
            help="run each run as a Ray task on this cluster ('auto' "
            "after `ray start`, 'local' for a Ray instance here)",
        ),
        gpus_per_run: float = typer.Option(1.0, "--gpus-per-run", help="Ray: GPUs a run asks for (0 on CPU)"),
        cpus_per_run: float = typer.Option(1.0, "--cpus-per-run", help="Ray: CPUs a run asks for"),
        retries: int = typer.Option(2, min=0, help="times a run whose worker died is resumed"),
        set_: Optional[List[str]] = typer.Option(None, "--set", help="override a key in every row: key=value"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print tokens, GPU-hours and the run order; run nothing"),
        report_out: Optional[Path] = typer.Option(
            None, "--report-out", help="where the table's report.md goes (default: <runs_dir>/table)"
        ),
        no_report: bool = typer.Option(False, "--no-report", help="skip the report at the end"),
    ):
        """Run a table of experiment rows x seeds: ordered by checkpoint dependencies, resumed from the run store,
        one line per run, then the report over every row."""
        from formalpi.errors import ConfigError, require_module
        from formalpi.scaleout import table as t

        if gpus is not None and ray_address is not None:
            raise ConfigError("--gpus and --ray-address: choose one (Ray places runs on the cluster's GPUs itself)")
        plan = t.plan_table(t.config_paths(configs), parse_seeds(seeds) if seeds else None, set_ or [])
        if dry_run:
            for line in t.dry_run_lines(plan):
                console.print(line, markup=False, highlight=False)
            return
        if any(c.model.path == "tiny" for c in plan.configs.values()):  # the built-in model, built on first use
            from formalpi.tiny import resolve_model_path

            plan = t.plan_table(
                t.config_paths(configs),
                parse_seeds(seeds) if seeds else None,
                set_ or [],
                tiny_model=resolve_model_path("tiny"),
            )
        t.check_table(plan)
        if ray_address is not None:
            require_module("ray", "--ray-address")
        where = t.Placement(
            gpus=t.parse_gpus(gpus) if gpus else (),
            cpu_workers=jobs,
            ray_address=ray_address,
            gpus_per_run=gpus_per_run,
            cpus_per_run=cpus_per_run,
            retries=retries,
        )
        say = lambda line: console.print(line, markup=False, highlight=False)  # noqa: E731
        say(
            f"table: {len(plan.jobs)} runs of {len(plan.configs)} rows on "
            + (
                f"Ray ({ray_address})"
                if where.uses_ray
                else f"GPUs {','.join(where.gpus)}"
                if where.gpus
                else f"{jobs} CPU worker(s)"
            )
        )
        t.run_table(plan, where, say)
        if not no_report:
            from formalpi.cli.analysis import report

            dirs = [d for d in plan.row_dirs() if d.is_dir()]
            out = report_out or dirs[0].parent / "table"
            out.mkdir(parents=True, exist_ok=True)
            report(run_dirs=dirs, out=out, reference=None, band_low=0.0, band_high=1.0, n_boot=1000, no_plots=False)
