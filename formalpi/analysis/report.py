"""The markdown report and its PNG plots, from one or more run directories.

`write_report(run_dirs, out_dir)` is what `formalpi report` and the demo call; `render_condition_table(run_dirs)`
gives just the seed's condition table (markdown) for printing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from formalpi.analysis import plots
from formalpi.analysis.diversity import DiversityDomain, DiversitySummary, diversity_by_domain, render_diversity_table
from formalpi.analysis.frontier import FrontierBand, render_bin_table
from formalpi.analysis.runs_index import discover_runs
from formalpi.analysis.tables import (
    GroupAnalysis, analyse, condition_cells, condition_table_markdown, load_records, markdown_table, row_keys)
from formalpi.engine.conditions import get_condition
from formalpi.errors import ConfigError
from formalpi.records import EvalRecord
from formalpi.runs import RunStore


@dataclass(frozen=True)
class ReportOptions:
    reference: str | None = None  # the condition every other is compared with (default: the baseline)
    band: FrontierBand = FrontierBand()
    n_boot: int = 1000
    seed: int = 0  # bootstrap seed: the same report every time
    plots: bool = True


def teacher_sees(condition: str) -> str:
    """The registry's description of what the model is shown; plain words for the baseline and unknown names."""
    if condition == "baseline":
        return "— (the base model, no post-training)"
    try:
        return get_condition(condition).description
    except ConfigError:
        return "(not a registered condition)"


def teacher_table(groups: Sequence[GroupAnalysis]) -> str:
    conds = sorted({r.condition for g in groups for r in g.rows}, key=lambda c: (c != "baseline", c))
    return markdown_table(("Condition", "What the teacher sees"), [(c, teacher_sees(c)) for c in conds])


def domain_model_method_table(groups: Sequence[GroupAnalysis]) -> str:
    """One row per domain × model × method × condition: seeds, mean ± std and 95% CI (gain in pp)."""
    rows = []
    for g in groups:
        for r, cells in zip(g.rows, condition_cells(g.rows, g.baseline is not None)):
            rows.append((g.domain, g.model, g.dataset, r.method, *cells[:4]))
    return markdown_table(("Domain", "Model", "Data", "Method", "Condition", "Seeds", "Mean +/- Std", "95% CI"), rows)


BUDGET_COLUMNS = (("samples", "Samples"), ("completion_tokens", "Gen. tokens"), ("train_tokens", "Train tokens"),
                  ("verifier_calls", "Verifier calls"), ("wall_s", "Wall s"))


def run_budget(run_dir: Path) -> dict[str, float]:
    """One run's budget: each counter summed over the stages of its manifest (attempts, retries, verify, train,
    opsd, eval...)."""
    stages = RunStore(run_dir).manifest().get("stages", {})
    return {key: float(sum(st.get(key, 0) or 0 for st in stages.values() if isinstance(st, dict)))
            for key, _ in BUDGET_COLUMNS}


def budget_table(groups: Sequence[GroupAnalysis]) -> str:
    """Per domain × model × condition row: the mean over seeds of each budget counter, so matched comparisons
    (same samples, same tokens) can be checked next to the gains."""
    rows = []
    for g in groups:
        keys = row_keys(g.runs)
        by_row: dict[str, list[dict[str, float]]] = {}
        for run in g.runs:
            by_row.setdefault(keys[run.path], []).append(run_budget(run.path))
        for key in sorted(by_row, key=lambda k: (k != "baseline", k)):
            budgets = by_row[key]
            cells = [f"{sum(b[c] for b in budgets) / len(budgets):,.{1 if c == 'wall_s' else 0}f}"
                     for c, _ in BUDGET_COLUMNS]
            rows.append((g.domain, g.model, key, str(len(budgets)), *cells))
    return markdown_table(("Domain", "Model", "Condition", "Seeds", *(h for _, h in BUDGET_COLUMNS)), rows)


def _diversity(groups: Sequence[GroupAnalysis], records: dict[Path, list[EvalRecord]],
               opts: ReportOptions) -> list[DiversitySummary]:
    by_domain: dict[DiversityDomain, list[EvalRecord]] = {}
    for g in groups:
        for run in g.runs:
            by_domain.setdefault(DiversityDomain(g.domain), []).extend(records[run.path])
    return diversity_by_domain(by_domain, n_boot=opts.n_boot, seed=opts.seed)


def build_report(run_dirs: Sequence[str | Path], opts: ReportOptions = ReportOptions()
                 ) -> tuple[list[GroupAnalysis], list[DiversitySummary]]:
    runs = discover_runs(run_dirs)
    records, base_records = load_records(runs)
    groups = analyse(runs, records, base_records, reference=opts.reference, band=opts.band, n_boot=opts.n_boot,
                     seed=opts.seed)
    return groups, _diversity(groups, records, opts)


def render_markdown(groups: Sequence[GroupAnalysis], diversity: Sequence[DiversitySummary],
                    images: Sequence[Path] = (), opts: ReportOptions = ReportOptions()) -> str:
    parts = ["# formalpi report", ""]
    for g in groups:
        n_seeds = len({r.seed for r in g.runs})
        parts += [f"## {g.title}", "",
                  f"{len(g.runs)} runs, {n_seeds} seeds, {len(g.matrices)} rows. Gains are pass@1 in pp over the "
                  f"baseline of the same seed; 95% CI from Student's t over seeds; verdicts from a paired bootstrap "
                  f"over problems nested over seeds ({opts.n_boot} replicates), Holm-corrected across the family.",
                  "", "### Conditions", "", condition_table_markdown(g), ""]
        parts += [f"_Note: {n}_" for n in g.notes] + ([""] if g.notes else [])
        if g.levels:
            parts += ["### Per level (Δ over baseline, pp, 95% paired-bootstrap CI)", "", render_bin_table(g.levels), ""]
        if g.frontier:
            parts += [f"### Frontier bands (base solve rate: unsolved <= {g.band.low:g} < frontier < {g.band.high:g} "
                      f"<= saturated)", "", render_bin_table(g.frontier), ""]
    parts += ["## Domain × model × method", "", domain_model_method_table(groups), "",
              "## Budget (mean per seed, all stages)", "", budget_table(groups), "",
              "## What the teacher sees", "", teacher_table(groups), "",
              "## Path diversity (mean over problems [95% bootstrap CI])", "", render_diversity_table(diversity), ""]
    if images:
        parts += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in images] + [""]
    return "\n".join(parts)


def write_plots(groups: Sequence[GroupAnalysis], diversity: Sequence[DiversitySummary], out_dir: Path) -> list[Path]:
    return [plots.plot_gains(groups, out_dir / "gains.png"),
            plots.plot_inverted_u(groups, out_dir / "inverted_u.png"),
            plots.plot_levels(groups, out_dir / "levels.png"),
            plots.plot_retries(groups, out_dir / "retries.png"),
            plots.plot_diversity(diversity, out_dir / "diversity.png")]


def save_report(groups: Sequence[GroupAnalysis], diversity: Sequence[DiversitySummary], out_dir: str | Path,
                opts: ReportOptions = ReportOptions()) -> Path:
    """Write report.md (and the PNGs unless opts.plots is off) into out_dir; returns report.md's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = write_plots(groups, diversity, out) if opts.plots else []
    path = out / "report.md"
    path.write_text(render_markdown(groups, diversity, images, opts))
    return path


def write_report(run_dirs: Sequence[str | Path], out_dir: str | Path | None = None,
                 opts: ReportOptions = ReportOptions()) -> Path:
    """Analyse the runs under `run_dirs`; write report.md (and PNGs) into `out_dir` (default: the first run dir).
    Returns the path of report.md."""
    if not run_dirs:
        raise ConfigError("report: give at least one run directory, e.g. `formalpi report runs/demo`")
    groups, diversity = build_report(run_dirs, opts)
    return save_report(groups, diversity, out_dir if out_dir is not None else run_dirs[0], opts)


def render_condition_table(run_dirs: Sequence[str | Path], reference: str | None = None, n_boot: int = 1000) -> str:
    """The seed's condition table (markdown) with its verdict lines, one section per comparable group."""
    runs = discover_runs(run_dirs)
    records, base_records = load_records(runs)
    groups = analyse(runs, records, base_records, reference=reference, n_boot=n_boot)
    if len(groups) == 1:
        return condition_table_markdown(groups[0])
    return "\n\n".join(f"{g.title}\n\n{condition_table_markdown(g)}" for g in groups)
