"""Evaluation: n samples per problem, verified, one EvalRecord per problem; pass@1 and unbiased pass@k."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from formalpi.domain import Domain
from formalpi.engine.backends import Generator, SamplingParams
from formalpi.records import EvalRecord, Problem
from formalpi.runs import RunStore


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): 1 - C(n-c, k) / C(n, k), computed stably."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem (have {n})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def chunk_seed(seed: int, stage: str, first_key: str) -> int:
    """A generation seed that depends only on (run seed, stage, chunk): resumed runs resample identically."""
    return int(hashlib.sha256(f"{seed}|{stage}|{first_key}".encode()).hexdigest()[:8], 16)


def evaluate(
    generator: Generator,
    domain: Domain,
    problems: Sequence[Problem],
    *,
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    condition: str,
    store: RunStore,
    stage: str = "eval",
    chunk_size: int = 32,
    on_progress: Callable[[int], None] | None = None,
) -> list[EvalRecord]:
    """Sample n completions per problem, verify them, and append one EvalRecord per problem to `stage`."""

    def run_chunk(_ci: int, chunk: list[Problem]) -> list[EvalRecord]:
        prompts = [generator.chat_prompt([("user", domain.prompt(p))]) for p in chunk]
        params = SamplingParams(
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            seed=chunk_seed(seed, stage, chunk[0].id),
        )
        outs = generator.generate(prompts, params)
        flat_p = [p for p, cs in zip(chunk, outs) for _ in cs]
        flat_c = [c.text for cs in outs for c in cs]
        verdicts = domain.verify_many(flat_p, flat_c)
        records, i = [], 0
        for p, cs in zip(chunk, outs):
            vs = verdicts[i : i + len(cs)]
            i += len(cs)
            records.append(
                EvalRecord(
                    problem_id=p.id,
                    level=p.level,
                    seed=seed,
                    condition=condition,
                    n=len(cs),
                    correct=[v.passed for v in vs],
                    scores=[v.score for v in vs],
                    completions=[c.text for c in cs],
                    completion_tokens=[c.completion_tokens for c in cs],
                )
            )
        store.add_budget(
            stage,
            samples=len(flat_c),
            completion_tokens=sum(c.completion_tokens for cs in outs for c in cs),
            verifier_calls=len(flat_c),
        )
        return records

    return store.map_resumable(
        stage,
        EvalRecord,
        problems,
        lambda p: p.id,
        lambda r: r.problem_id,
        run_chunk,
        chunk_size=chunk_size,
        on_progress=on_progress,
    )


def summarize(records: Sequence[EvalRecord], ks: Sequence[int] = (1,)) -> dict[str, dict[str, float]]:
    """pass@k overall and per level, in percent: {"all": {"pass@1": ...}, "L1": {...}, ...}."""
    groups: dict[str, list[EvalRecord]] = defaultdict(list)
    for r in records:
        groups["all"].append(r)
        if r.level is not None:
            groups[f"L{r.level}"].append(r)
    out = {}
    for name, rs in sorted(groups.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        out[name] = {
            f"pass@{k}": 100.0 * float(np.mean([pass_at_k(r.n, r.n_correct, k) for r in rs]))
            for k in ks
            if all(r.n >= k for r in rs)
        }
        out[name]["problems"] = len(rs)
    return out
