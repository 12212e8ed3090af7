"""The markdown report and its PNG plots, from one or more run directories.

`write_report(run_dirs, out_dir)` is what `formalpi report` and the demo call; `render_condition_table(run_dirs)`
gives just the seed's condition table (markdown) for printing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from formalpi.analysis import N_BOOT, plots
from formalpi.analysis.diversity import DiversitySummary, render_diversity_table, rows_diversity
from formalpi.analysis.frontier import FrontierBand, render_bin_table, render_u_table
from formalpi.analysis.manipulation import collect as manipulation_checks
from formalpi.analysis.manipulation import manipulation_markdown
from formalpi.analysis.results import (
    TRUNCATION_PARTS,
    report_results,
    row_budgets,
    row_truncation,
    write_json,
    write_report_csvs,
)
from formalpi.analysis.runs_index import BUDGET_COLUMNS, discover_runs
from formalpi.analysis.tables import (
    GroupAnalysis,
    analyse,
    condition_cells,
    condition_table_markdown,
    load_records,
    markdown_table,
    render_mcnemar_table,
    render_round_table,
    row_keys,
    warning_block,
)
from formalpi.errors import ConfigError, RunStoreError
from formalpi.records import EvalRecord
from formalpi.truncation import EVAL_WARN_SHARE


@dataclass(frozen=True)
class ReportOptions:
    reference: str | None = None  # the condition every other is compared with (default: the baseline)
    band: FrontierBand = FrontierBand()
    n_boot: int = N_BOOT
    seed: int = 0  # bootstrap seed: the same report every time
    plots: bool = True
    allow_different_eval: bool = False  # compare runs evaluated differently (on their shared problems; said)


NOT_RECORDED = "(not recorded: its runs predate the manifest's `condition` record)"


def teacher_sees(condition: str, recorded: Mapping[str, str]) -> str:
    """What the model is shown under `condition`, as its runs recorded it (manifest `condition.description`, written
    by the engine from the condition's own docstring); plain words for the baseline and for older runs."""
    if condition == "baseline":
        return "— (the base model, no post-training)"
    return recorded.get(condition, NOT_RECORDED)


def teacher_table(groups: Sequence[GroupAnalysis]) -> str:
    conds = sorted({r.condition for g in groups for r in g.rows}, key=lambda c: (c != "baseline", c))
    recorded = {run.condition: run.condition_description for g in groups for run in g.runs if run.condition_description}
    return markdown_table(("Condition", "What the teacher sees"), [(c, teacher_sees(c, recorded)) for c in conds])


def domain_model_method_table(groups: Sequence[GroupAnalysis]) -> str:
    """One row per domain × model × method × condition: seeds, mean ± std and 95% t-CI over seeds (gain in pp)."""
    rows = []
    for g in groups:
        for r, cells in zip(g.rows, condition_cells(g.rows, g.baseline is not None)):
            rows.append((g.domain, g.model, g.dataset, r.method, *cells[:4]))
    return markdown_table(
        ("Domain", "Model", "Data", "Method", "Condition", "Seeds", "Mean +/- Std", "95% CI (t over seeds)"), rows
    )


def all_warnings(groups: Sequence[GroupAnalysis]) -> str:
    """Every group's warnings, for the tables that mix groups ("" when none)."""
    lines = [f"> **WARNING (!)** {g.title}: {w}" for g in groups for w in g.warnings]
    return ("\n\n" + "\n".join(lines)) if lines else ""


def budget_table(groups: Sequence[GroupAnalysis]) -> str:
    """Per domain × model × condition row: the mean over seeds of each budget counter, so matched comparisons
    (same samples, same tokens) can be checked next to the gains."""
    rows = []
    for g in groups:
        budgets = row_budgets(g)
        n_seeds = {r.key: len(r.summary.values) for r in g.rows}
        flagged = {r.key for r in g.rows if r.warnings}
        for key in sorted(budgets, key=lambda k: (k != "baseline", k)):
            b = budgets[key]
            cells = [f"{b[c]:,.{1 if c == 'wall_s' else 0}f}" for c, _ in BUDGET_COLUMNS]
            rows.append(
                (g.domain, g.model, key + (" (!)" if key in flagged else ""), str(n_seeds.get(key, "")), *cells)
            )
    return markdown_table(("Domain", "Model", "Condition", "Seeds", *(h for _, h in BUDGET_COLUMNS)), rows)


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}"


def truncation_table(groups: Sequence[GroupAnalysis]) -> str:
    """Per row: the share (%) of first attempts, retries and eval samples that hit max_new_tokens, mean over
    seeds ("n/a": the stage drew none, or its records predate token counts); rows over the threshold marked (!)."""
    rows = []
    for g in groups:
        shares = row_truncation(g)
        for key in sorted(shares, key=lambda k: (k != "baseline", k)):
            share = shares[key]
            cells = [_percent(share[part]) for part in TRUNCATION_PARTS]
            eval_share = share["eval"]
            over = eval_share is not None and eval_share > EVAL_WARN_SHARE
            rows.append((g.domain, g.model, key + (" (!)" if over else ""), *cells))
    return markdown_table(("Domain", "Model", "Condition", "First attempts %", "Retries %", "Eval %"), rows)


def _diversity(
    groups: Sequence[GroupAnalysis], records: dict[Path, list[EvalRecord]], opts: ReportOptions
) -> list[DiversitySummary]:
    """Per group and condition row (never pooled over conditions): each run's eval records, one list per seed."""
    rows: dict[tuple[str, str, str], list[list[EvalRecord]]] = {}
    for g in groups:
        keys = row_keys(g.runs)
        for run in g.runs:
            rows.setdefault((g.domain, g.title, keys[run.path]), []).append(records[run.path])
    ordered = dict(sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][2] != "baseline", kv[0][2])))
    return rows_diversity(ordered, n_boot=opts.n_boot, seed=opts.seed)


def build_report(
    run_dirs: Sequence[str | Path], opts: ReportOptions = ReportOptions()
) -> tuple[list[GroupAnalysis], list[DiversitySummary]]:
    runs = discover_runs(run_dirs)
    records, base_records = load_records(runs)
    groups = analyse(
        runs,
        records,
        base_records,
        reference=opts.reference,
        band=opts.band,
        n_boot=opts.n_boot,
        seed=opts.seed,
        allow_different_eval=opts.allow_different_eval,
    )
    return groups, _diversity(groups, records, opts)


def render_markdown(
    groups: Sequence[GroupAnalysis],
    diversity: Sequence[DiversitySummary],
    images: Sequence[Path] = (),
    opts: ReportOptions = ReportOptions(),
) -> str:
    parts = ["# formalpi report", ""]
    warned = all_warnings(groups)
    if warned:
        parts += [warned.strip(), ""]
    for g in groups:
        n_seeds = len({r.seed for r in g.runs})
        parts += [
            f"## {g.title}",
            "",
            f"{len(g.runs)} runs, {n_seeds} seeds, {len(g.matrices)} rows. Gains are pass@1 in pp over the "
            f"baseline of the same seed. The table's 95% CI is Student's t over the per-seed values (seed-to-seed "
            f"spread); the comparison lines' 95% CI is a paired bootstrap over problems nested in seeds "
            f"({opts.n_boot} replicates), and their verdict is decided on the Holm-adjusted p-value across the "
            f"family of comparisons with the reference.",
            "",
            g.seed_varies,
            "",
            "### Conditions",
            "",
            condition_table_markdown(g),
            "",
        ]
        parts += [f"_Note: {n}_" for n in g.notes] + ([""] if g.notes else [])
        parts += [
            "### Training volume and manipulation checks (pooled over seeds; examples and optimizer steps per seed)",
            "",
            manipulation_markdown(manipulation_checks(g.runs)),
            "",
        ]
        if g.mcnemar:
            parts += [
                "### McNemar per seed (each problem's first sample; exact binomial test on the discordant "
                "problems, Holm within each seed)",
                "",
                render_mcnemar_table(g.mcnemar) + warning_block(g),
                "",
            ]
        if g.rounds:
            parts += [
                "### Per round (iterative rows: each round's model against the baseline)",
                "",
                render_round_table(g.rounds) + warning_block(g),
                "",
            ]
        if g.levels:
            parts += [
                "### Per level (Δ over baseline, pp, 95% paired-bootstrap CI)",
                "",
                render_bin_table(g.levels) + warning_block(g),
                "",
            ]
        if g.frontier:
            parts += [
                f"### Frontier bands (base solve rate: unsolved <= {g.band.low:g} < frontier < {g.band.high:g} "
                f"<= saturated)",
                "",
                render_bin_table(g.frontier) + warning_block(g),
                "",
            ]
        if g.u_points:
            parts += [
                f"### Inverted U (bins: {g.u_source}; x = the baseline's pass@1 in the bin, y = the gain over "
                f"that baseline)",
                "",
                render_u_table(g.u_points) + warning_block(g),
                "",
            ]
            if g.u_contrasts:
                parts += (
                    ["Contrast per condition (bins ordered by the baseline's pass@1; Holm over the conditions):", ""]
                    + [f"- {u.line()}" for u in g.u_contrasts]
                    + [""]
                )
    parts += [
        "## Domain × model × method",
        "",
        domain_model_method_table(groups) + warned,
        "",
        "## Budget (mean per seed, all stages)",
        "",
        budget_table(groups) + warned,
        "",
        f"## Truncation (share of completions that hit max_new_tokens, mean per seed; (!) eval over "
        f"{100 * EVAL_WARN_SHARE:.0f}%)",
        "",
        truncation_table(groups),
        "",
        "## What the teacher sees",
        "",
        teacher_table(groups),
        "",
        "## Path diversity of correct solutions, per condition (docs/diversity.md; mean over problems "
        "[95% bootstrap CI over problems])",
        "",
        render_diversity_table(diversity) + warned,
        "",
    ]
    if images:
        parts += ["## Plots (PNG; SVG and PDF beside each)", ""] + [f"![{p.stem}]({p.name})" for p in images] + [""]
    return "\n".join(parts)


def write_plots(groups: Sequence[GroupAnalysis], diversity: Sequence[DiversitySummary], out_dir: Path) -> list[Path]:
    """Each plot as PNG (for the markdown) with SVG and PDF beside it; returns the PNG paths."""
    out = [
        plots.plot_gains(groups, out_dir / "gains.png"),
        plots.plot_inverted_u(groups, out_dir / "inverted_u.png"),
        plots.plot_levels(groups, out_dir / "levels.png"),
    ]
    if len(retry_levels(groups)) > 1:  # with one K the plot has no x axis to speak of
        out.append(plots.plot_retries(groups, out_dir / "retries.png"))
    return out + [plots.plot_diversity(diversity, out_dir / "diversity.png")]


def retry_levels(groups: Sequence[GroupAnalysis]) -> list[int]:
    """The retries K of the compared rows (those with a baseline to gain over)."""
    return sorted({r.retries for g in groups if g.baseline is not None for r in g.rows if not r.is_baseline})


def _writable_dir(out: Path) -> None:
    """Fail before any work is written when `out` cannot take the report, naming the fix (--out)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".formalpi-write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise RunStoreError(
            f"report: cannot write into {out} ({e.strerror or e}); the run directory may be "
            f"read-only: pass --out DIR to write the report somewhere else"
        ) from None


def save_report(
    groups: Sequence[GroupAnalysis],
    diversity: Sequence[DiversitySummary],
    out_dir: str | Path,
    opts: ReportOptions = ReportOptions(),
) -> Path:
    """Write report.md, results.json, the tables as CSV and (unless opts.plots is off) the plots into out_dir;
    returns report.md's path."""
    out = Path(out_dir)
    _writable_dir(out)
    images = write_plots(groups, diversity, out) if opts.plots else []
    write_json(
        out / "results.json",
        report_results(
            groups,
            diversity,
            {
                "reference": opts.reference,
                "band": [opts.band.low, opts.band.high],
                "n_boot": opts.n_boot,
                "bootstrap_seed": opts.seed,
                "confidence": 0.95,
            },
        ),
    )
    write_report_csvs(groups, diversity, out)
    path = out / "report.md"
    path.write_text(render_markdown(groups, diversity, images, opts))
    return path


def write_report(
    run_dirs: Sequence[str | Path], out_dir: str | Path | None = None, opts: ReportOptions = ReportOptions()
) -> Path:
    """Analyse the runs under `run_dirs`; write report.md (and PNGs) into `out_dir` (default: the first run dir).
    Returns the path of report.md."""
    if not run_dirs:
        raise ConfigError("report: give at least one run directory, e.g. `formalpi report runs/demo`")
    groups, diversity = build_report(run_dirs, opts)
    return save_report(groups, diversity, out_dir if out_dir is not None else run_dirs[0], opts)


def render_condition_table(
    run_dirs: Sequence[str | Path],
    reference: str | None = None,
    n_boot: int = N_BOOT,
    allow_different_eval: bool = False,
) -> str:
    """The seed's condition table (markdown) with its verdict lines, one section per comparable group."""
    runs = discover_runs(run_dirs)
    records, base_records = load_records(runs)
    groups = analyse(
        runs, records, base_records, reference=reference, n_boot=n_boot, allow_different_eval=allow_different_eval
    )
    if len(groups) == 1:
        return condition_table_markdown(groups[0])
    return "\n\n".join(f"{g.title}\n\n{condition_table_markdown(g)}" for g in groups)
