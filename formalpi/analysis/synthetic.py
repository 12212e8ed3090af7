"""Synthetic run stores with known answers, for tests and benchmarks of the analyses.

They are written through the real RunStore and records, so the analyses read them exactly as they read real runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from formalpi.config import config_from_dict, for_method
from formalpi.records import EvalRecord
from formalpi.runs import RunStore


def write_run(
    runs_dir: str | Path,
    experiment: str,
    seed: int,
    records: Sequence[EvalRecord],
    *,
    condition: str = "try_again",
    method: str = "retry",
    domain: str = "math",
    model: str = "tiny",
    dataset: str = "arith",
    retries: int = 1,
    base_records: Sequence[EvalRecord] = (),
    train_split: str = "train",
    round_records: Sequence[Sequence[EvalRecord]] = (),
    manifest_extra: Mapping[str, Any] | None = None,
) -> RunStore:
    """One seed directory: manifest (a real experiment config dump, plus `manifest_extra` keys), eval.jsonl and
    optionally base_eval.jsonl. `round_records`: the evals of the rounds before the last (eval_r0.jsonl, …), the
    engine's layout for an iterative run of len(round_records) + 1 rounds whose last round is `records`."""
    data: dict[str, Any] = {
        "name": experiment,
        "domain": domain,
        "method": method,
        "condition": condition,
        "seeds": [seed],
        "model": {"path": model},
        "data": {"dataset": dataset, "train_split": train_split},
        "retry": {"k": retries, "rounds": len(round_records) + 1},
    }
    cfg = config_from_dict(for_method(data, method), "write_run")  # [retry]: retry rows only
    store = RunStore.open(runs_dir, experiment, seed, cfg.model_dump(mode="json"), fingerprint=cfg.fingerprint())
    store.append("eval", records)
    if base_records:
        store.append("base_eval", base_records)
    for k, recs in enumerate(round_records):
        store.append(f"eval_r{k}", recs)
    store.mark_done("eval", count=len(records))
    if manifest_extra:
        store.annotate(**manifest_extra)
    return store


def eval_records(
    correct: np.ndarray,
    *,
    seed: int,
    condition: str,
    levels: Sequence[int | None] | None = None,
    completions: Sequence[Sequence[str]] | None = None,
    prefix: str = "p",
) -> list[EvalRecord]:
    """EvalRecords from a (problems, n) boolean array; problem i is `f"{prefix}{i}"`."""
    correct = np.asarray(correct, dtype=bool)
    out = []
    for i, row in enumerate(correct):
        comps = list(completions[i]) if completions is not None else []
        out.append(
            EvalRecord(
                problem_id=f"{prefix}{i}",
                level=None if levels is None else levels[i],
                seed=seed,
                condition=condition,
                n=len(row),
                correct=[bool(x) for x in row],
                scores=[float(x) for x in row],
                completions=comps,
            )
        )
    return out


def synthetic_store(
    runs_dir: str | Path,
    *,
    conditions: Sequence[str],
    seeds: Sequence[int],
    problems: int,
    n: int = 4,
    base_n: int = 16,
    gain: float = 0.02,
    rng_seed: int = 0,
    with_completions: bool = True,
) -> list[Path]:
    """A baseline plus `conditions`, each over `seeds`: problem difficulty drawn once, each condition adding
    `gain * index` to every problem's solve probability. Math-style completions with \\boxed{} answers."""
    rng = np.random.default_rng(rng_seed)
    p_base = rng.beta(0.8, 0.8, size=problems)
    levels = list(rng.integers(1, 6, size=problems))
    base = rng.random((problems, base_n)) < p_base[:, None]
    paths = []
    for ci, cond in enumerate(["baseline", *conditions]):
        p = np.clip(p_base + gain * ci, 0, 1)
        for s in seeds:
            correct = rng.random((problems, n)) < p[:, None]
            comps = None
            if with_completions:
                answers = rng.integers(0, 3, size=(problems, n))
                steps = rng.integers(0, 1000, size=(problems, n))  # mostly distinct texts, as real samples are
                comps = [
                    [f"problem {i}: step {st} so x = {a} \\boxed{{{a}}}" for st, a in zip(srow, arow)]
                    for i, (srow, arow) in enumerate(zip(steps, answers))
                ]
            recs = eval_records(correct, seed=s, condition=cond, levels=levels, completions=comps)
            method = "baseline" if cond == "baseline" else "retry"
            store = write_run(
                runs_dir,
                cond,
                s,
                recs,
                condition="try_again" if cond == "baseline" else cond,
                method=method,
                retries=1 + ci % 4,
                base_records=eval_records(base, seed=s, condition="base", levels=levels) if cond == "baseline" else (),
            )
            paths.append(store.root)
    return paths
