"""Manipulation checks: did each condition do to the model what it is meant to do?

A condition table says whether a condition's training helped; these checks say whether the experiment could have
shown it. Read from a run's own records (attempts, verdicts, examples, manifest, eval), per (condition, seed):

- retry yield: verified retries / retries made (for `double_sample_matched` the "retry" is a fresh sample from
  the problem alone, so its yield is the fresh-sample yield the retries are compared with);
- PI-copy rate: of the retries whose PI states an answer ("The correct answer is X."), how often the retry's final
  answer is X (gold: the model reads the true answer; wrong: it follows a false one);
- verified retries on unsolved problems: the share of verified retries whose problem none of the run's first
  attempts solved (PI that lets the model write answers it cannot find alone moves the training set past what the
  model can do: docs/demo.md, section 3);
- examples trained on and optimizer steps taken (a condition with 5 examples and 1 step cannot move a model;
  `comparability.training_volume`: SFT examples, OPSD samples in the loss, IPRS completions scored);
- eval changed: the share of eval samples whose text differs from the baseline's for the same seed (the eval
  uses the same sampling seeds in every run, so an unmoved model reproduces the baseline byte for byte).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from formalpi.analysis.comparability import training_volume
from formalpi.analysis.runs_index import RunInfo, discover_runs
from formalpi.records import Attempt, EvalRecord, Judged
from formalpi.runs import RunStore

# the conditions' wording for a stated answer (gold, wrong, answer_only: "The correct answer is X.")
_STATED_ANSWER = re.compile(r"correct answer is (.+?)\.(?:\s|$)", re.I)


def stated_answer(pi: str | None) -> str | None:
    """The answer a PI text states ("... The correct answer is 42. ..." -> "42"), or None if it states none."""
    m = _STATED_ANSWER.search(pi or "")
    return m.group(1).strip() if m else None


@dataclass(frozen=True)
class RunChecks:
    """The manipulation checks of one (condition, seed) run; counts, so seeds can be pooled by summing."""

    path: Path
    condition: str
    seed: int
    first_attempts: int = 0
    first_correct: int = 0
    retries: int = 0
    retries_verified: int = 0
    verified_unsolved: int = 0  # verified retries on problems no first attempt solved
    stated: int = 0  # retries whose PI states an answer
    copied: int = 0  # ... whose final answer equals it
    examples: int = 0
    steps: int = 0
    eval_samples: int = 0
    eval_changed: int | None = None  # None: no baseline eval for this seed to compare with


def run_checks(run: RunInfo, baseline_eval: Sequence[EvalRecord] | None = None) -> RunChecks:
    return store_checks(
        RunStore(run.path), run.condition, run.seed, None if run.is_baseline else baseline_eval, run.method
    )


def store_checks(
    store: RunStore, condition: str, seed: int, baseline_eval: Sequence[EvalRecord] | None = None, method: str = "retry"
) -> RunChecks:
    """The checks of the records in one run directory (`baseline_eval`: the same seed's baseline eval; `method`:
    the run's config.method, which says where its training volume is recorded)."""
    attempts = store.read("attempts", Attempt)
    verdicts = {j.attempt_id: j.verdict for j in store.read("verdicts", Judged)}
    first = [a for a in attempts if a.retry == 0]
    retries = [a for a in attempts if a.retry > 0]
    stated = [(a, s) for a in retries if (s := stated_answer(a.pi)) is not None]
    passed = [a for a in retries if a.id in verdicts and verdicts[a.id].passed]
    solved = {a.problem_id for a in first if a.id in verdicts and verdicts[a.id].passed}
    volume = training_volume(store, method)
    evals = store.read("eval", EvalRecord)
    changed = None
    if baseline_eval is not None:
        base = {r.problem_id: r.completions for r in baseline_eval}
        changed = sum(
            1
            for r in evals
            for j, c in enumerate(r.completions)
            if r.problem_id in base and (j >= len(base[r.problem_id]) or base[r.problem_id][j] != c)
        )
    return RunChecks(
        path=store.root,
        condition=condition,
        seed=seed,
        first_attempts=len(first),
        first_correct=sum(1 for a in first if a.id in verdicts and verdicts[a.id].passed),
        retries=len(retries),
        retries_verified=len(passed),
        verified_unsolved=sum(1 for a in passed if a.problem_id not in solved),
        stated=len(stated),
        copied=sum(1 for a, s in stated if a.id in verdicts and (verdicts[a.id].answer or "").strip() == s),
        examples=volume.examples,
        steps=volume.steps,
        eval_samples=sum(len(r.completions) for r in evals),
        eval_changed=changed,
    )


@dataclass(frozen=True)
class ConditionChecks:
    """One condition's checks pooled over its seeds."""

    label: str
    runs: tuple[RunChecks, ...]

    def _sum(self, field: str) -> int:
        return sum(getattr(r, field) for r in self.runs)

    @staticmethod
    def _rate(num: int, den: int) -> float | None:
        return 100.0 * num / den if den else None

    @property
    def retry_yield(self) -> float | None:
        return self._rate(self._sum("retries_verified"), self._sum("retries"))

    @property
    def first_yield(self) -> float | None:
        return self._rate(self._sum("first_correct"), self._sum("first_attempts"))

    @property
    def unsolved_share(self) -> float | None:
        return self._rate(self._sum("verified_unsolved"), self._sum("retries_verified"))

    @property
    def copy_rate(self) -> float | None:
        return self._rate(self._sum("copied"), self._sum("stated"))

    @property
    def changed(self) -> float | None:
        pairs = [(r.eval_changed, r.eval_samples) for r in self.runs if r.eval_changed is not None]
        return self._rate(sum(ch for ch, _ in pairs), sum(n for _, n in pairs)) if pairs else None


def collect(runs: Iterable[RunInfo]) -> list[ConditionChecks]:
    """Checks for every run, grouped by condition label (baseline first); eval changes against the baseline run
    of the same seed among `runs`."""
    runs = list(runs)
    base_eval = {r.seed: RunStore(r.path).read("eval", EvalRecord) for r in runs if r.is_baseline}
    by_label: dict[str, list[RunChecks]] = defaultdict(list)
    for r in sorted(runs, key=lambda r: (not r.is_baseline, r.condition, r.seed)):
        by_label[r.condition].append(run_checks(r, base_eval.get(r.seed)))
    return [ConditionChecks(label, tuple(rs)) for label, rs in by_label.items()]


def collect_dirs(run_dirs: Sequence[str | Path]) -> list[ConditionChecks]:
    return collect(discover_runs(run_dirs))


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _per_seed(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values)


MANIPULATION_HEADER = (
    "Condition",
    "first-attempt yield %",
    "retries",
    "retry yield %",
    "PI-copy %",
    "verified on unsolved %",
    "examples / seed",
    "steps / seed",
    "eval changed %",
)


def manipulation_rows(checks: Sequence[ConditionChecks]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for c in checks:
        stated = c._sum("stated")
        copy = "—" if not stated else f"{_pct(c.copy_rate)} ({c._sum('copied')}/{stated})"
        rows.append(
            (
                c.label,
                _pct(c.first_yield),
                str(c._sum("retries")),
                "—" if not c._sum("retries") else f"{_pct(c.retry_yield)} ({c._sum('retries_verified')})",
                copy,
                _pct(c.unsolved_share),
                _per_seed([r.examples for r in c.runs]),
                _per_seed([r.steps for r in c.runs]),
                _pct(c.changed),
            )
        )
    return rows


def manipulation_markdown(checks: Sequence[ConditionChecks]) -> str:
    from formalpi.analysis.tables import markdown_table

    return markdown_table(MANIPULATION_HEADER, manipulation_rows(checks))
