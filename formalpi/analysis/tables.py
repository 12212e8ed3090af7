"""From runs to analysed groups: the rows every table and plot of the report is drawn from.

A group is the runs whose gains are comparable (same domain, model and eval data). Within a group each run gets a
row key: its condition label, plus what tells apart runs sharing that label (method, retries K, experiment).
Gains are pass@1 differences in pp over the baseline of the same seed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from formalpi.analysis.comparability import comparable_runs, volume_notes
from formalpi.analysis.frontier import (
    BaseRates,
    BinDelta,
    FrontierBand,
    UContrast,
    UPoint,
    base_solve_rates,
    cross_fit_rates,
    frontier_deltas,
    inverted_u,
    level_deltas,
    u_contrast,
)
from formalpi.analysis.runs_index import BASELINE, RunInfo, seed_varies
from formalpi.analysis.stats import (
    AnalysisError,
    Comparison,
    CorrectnessMatrix,
    SeedMcNemar,
    SeedSummary,
    compare_family,
    correctness_matrix,
    gain_summary,
    holm,
    mcnemar_family,
    pass1_summary,
)
from formalpi.errors import FormalpiError
from formalpi.records import EvalRecord

RecordCache = Mapping[Path, list[EvalRecord]]


def load_records(runs: Sequence[RunInfo]) -> tuple[dict[Path, list[EvalRecord]], dict[Path, list[EvalRecord]]]:
    """eval.jsonl and base_eval.jsonl of every run, read once."""
    return ({r.path: r.eval_records() for r in runs}, {r.path: r.base_eval_records() for r in runs})


@dataclass(frozen=True)
class ConditionRow:
    key: str  # row name in the tables
    condition: str  # the condition label (registry name, or "baseline")
    method: str
    retries: int
    is_baseline: bool
    summary: SeedSummary  # baseline: absolute pass@1 (%); others: gain over baseline (pp) or pass@1 when no baseline
    baseline_pass1: SeedSummary | None  # per-seed baseline pass@1 matched to this row's seeds
    warnings: tuple[str, ...] = ()  # from the row's runs' manifests (trained on eval, weak sandbox)


@dataclass(frozen=True)
class RoundGain:
    """An iterative row's model after round `round` (0-based), evaluated on its own: gain over the baseline."""

    key: str
    round: int
    summary: SeedSummary


@dataclass
class GroupAnalysis:
    domain: str
    model: str
    dataset: str
    runs: list[RunInfo]
    matrices: dict[str, CorrectnessMatrix]
    baseline: str | None
    rows: list[ConditionRow]
    reference: str | None
    comparisons: list[Comparison] = field(default_factory=list)
    frontier: list[BinDelta] = field(default_factory=list)
    levels: list[BinDelta] = field(default_factory=list)
    band: FrontierBand = FrontierBand()
    notes: list[str] = field(default_factory=list)  # sections left out, and why
    mcnemar: list[SeedMcNemar] = field(default_factory=list)
    u_source: str = ""  # what the inverted-U bins are ("level" or base solve-rate bands)
    u_points: list[UPoint] = field(default_factory=list)
    u_contrasts: list[UContrast] = field(default_factory=list)
    rounds: list[RoundGain] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # runs not compared (evaluated unlike the reference), and why
    comparability: list[str] = field(default_factory=list)  # said under the table: allowed differences, volumes

    @property
    def warnings(self) -> list[str]:
        """Every distinct warning of the group's runs, each with the rows it concerns."""
        by_text: dict[str, list[str]] = {}
        for r in self.rows:
            for w in r.warnings:
                by_text.setdefault(w, []).append(r.key)
        return [f"{w} [rows: {', '.join(keys)}]" for w, keys in by_text.items()]

    @property
    def seed_varies(self) -> str:
        return seed_varies(self.runs)

    @property
    def title(self) -> str:
        return f"{self.domain} / {self.model} / {self.dataset}"


def row_keys(runs: Sequence[RunInfo]) -> dict[Path, str]:
    """Condition label, suffixed by the fields that differ among runs sharing it (so rows never merge)."""
    variants: dict[str, set[tuple[str, int, str]]] = defaultdict(set)
    for r in runs:
        variants[r.condition].add((r.method, r.retries, r.experiment))
    keys = {}
    for r in runs:
        vs = variants[r.condition]
        parts = []
        if len({v[0] for v in vs}) > 1:
            parts.append(r.method)
        if len({v[1] for v in vs}) > 1:
            parts.append(f"K={r.retries}")
        if len({(v[0], v[1]) for v in vs}) < len(vs):
            parts.append(r.experiment)
        keys[r.path] = r.condition + (f" ({', '.join(parts)})" if parts else "")
    return keys


def analyse_group(
    runs: Sequence[RunInfo],
    records: RecordCache,
    base_records: RecordCache,
    *,
    reference: str | None = None,
    band: FrontierBand = FrontierBand(),
    n_boot: int = 1000,
    seed: int = 0,
    min_base_n: int = 16,
    allow_different_eval: bool = False,
) -> GroupAnalysis:
    runs = [r for r in runs if records.get(r.path)]
    if not runs:
        raise FormalpiError("no run of this group has eval records")
    comparable = comparable_runs(runs, records, allow_different_eval)
    runs, records = comparable.runs, {**records, **comparable.restrict(records)}
    keys = row_keys(runs)
    by_key: dict[str, list[RunInfo]] = defaultdict(list)
    for r in runs:
        by_key[keys[r.path]].append(r)
    for key, rs in by_key.items():
        seeds = [r.seed for r in rs]
        if len(seeds) != len(set(seeds)):
            raise FormalpiError(
                f"row {key!r}: two runs share a seed ({', '.join(str(r.path) for r in rs)}); "
                f"give them different experiment names"
            )
    matrices = {k: correctness_matrix({r.seed: records[r.path] for r in rs}, k) for k, rs in by_key.items()}
    baseline = BASELINE if BASELINE in matrices else next((k for k, rs in by_key.items() if rs[0].is_baseline), None)
    rows = []
    base_m = matrices.get(baseline) if baseline else None
    for key, rs in by_key.items():
        m = matrices[key]
        is_base = key == baseline
        if is_base or base_m is None:
            summary, bp = pass1_summary(m), None
        else:
            summary = gain_summary(m, base_m)
            bp = pass1_summary(base_m.select([s for s in summary.seeds]))
        warnings = tuple(dict.fromkeys(w for r in rs for w in r.warnings))
        rows.append(ConditionRow(key, rs[0].condition, rs[0].method, rs[0].retries, is_base, summary, bp, warnings))
    rows.sort(key=lambda r: (not r.is_baseline, r.key))
    d0 = runs[0]
    g = GroupAnalysis(
        d0.domain,
        d0.model,
        d0.dataset,
        list(runs),
        matrices,
        baseline,
        rows,
        reference or baseline,
        band=band,
        left_out=[why for _, why in comparable.left_out],
        comparability=[*comparable.notes, *volume_notes(by_key, baseline)],
    )
    if g.reference is not None and len(matrices) > 1:
        g.comparisons = compare_family(matrices, g.reference, n_boot=n_boot, seed=seed)
        g.mcnemar = mcnemar_family(matrices, g.reference)
    if base_m is not None and baseline is not None:  # base_m is set only when baseline is
        g.rounds = round_gains(by_key, base_m, baseline)
        try:
            base_rates = _base_rates(runs, by_key[baseline], records, base_records, min_base_n)
        except AnalysisError as e:  # too few base samples: the report goes on without the bands
            base_rates, g.notes = None, [*g.notes, f"frontier bands skipped: {e}"]
        # the baseline the bands are measured against: the whole baseline, or its held-out half when cross-fitted
        band_base = base_m
        if base_rates is not None and base_rates.baseline_by_seed is not None:
            band_base = correctness_matrix(base_rates.baseline_by_seed, baseline)
            g.notes = [*g.notes, f"frontier and inverted-U bands: base rates from {base_rates.source}"]
        for row in rows:
            if row.is_baseline:
                continue
            m = matrices[row.key]
            if base_rates is not None:
                g.frontier.extend(frontier_deltas(m, band_base, base_rates.rates, band, n_boot=n_boot, seed=seed))
            g.u_source, pts = inverted_u(
                m,
                band_base if base_rates else base_m,
                base_rates.rates if base_rates else None,
                n_boot=n_boot,
                seed=seed,
            )
            if base_rates is not None:
                g.u_source += f" (rates from {base_rates.source})"
            contrast = u_contrast(
                m,
                band_base if base_rates else base_m,
                base_rates.rates if base_rates else None,
                n_boot=n_boot,
                seed=seed,
            )
            if contrast is not None:
                g.u_contrasts.append(contrast)
            g.u_points.extend(pts)
            g.levels.extend(level_deltas(m, base_m, n_boot=n_boot, seed=seed))
    if g.u_contrasts:  # Holm over the group's conditions, as for the comparisons
        g.u_contrasts = [
            replace(u, p_holm=p) for u, p in zip(g.u_contrasts, holm([u.result.p_value for u in g.u_contrasts]))
        ]
    return g


def _base_rates(
    runs: Sequence[RunInfo],
    baseline_runs: Sequence[RunInfo],
    records: RecordCache,
    base_records: RecordCache,
    min_n: int,
) -> BaseRates | None:
    """Independent base samples (base_eval) when any run has them, else the baseline's eval samples cross-fitted."""
    independent = [rec for r in runs for rec in base_records.get(r.path, [])]
    if independent:
        return BaseRates(base_solve_rates(independent, min_n), None, "independent base samples (base_eval)")
    return cross_fit_rates({r.seed: records[r.path] for r in baseline_runs}, min_n)


def round_gains(
    by_key: Mapping[str, Sequence[RunInfo]], base_m: CorrectnessMatrix, baseline: str | None
) -> list[RoundGain]:
    """Gains of each round's model for the rows whose runs recorded per-round evaluations (eval_r<k>.jsonl)."""
    out = []
    for key, rs in sorted(by_key.items()):
        if key == baseline:
            continue
        per_round: dict[int, dict[int, list[EvalRecord]]] = defaultdict(dict)
        for r in rs:
            for k, recs in r.round_eval_records().items():
                if recs:
                    per_round[k][r.seed] = recs
        for k in sorted(per_round):
            m = correctness_matrix(per_round[k], f"{key} R{k + 1}")
            out.append(RoundGain(key, k, gain_summary(m, base_m)))
    return out


def render_round_table(rounds: Sequence[RoundGain]) -> str:
    """Markdown: per iterative row and round, the gain over the baseline (pp) with its t-CI over seeds."""
    rows = []
    for rg in rounds:
        s = rg.summary
        ci = "—" if s.ci is None else f"[{s.ci[0]:+.1f}, {s.ci[1]:+.1f}]"
        rows.append(
            (
                rg.key,
                f"R{rg.round + 1}",
                str(len(s.values)),
                f"{s.mean:+.1f} +/- {s.std:.1f}",
                ci,
                ", ".join(f"{v:+.1f}" for v in s.values),
            )
        )
    return markdown_table(
        ("Condition", "Round", "Seeds", "Gain pp, Mean +/- Std", "95% CI (t over seeds)", "Individual"), rows
    )


def analyse(runs: Sequence[RunInfo], records: RecordCache, base_records: RecordCache, **kw) -> list[GroupAnalysis]:
    groups: dict[tuple[str, str, str], list[RunInfo]] = defaultdict(list)
    for r in runs:
        if records.get(r.path):
            groups[r.group].append(r)
    if not groups:
        raise FormalpiError("none of the runs has an eval.jsonl yet; run the eval stage first")
    return [analyse_group(rs, records, base_records, **kw) for _, rs in sorted(groups.items())]


# ---- table cells -------------------------------------------------------------------------------------------

CONDITION_HEADER = ("Condition", "Seeds", "Mean +/- Std", "95% CI (t over seeds)", "Individual")


def condition_cells(rows: Sequence[ConditionRow], has_baseline: bool = True) -> list[tuple[str, ...]]:
    """The seed's condition table: baseline as absolute pass@1 (%), the rest as gains (pp) per seed.
    Without a baseline every row is absolute pass@1."""
    out: list[tuple[str, ...]] = []
    for r in rows:
        s = r.summary
        absolute = r.is_baseline or not has_baseline
        sign = "" if absolute else "+"
        name = (f"{r.key} (pass@1)" if absolute else r.key) + (" (!)" if r.warnings else "")
        ci = "—" if s.ci is None else f"[{s.ci[0]:{sign}.1f}, {s.ci[1]:{sign}.1f}]"
        out.append(
            (
                name,
                str(len(s.values)),
                f"{s.mean:{sign}.1f} +/- {s.std:.1f}",
                ci,
                ", ".join(f"{v:{sign}.1f}" for v in s.values),
            )
        )
    return out


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def condition_table_markdown(g: GroupAnalysis) -> str:
    """The condition table plus one verdict line per comparison with the reference (Holm-corrected)."""
    text = markdown_table(CONDITION_HEADER, condition_cells(g.rows, g.baseline is not None))
    if g.baseline is None:
        text += "\n\n(no baseline run in this group: rows are absolute pass@1, not gains)"
    text += warning_block(g)
    if g.comparability or g.left_out:
        text += "\n\n" + "\n".join(f"> **COMPARABILITY**: {n}" for n in [*g.comparability, *g.left_out])
    if g.comparisons:
        text += "\n\n" + "\n".join(f"- {c.line()}" for c in g.comparisons)
    return text


def warning_block(g: GroupAnalysis) -> str:
    """The group's warnings as a markdown quote under a table ("" when there are none); rows marked (!)."""
    if not g.warnings:
        return ""
    return "\n\n" + "\n".join(f"> **WARNING (!)**: {w}" for w in g.warnings)


def render_mcnemar_table(tests: Sequence[SeedMcNemar]) -> str:
    """Markdown: per condition and seed, McNemar's exact test on each problem's first sample."""
    rows = [
        (
            t.condition,
            t.reference,
            str(t.seed),
            str(t.result.only_a),
            str(t.result.only_b),
            str(t.result.n),
            f"{t.result.p_value:.3g}",
            f"{t.p_holm:.3g}",
        )
        for t in tests
    ]
    return markdown_table(
        (
            "Condition",
            "Reference",
            "Seed",
            "Only condition solved",
            "Only reference solved",
            "Problems",
            "p (exact)",
            "Holm p (within seed)",
        ),
        rows,
    )
