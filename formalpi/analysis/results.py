"""Machine-readable results: `results.json` per run and per report, and CSVs of the report's tables.

Everything a table or plot shows is here with its interval and the name of that interval's method, next to the
budgets, warnings and config fingerprints, so a paper's numbers can be regenerated without parsing markdown.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formalpi.analysis.diversity import DiversityMeasure, DiversitySummary
from formalpi.analysis.runs_index import BUDGET_COLUMNS, read_run, run_budget
from formalpi.analysis.stats import BootstrapResult, SeedSummary, pass_at_k
from formalpi.analysis.tables import GroupAnalysis, row_keys
from formalpi.records import EvalRecord
from formalpi.runs import RunStore
from formalpi.truncation import MANIFEST_KEY as TRUNCATION_KEY

SCHEMA = "formalpi.results/1"
T_CI = "student-t over seeds"
BOOT_CI = "paired bootstrap over problems nested in seeds"


def _summary(s: SeedSummary) -> dict[str, Any]:
    return {
        "seeds": list(s.seeds),
        "values": list(s.values),
        "mean": s.mean,
        "std": s.std,
        "ci95": None if s.ci is None else list(s.ci),
        "ci_method": T_CI,
    }


def _boot(r: BootstrapResult) -> dict[str, Any]:
    return {
        "diff": r.diff,
        "ci": list(r.ci),
        "confidence": r.confidence,
        "p_value": r.p_value,
        "n_boot": r.n_boot,
        "n_seeds": r.n_seeds,
        "n_problems": r.n_problems,
        "ci_method": BOOT_CI,
    }


def _measure(m: DiversityMeasure | None) -> dict[str, Any] | None:
    return (
        None
        if m is None
        else {
            "mean": m.mean,
            "ci95": list(m.ci),
            "n_problems": m.n_problems,
            "ci_method": "percentile bootstrap over problems",
        }
    )


def row_budgets(g: GroupAnalysis) -> dict[str, dict[str, float]]:
    """Per row key: the mean over its seeds of each budget counter."""
    keys = row_keys(g.runs)
    by_row: dict[str, list[dict[str, float]]] = {}
    for run in g.runs:
        by_row.setdefault(keys[run.path], []).append(run_budget(run.path))
    return {k: {c: sum(b[c] for b in bs) / len(bs) for c, _ in BUDGET_COLUMNS} for k, bs in by_row.items()}


TRUNCATION_PARTS = ("first_attempts", "retries", "eval")


def row_truncation(g: GroupAnalysis) -> dict[str, dict[str, float | None]]:
    """Per row key: the mean over its seeds of each truncation share (None where no seed has one)."""
    keys = row_keys(g.runs)
    by_row: dict[str, list[dict[str, Any]]] = {}
    for run in g.runs:
        by_row.setdefault(keys[run.path], []).append(RunStore(run.path).manifest().get(TRUNCATION_KEY) or {})
    out: dict[str, dict[str, float | None]] = {}
    for key, recs in by_row.items():
        out[key] = {}
        for part in TRUNCATION_PARTS:
            vals = [r[part]["share"] for r in recs if (r.get(part) or {}).get("share") is not None]
            out[key][part] = sum(vals) / len(vals) if vals else None
    return out


def group_results(g: GroupAnalysis) -> dict[str, Any]:
    keys = row_keys(g.runs)
    budgets = row_budgets(g)
    truncation = row_truncation(g)
    return {
        "domain": g.domain,
        "model": g.model,
        "dataset": g.dataset,
        "baseline": g.baseline,
        "reference": g.reference,
        "seed_varies": g.seed_varies,
        "warnings": g.warnings,
        "notes": list(g.notes),
        "rows": [
            {
                "key": r.key,
                "condition": r.condition,
                "method": r.method,
                "retries": r.retries,
                "is_baseline": r.is_baseline,
                "metric": "pass@1 %" if (r.is_baseline or g.baseline is None) else "pass@1 gain over baseline, pp",
                **_summary(r.summary),
                "warnings": list(r.warnings),
                "budget_mean_per_seed": budgets.get(r.key),
                "truncation_share_mean_per_seed": truncation.get(r.key),
                "runs": [
                    {
                        "path": str(run.path),
                        "seed": run.seed,
                        "experiment": run.experiment,
                        "fingerprint": run.fingerprint,
                    }
                    for run in g.runs
                    if keys[run.path] == r.key
                ],
            }
            for r in g.rows
        ],
        "comparisons": [
            {
                "condition": c.condition,
                "reference": c.reference,
                **_boot(c.result),
                "p_holm": c.p_holm,
                "family_size": c.family_size,
                "verdict": c.separation.value,
                "verdict_rule": "separated iff Holm p < alpha and the bootstrap CI excludes 0",
            }
            for c in g.comparisons
        ],
        "mcnemar": [
            {
                "condition": t.condition,
                "reference": t.reference,
                "seed": t.seed,
                "only_condition": t.result.only_a,
                "only_reference": t.result.only_b,
                "problems": t.result.n,
                "p_value": t.result.p_value,
                "p_holm_within_seed": t.p_holm,
                "test": "exact McNemar (binomial on discordant first samples)",
            }
            for t in g.mcnemar
        ],
        "per_level": [_bin(d) for d in g.levels],
        "frontier": [_bin(d) for d in g.frontier],
        "frontier_band": {"low": g.band.low, "high": g.band.high},
        "inverted_u": {
            "bins": g.u_source,
            "points": [
                {
                    "condition": p.condition,
                    "bin": p.bin,
                    "problems": p.count,
                    "baseline_pass1": _boot(p.baseline),
                    "gain": _boot(p.gain),
                }
                for p in g.u_points
            ],
            "contrasts": [
                {
                    "condition": u.condition,
                    "ends": list(u.ends),
                    "middle": list(u.middle),
                    "middle_minus_ends": _boot(u.result),
                    "p_holm": u.p_holm,
                    "verdict": u.verdict,
                }
                for u in g.u_contrasts
            ],
        },
        "rounds": [{"condition": rg.key, "round": rg.round + 1, **_summary(rg.summary)} for rg in g.rounds],
    }


def _bin(d) -> dict[str, Any]:
    return {
        "condition": d.condition,
        "bin": d.bin,
        "problems": d.count,
        "baseline_pass1": d.baseline_pass1,
        "d_pass1": _boot(d.d_pass1),
        "k": d.k,
        "d_passk": None if d.d_passk is None else _boot(d.d_passk),
    }


def diversity_results(summaries: Sequence[DiversitySummary]) -> list[dict[str, Any]]:
    return [
        {
            "domain": s.domain.value,
            "group": s.group,
            "condition": s.condition,
            "seeds": s.n_seeds,
            "pd_path": _measure(s.path),
            "delta_pd_path_vs_baseline": _measure(s.delta_path),
            "pd_lex": _measure(s.lex),
            "pd_path_null": s.null,
            "pd_path_over_null": _measure(s.relative),
        }
        for s in summaries
    ]


def report_results(
    groups: Sequence[GroupAnalysis], diversity: Sequence[DiversitySummary], options: dict[str, Any]
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "options": options,
        "groups": [group_results(g) for g in groups],
        "path_diversity": diversity_results(diversity),
    }


def write_json(path: Path, data: Any) -> Path:
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    if path.is_file() and path.read_text() == text:
        return path  # unchanged: re-running a finished run writes nothing (its directory may be read-only)
    path.write_text(text)
    return path


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_report_csvs(groups: Sequence[GroupAnalysis], diversity: Sequence[DiversitySummary], out: Path) -> list[Path]:
    """conditions.csv, comparisons.csv, mcnemar.csv, budget.csv, inverted_u.csv, rounds.csv, diversity.csv."""

    def ci(x):
        return ("", "") if x is None else (x[0], x[1])

    cond, comp, mcn, bud, u, rnd = [], [], [], [], [], []
    for g in groups:
        budgets = row_budgets(g)
        for r in g.rows:
            s = r.summary
            metric = "pass1_pct" if (r.is_baseline or g.baseline is None) else "gain_pp"
            cond.append(
                (
                    g.domain,
                    g.model,
                    g.dataset,
                    r.key,
                    r.method,
                    metric,
                    len(s.values),
                    s.mean,
                    s.std,
                    *ci(s.ci),
                    " ".join(f"{v:g}" for v in s.values),
                    " | ".join(r.warnings),
                )
            )
            b = budgets.get(r.key, {})
            bud.append((g.domain, g.model, g.dataset, r.key, *(b.get(c, "") for c, _ in BUDGET_COLUMNS)))
        for c in g.comparisons:
            comp.append(
                (
                    g.domain,
                    g.model,
                    g.dataset,
                    c.condition,
                    c.reference,
                    c.result.diff,
                    *c.result.ci,
                    c.result.p_value,
                    c.p_holm,
                    c.family_size,
                    c.separation.value,
                )
            )
        for t in g.mcnemar:
            mcn.append(
                (
                    g.domain,
                    g.model,
                    g.dataset,
                    t.condition,
                    t.reference,
                    t.seed,
                    t.result.only_a,
                    t.result.only_b,
                    t.result.n,
                    t.result.p_value,
                    t.p_holm,
                )
            )
        for p in g.u_points:
            u.append(
                (
                    g.domain,
                    g.model,
                    g.dataset,
                    p.condition,
                    g.u_source,
                    p.bin,
                    p.count,
                    p.baseline.diff,
                    *p.baseline.ci,
                    p.gain.diff,
                    *p.gain.ci,
                )
            )
        for rg in g.rounds:
            rnd.append(
                (
                    g.domain,
                    g.model,
                    g.dataset,
                    rg.key,
                    rg.round + 1,
                    rg.summary.mean,
                    rg.summary.std,
                    *ci(rg.summary.ci),
                )
            )
    div = [
        (
            s.domain.value,
            s.group,
            s.condition,
            s.n_seeds,
            s.path.n_problems if s.path else 0,
            *((s.path.mean, *s.path.ci) if s.path else ("", "", "")),
            *((s.delta_path.mean, *s.delta_path.ci) if s.delta_path else ("", "", "")),
            *((s.lex.mean, *s.lex.ci) if s.lex else ("", "", "")),
        )
        for s in diversity
    ]
    g4 = ("domain", "model", "dataset")
    return [
        write_csv(
            out / "conditions.csv",
            (
                *g4,
                "row",
                "method",
                "metric",
                "seeds",
                "mean",
                "std",
                "ci95_low_t",
                "ci95_high_t",
                "per_seed",
                "warnings",
            ),
            cond,
        ),
        write_csv(
            out / "comparisons.csv",
            (
                *g4,
                "condition",
                "reference",
                "diff_pp",
                "ci95_low_bootstrap",
                "ci95_high_bootstrap",
                "p",
                "p_holm",
                "family_size",
                "verdict",
            ),
            comp,
        ),
        write_csv(
            out / "mcnemar.csv",
            (
                *g4,
                "condition",
                "reference",
                "seed",
                "only_condition",
                "only_reference",
                "problems",
                "p_exact",
                "p_holm_within_seed",
            ),
            mcn,
        ),
        write_csv(out / "budget.csv", (*g4, "row", *(c for c, _ in BUDGET_COLUMNS)), bud),
        write_csv(
            out / "inverted_u.csv",
            (
                *g4,
                "condition",
                "bins",
                "bin",
                "problems",
                "baseline_pass1_pct",
                "baseline_ci95_low",
                "baseline_ci95_high",
                "gain_pp",
                "gain_ci95_low",
                "gain_ci95_high",
            ),
            u,
        ),
        write_csv(
            out / "rounds.csv", (*g4, "row", "round", "gain_mean_pp", "gain_std", "ci95_low_t", "ci95_high_t"), rnd
        ),
        write_csv(
            out / "diversity.csv",
            (
                "domain",
                "group",
                "condition",
                "seeds",
                "problems",
                "pd_path",
                "pd_path_ci95_low",
                "pd_path_ci95_high",
                "delta_pd_path_vs_baseline",
                "delta_ci95_low",
                "delta_ci95_high",
                "pd_lex",
                "pd_lex_ci95_low",
                "pd_lex_ci95_high",
            ),
            div,
        ),
    ]


# ---- one run --------------------------------------------------------------------------------------------------


def run_results(run_dir: str | Path) -> dict[str, Any]:
    """One run's results: pass@k of its final eval (mean over problems, %), per-round evals, budget, warnings,
    config fingerprint, versions. Reads the run store only."""
    info = read_run(Path(run_dir))
    store = RunStore(info.path)
    manifest = store.manifest()
    ks = ((manifest.get("config") or {}).get("eval") or {}).get("ks") or [1]

    def metrics(records: list[EvalRecord]) -> dict[str, Any] | None:
        if not records:
            return None
        import numpy as np

        n = np.array([len(r.correct) for r in records])
        c = np.array([sum(r.correct) for r in records])
        out: dict[str, Any] = {"problems": len(records), "samples_per_problem_min": int(n.min())}
        for k in sorted({1, *ks}):
            if n.min() >= k:
                out[f"pass@{k}"] = float(100 * pass_at_k(n, c, k).mean())
        levels = sorted({r.level for r in records if r.level is not None})
        if levels:
            out["pass@1_per_level"] = {
                str(lv): float(100 * np.mean([sum(r.correct) / len(r.correct) for r in records if r.level == lv]))
                for lv in levels
            }
        return out

    return {
        "schema": SCHEMA,
        "run": str(info.path),
        "experiment": info.experiment,
        "seed": info.seed,
        "domain": info.domain,
        "method": info.method,
        "condition": info.condition,
        "model": info.model,
        "dataset": info.dataset,
        "fingerprint": info.fingerprint,
        "git": manifest.get("git"),
        "versions": manifest.get("versions"),
        "warnings": list(info.warnings),
        "eval": metrics(info.eval_records()),
        "rounds": {str(k + 1): metrics(v) for k, v in info.round_eval_records().items()},
        "budget": run_budget(info.path),
        "stages": manifest.get("stages", {}),
        "truncation": manifest.get(TRUNCATION_KEY),
    }


def write_run_results(run_dir: str | Path) -> Path:
    """Write `results.json` into the run directory (what `formalpi run` does after each seed)."""
    return write_json(Path(run_dir) / "results.json", run_results(run_dir))
