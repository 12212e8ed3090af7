"""The cross-model file: a (larger) named model's verified solutions and first steps on a row's training problems,
as the `cross_model_hint` / `cross_model_retry` conditions read it (`conditions.load_cross_model`).

For each training problem the model draws `n` samples from the problem alone (the row's sampling settings, seed
`seed`); the first one the domain verifies becomes the problem's `solution`, and its first step
(`formalpi.pi_condition.first_step_of`) its `hint`, withheld when that step states the answer (the hint must never give it
away). Problems the model never solves get no line: the conditions then show no PI for them (no retry).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from formalpi.config import ExperimentBase
from formalpi.domain import Domain
from formalpi.engine.backends import Generator, SamplingParams
from formalpi.engine.evaluate import chunk_seed
from formalpi.pi_condition import first_step_of, reveals
from formalpi.records import Problem

STAGE = "cross_model"


@dataclass(frozen=True)
class HintsResult:
    path: Path
    problems: int
    solved: int  # problems with a verified solution (a line in the file)
    hints: int  # lines that also carry a first-step hint
    samples: int


def cross_model_rows(
    generator: Generator,
    domain: Domain,
    problems: Sequence[Problem],
    cfg: ExperimentBase,
    n: int,
    seed: int,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[dict], int]:
    """(one {"problem_id", "solution", "hint"?} row per solved problem, samples drawn)."""
    s = cfg.sampling
    rows, drawn = [], 0
    chunk = max(1, s.batch_size // n)
    for start in range(0, len(problems), chunk):
        batch = list(problems[start : start + chunk])
        prompts = [generator.chat_prompt([("user", domain.prompt(p))]) for p in batch]
        outs = generator.generate(
            prompts,
            SamplingParams(
                n=n,
                temperature=s.temperature,
                top_p=s.top_p,
                max_new_tokens=s.max_new_tokens,
                seed=chunk_seed(seed, STAGE, batch[0].id),
            ),
        )
        flat = [(p, c.text) for p, cs in zip(batch, outs) for c in cs]
        drawn += len(flat)
        verdicts = domain.verify_many([p for p, _ in flat], [t for _, t in flat])
        done: set[str] = set()
        for (p, text), v in zip(flat, verdicts):
            if v.passed and p.id not in done:
                done.add(p.id)
                row = {"problem_id": p.id, "solution": text.strip()}
                step = first_step_of(text)
                if step is not None and (p.gold is None or not reveals(step, p.gold)):
                    row["hint"] = step
                rows.append(row)
        if on_progress:
            on_progress(len(batch))
    return rows, drawn


def write_cross_model(path: Path, rows: Sequence[dict]) -> Path:
    """Write the JSONL file atomically (a kill never leaves half a file under the final name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)
    return path


def generate_cross_model(
    generator: Generator,
    domain: Domain,
    problems: Sequence[Problem],
    cfg: ExperimentBase,
    out: Path,
    n: int = 4,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> HintsResult:
    rows, drawn = cross_model_rows(generator, domain, problems, cfg, n, seed, on_progress)
    write_cross_model(out, rows)
    return HintsResult(out, len(problems), len(rows), sum("hint" in r for r in rows), drawn)
