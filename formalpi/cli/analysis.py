"""`formalpi report RUN_DIR...` and `formalpi diversity RUN...`: thin wrappers over formalpi.analysis."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from formalpi.analysis import N_BOOT
from formalpi.cli._common import console
from formalpi.errors import ConfigError

# formalpi.analysis (scipy, matplotlib) is imported inside the commands: `formalpi --help` and every
# other command start without loading it

app = typer.Typer(no_args_is_help=True, help="Statistics, path diversity, frontier bands and reports.")


def report(
    run_dirs: list[Path] = typer.Argument(..., help="run directories (searched for */manifest.json)"),
    out: Path | None = typer.Option(None, "--out", help="where report.md and PNGs go (default: first RUN_DIR)"),
    reference: str | None = typer.Option(
        None, "--reference", help="condition the others are compared with (default: baseline)"
    ),
    band_low: float = typer.Option(0.0, "--band-low", help="base solve rate <= this: unsolved"),
    band_high: float = typer.Option(1.0, "--band-high", help="base solve rate >= this: saturated"),
    n_boot: int = typer.Option(N_BOOT, "--n-boot", min=100, help="bootstrap replicates (the demo's)"),
    no_plots: bool = typer.Option(False, "--no-plots", help="skip the PNG plots"),
    allow_different_eval: bool = typer.Option(
        False,
        "--allow-different-eval",
        help="compare runs evaluated on other problems or settings than the "
        "baseline (on the problems all share; said under each table)",
    ),
) -> None:
    """Write report.md + PNG plots and print the condition table."""
    from formalpi.analysis.frontier import FrontierBand
    from formalpi.analysis.report import ReportOptions, build_report, save_report

    opts = ReportOptions(
        reference=reference,
        band=FrontierBand(band_low, band_high),
        n_boot=n_boot,
        plots=not no_plots,
        allow_different_eval=allow_different_eval,
    )
    groups, diversity = build_report(run_dirs, opts)
    path = save_report(groups, diversity, out or run_dirs[0], opts)
    for g in groups:
        console.print(condition_table_rich(g))
        for w in g.warnings:  # a table made from a run that trained on eval (or ran code weakly) says so
            console.print(f"WARNING (!): {w}", style="bold red", highlight=False, markup=False)
        for n in [*g.comparability, *g.left_out]:
            console.print(f"COMPARABILITY: {n}", style="bold yellow", highlight=False, markup=False)
        for c in g.comparisons:
            console.print(c.line(), highlight=False)
    console.print(
        f"wrote {path}, results.json and the tables as CSV"
        + ("" if no_plots else " beside it, and the plots (PNG + SVG + PDF)"),
        highlight=False,
    )


def condition_table_rich(g) -> Table:
    """A rich table of one GroupAnalysis (formalpi.analysis.tables)."""
    from formalpi.analysis.tables import CONDITION_HEADER, condition_cells

    table = Table(title=g.title)
    for name in CONDITION_HEADER:  # "95% CI" over "(t, seeds)": narrow headers leave room for the numbers
        table.add_column(name.replace(" (t over seeds)", "\n(t, seeds)"), no_wrap=True)  # numbers stay whole
    for cells in condition_cells(g.rows, g.baseline is not None):
        table.add_row(*cells)
    return table


def diversity(
    runs: list[Path] = typer.Argument(..., help="run directories (searched for */manifest.json)"),
    domain: str | None = typer.Option(
        None, "--domain", help="canonicalise as math | code | lean (default: each run's)"
    ),
    n_boot: int = typer.Option(1000, "--n-boot", min=100, help="bootstrap replicates"),
) -> None:
    """Path diversity of the correct eval solutions per condition: PD_path and the surface control PD_lex."""
    from formalpi.analysis.diversity import DiversityDomain, render_diversity_table, runs_diversity
    from formalpi.analysis.runs_index import discover_runs

    try:
        chosen = DiversityDomain(domain) if domain is not None else None
    except ValueError:
        raise ConfigError(f"--domain {domain!r}: choose one of {', '.join(d.value for d in DiversityDomain)}") from None
    summaries = runs_diversity(discover_runs(runs), chosen, n_boot=n_boot)
    console.print(render_diversity_table(summaries), highlight=False, markup=False)


def register(root: typer.Typer) -> None:
    root.command("report")(report)
    root.command("diversity")(diversity)
