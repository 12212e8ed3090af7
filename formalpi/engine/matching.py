"""The first-attempt budget of a compute-matched control: what the retry row it is compared against actually spent
at the same seed (first attempts + retries, or their generated tokens), read from that row's run store.

A retry row draws N first attempts per problem and one retry per failure, so it spends N + failures samples, not
the worst case 2N. The control draws, per problem, the matched row's realised samples (or tokens) divided by the
number of training problems, rounded to the nearest whole sample. With no matched run recorded, it falls back to
the condition's multiplier (sampling.n × 2, the worst case) and says so on stderr.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from formalpi.config import RetryExperiment
from formalpi.engine.conditions import Condition
from formalpi.errors import ConfigError
from formalpi.runs import RunStore


@dataclass(frozen=True)
class MatchedBudget:
    """What a round's first attempts were matched to (recorded in the run's manifest as `matched_budget_r<round>`)."""

    per_problem: int  # first attempts drawn per training problem
    run: str | None  # the matched run's directory; None = the worst-case fallback
    unit: str  # "samples" or "tokens"
    samples: int | None = None  # first attempts + retries the matched run drew in this round
    completion_tokens: int | None = None  # tokens it generated doing so
    problems: int | None = None  # training problems (the same for both runs)

    def record(self) -> dict:
        return asdict(self)


def is_budget_matched(condition: Condition) -> bool:
    """A control that draws more first attempts instead of retrying (its multiplier is the worst-case fallback)."""
    return condition.pi is None and condition.samples is None and condition.sample_multiplier > 1


def _spent(manifest: dict, round_: int) -> tuple[int, int, int, int] | None:
    """(first-attempt samples, their tokens, all samples, all tokens) of a round whose sampling is over (its
    training examples are written once every retry is in), or None."""
    stages = manifest.get("stages", {})
    first, retries = stages.get(f"attempts_r{round_}", {}), stages.get(f"retries_r{round_}", {})
    if not stages.get(f"examples_r{round_}", {}).get("done"):
        return None
    return (
        int(first.get("samples", 0)),
        int(first.get("completion_tokens", 0)),
        int(first.get("samples", 0)) + int(retries.get("samples", 0)),
        int(first.get("completion_tokens", 0)) + int(retries.get("completion_tokens", 0)),
    )


def matched_budget(
    cfg: RetryExperiment, condition: Condition, seed: int, round_: int, n_problems: int
) -> MatchedBudget:
    """First attempts per problem for this round (see the module docstring)."""
    fallback = condition.first_attempt_samples(cfg.sampling.n)
    if not is_budget_matched(condition):
        return MatchedBudget(fallback, None, "samples")
    name = cfg.retry.match_budget_of
    root = Path(cfg.runs_dir) / name / str(seed) if name else None
    manifest_path = root / "manifest.json" if root else None
    manifest = json.loads(manifest_path.read_text()) if manifest_path and manifest_path.is_file() else {}
    spent = _spent(manifest, round_)
    if spent is None:
        why = (
            "retry.match_budget_of is not set"
            if not name
            else f"{root} has not finished sampling round {round_} (run {name!r} at seed {seed} first)"
        )
        print(
            f"warning: {cfg.name} seed {seed}: {why}; drawing the worst-case {fallback} first attempts per problem "
            f"(sampling.n × {condition.sample_multiplier}), not the retry row's realised budget",
            file=sys.stderr,
        )
        return MatchedBudget(fallback, None, cfg.retry.match_unit)
    first, first_tokens, samples, tokens = spent
    their_n = int(manifest.get("config", {}).get("sampling", {}).get("n", 0) or 0)
    if their_n and first != their_n * n_problems:
        raise ConfigError(
            f"retry.match_budget_of = {name!r}: its round {round_} drew {first} first attempts "
            f"({their_n} per problem, so {first // their_n} problems), this run has {n_problems} "
            f"training problems; match a run over the same training problems (data.* settings)"
        )
    if cfg.retry.match_unit == "tokens":
        per_sample = first_tokens / first if first else 0.0  # a first attempt's mean length, in the matched run
        per_problem = round(tokens / (per_sample * n_problems)) if per_sample else 0
    else:
        per_problem = round(samples / n_problems)
    return MatchedBudget(max(1, per_problem), str(root), cfg.retry.match_unit, samples, tokens, n_problems)


def first_attempts_per_problem(
    cfg: RetryExperiment, condition: Condition, seed: int, round_: int, store: RunStore, n_problems: int
) -> int:
    """The round's first attempts per problem. A budget-matched control records what it matched in the manifest
    (`matched_budget_r<round>`) and keeps it on resume, so one round never mixes two budgets."""
    if not is_budget_matched(condition):
        return condition.first_attempt_samples(cfg.sampling.n)
    key = f"matched_budget_r{round_}"
    recorded = store.manifest().get(key)
    if recorded is not None:
        return MatchedBudget(**recorded).per_problem
    budget = matched_budget(cfg, condition, seed, round_, n_problems)
    store.annotate(**{key: budget.record()})
    return budget.per_problem
