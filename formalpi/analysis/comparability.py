"""Which runs of a group may be compared, and how much each row trained: the report's one comparability check.

Two runs' pass@1 values are comparable only when they were evaluated the same way: on the same problems and with
the same evaluation settings (samples per problem, temperature, top-p, generation length, thinking mode, split).
`comparable_runs` takes the group's reference evaluation (the baseline's; without a baseline the most common one)
and leaves out every run evaluated otherwise, saying why. Told to compare anyway (`allow_different_eval`, the
report's `--allow-different-eval`), it keeps them, restricts every row to the problems all kept runs evaluated
(so the baseline's pass@1 and the gains are computed on the same problems), and says so under the table.

Training volume: `training_volume` reads what a run trained on (examples, optimizer steps) from its records;
`volume_notes` flags a group whose trained rows took different numbers of optimizer steps: a gain difference
between them mixes the PI's content with the amount of training (docs/demo.md: the verdict flips with the design).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from formalpi.analysis.runs_index import RunInfo
from formalpi.records import EvalRecord, Example
from formalpi.runs import RunStore

# the config keys that make an evaluation what it is (besides its problems)
EVAL_KEYS = (
    ("data", "eval_split"),
    ("data", "path"),
    ("eval", "n"),
    ("eval", "temperature"),
    ("eval", "top_p"),
    ("eval", "max_new_tokens"),
    ("model", "enable_thinking"),
)
# trained rows whose mean optimizer steps per seed differ by more than this ratio are flagged
VOLUME_RATIO = 1.1


@dataclass(frozen=True)
class EvalSetting:
    """How a run was evaluated: its problems and the settings that change a pass@1 value."""

    problems: frozenset[str]
    settings: tuple[tuple[str, Any], ...]

    def difference(self, other: "EvalSetting") -> str:
        """Plain words for how `self` differs from `other` ("" when it does not)."""
        parts = []
        if self.problems != other.problems:
            shared = len(self.problems & other.problems)
            parts.append(
                f"eval problems: {len(self.problems)} vs the reference's {len(other.problems)}, {shared} shared"
            )
        mine, ref = dict(self.settings), dict(other.settings)
        parts += [f"{k} = {mine.get(k)!r} vs {ref.get(k)!r}" for k in ref if mine.get(k) != ref.get(k)]
        return "; ".join(parts)


def eval_setting(run: RunInfo, records: Sequence[EvalRecord]) -> EvalSetting:
    config = RunStore(run.path).manifest().get("config") or {}
    settings = tuple((f"{section}.{key}", (config.get(section) or {}).get(key)) for section, key in EVAL_KEYS)
    return EvalSetting(frozenset(r.problem_id for r in records), settings)


@dataclass(frozen=True)
class Comparable:
    """The runs a group compares, those left out (with why), and what is said under the table."""

    runs: list[RunInfo]
    left_out: list[tuple[RunInfo, str]]
    notes: list[str]
    problems: frozenset[str] | None  # every row restricted to these problems (None: no restriction needed)

    def restrict(self, records: Mapping[Path, list[EvalRecord]]) -> dict[Path, list[EvalRecord]]:
        """The kept runs' records, on the shared problems when the evaluations differed and were allowed."""
        return {
            r.path: [x for x in records[r.path] if self.problems is None or x.problem_id in self.problems]
            for r in self.runs
        }


def comparable_runs(
    runs: Sequence[RunInfo], records: Mapping[Path, list[EvalRecord]], allow_different_eval: bool = False
) -> Comparable:
    """Split a group's runs into those evaluated like its reference and the rest (see the module docstring)."""
    settings = {r.path: eval_setting(r, records[r.path]) for r in runs}
    baseline = [settings[r.path] for r in runs if r.is_baseline]
    pool = baseline or list(settings.values())
    counts = Counter(pool)
    reference = max(pool, key=lambda s: counts[s])  # most common; ties: the first
    differ = [(r, settings[r.path].difference(reference)) for r in runs if settings[r.path] != reference]
    if not differ:
        return Comparable(list(runs), [], [], None)
    what = "the baseline's" if baseline else "the group's most common"
    if not allow_different_eval:
        left = [
            (
                r,
                f"{r.condition} seed {r.seed} ({r.path}) not compared: evaluated unlike {what} evaluation "
                f"({why}); evaluate it the same way, or pass --allow-different-eval to compare on the shared "
                f"problems",
            )
            for r, why in differ
        ]
        return Comparable([r for r in runs if settings[r.path] == reference], left, [], None)
    shared = frozenset.intersection(*(settings[r.path].problems for r in runs))
    notes = [
        f"compared although evaluated unlike {what} evaluation (--allow-different-eval): {r.condition} seed "
        f"{r.seed} ({why})"
        for r, why in differ
    ]
    problems = None
    if any(s.problems != shared for s in settings.values()):
        problems = shared
        notes.append(
            f"every row, the baseline included, is computed on the {len(shared)} eval problems all compared runs share"
        )
    return Comparable(list(runs), [], notes, problems)


# ---- training volume ----------------------------------------------------------------------------------------


class _StepLine(BaseModel):
    """The fields of an `opsd_steps.jsonl` line this module reads."""

    model_config = ConfigDict(extra="ignore")
    trained_samples: int = 0


@dataclass(frozen=True)
class Volume:
    """What one run trained on: examples (retry: SFT examples; OPSD: samples in the loss; IPRS: completions
    scored) and optimizer steps taken."""

    examples: int
    steps: int


def training_volume(store: RunStore, method: str) -> Volume:
    """A run's volume from its records (`method`: the run's config.method)."""
    stages = {k: v for k, v in store.manifest().get("stages", {}).items() if isinstance(v, dict)}
    if method == "opsd":
        lines = store.read("opsd_steps", _StepLine)
        return Volume(sum(s.trained_samples for s in lines), sum(1 for s in lines if s.trained_samples))
    if method == "iprs":
        g = stages.get("iprs") or stages.get("grpo", {})  # "grpo": the stage's name in runs made before the rename
        return Volume(int(g.get("samples", 0) or 0), int(g.get("steps", 0) or 0))
    steps = sum(int(v.get("steps", 0) or 0) for k, v in stages.items() if k.startswith("train_r"))
    return Volume(len(store.read("examples", Example)), steps)


def volume_notes(rows: Mapping[str, Sequence[RunInfo]], baseline: str | None) -> list[str]:
    """One note when the trained rows' mean optimizer steps per seed differ by more than VOLUME_RATIO."""
    steps = {
        key: statistics.mean(training_volume(RunStore(r.path), r.method).steps for r in rs)
        for key, rs in rows.items()
        if key != baseline and rs
    }
    if len(steps) < 2:
        return []
    low, high = min(steps.values()), max(steps.values())
    if high <= VOLUME_RATIO * low:
        return []
    listed = ", ".join(f"{k} {v:g}" for k, v in sorted(steps.items()))
    return [
        f"TRAINING VOLUME DIFFERS: optimizer steps per seed: {listed}; a difference between these rows mixes "
        f"the PI's content with the amount of training: compare them at a fixed step budget (train.max_steps)"
    ]
