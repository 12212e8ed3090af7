"""retry-STaR: sample → verify → retry failures up to K times with PI → keep verified retries → SFT examples.

Each step is a function over records and appends to the run store (attempts.jsonl, verdicts.jsonl), keyed by
attempt id, so any step can be killed and resumed. The SFT example's prompt is always the ORIGINAL problem
prompt: the PI shown during the retry never enters training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from formalpi.config import ExperimentBase, RetryExperiment
from formalpi.domain import Domain
from formalpi.engine.backends import Generator, SamplingParams
from formalpi.pi_condition import Condition, PIContext
from formalpi.engine.conditions import condition_turns
from formalpi.engine.evaluate import chunk_seed
from formalpi.records import Attempt, Example, Judged, Problem
from formalpi.runs import RunStore

Progress = Callable[[int], None] | None


def attempt_id(problem_id: str, round_: int, sample: int, retry: int) -> str:
    return f"{problem_id}|r{round_}|s{sample}|k{retry}"


def sample_attempts(
    generator: Generator,
    domain: Domain,
    problems: Sequence[Problem],
    *,
    n: int,
    cfg: ExperimentBase,
    seed: int,
    round_: int,
    store: RunStore,
    on_progress: Progress = None,
    temperatures: Sequence[float] | None = None,
) -> list[Attempt]:
    """First attempts (retry 0): n samples per problem from the problem alone.

    `temperatures` (one per sample, for temperature controls) samples each j at its own temperature instead of
    `sampling.temperature`."""
    stage = f"attempts_r{round_}"
    s = cfg.sampling
    if temperatures is not None and len(temperatures) != n:
        raise ValueError(f"sample_attempts: {len(temperatures)} temperatures for n={n} samples")

    def generate(prompts: list[str], first_id: str):
        if temperatures is None:
            return generator.generate(
                prompts,
                SamplingParams(
                    n=n,
                    temperature=s.temperature,
                    top_p=s.top_p,
                    max_new_tokens=s.max_new_tokens,
                    seed=chunk_seed(seed, stage, first_id),
                ),
            )
        per_temp = [
            generator.generate(
                prompts,
                SamplingParams(
                    n=1,
                    temperature=t,
                    top_p=s.top_p,
                    max_new_tokens=s.max_new_tokens,
                    seed=chunk_seed(seed, f"{stage}|t{j}", first_id),
                ),
            )
            for j, t in enumerate(temperatures)
        ]
        return [[outs[i][0] for outs in per_temp] for i in range(len(prompts))]

    def run_chunk(_ci: int, chunk: list[Problem]) -> list[Attempt]:
        prompts = [generator.chat_prompt([("user", domain.prompt(p))]) for p in chunk]
        outs = generate(prompts, chunk[0].id)
        store.add_budget(
            stage,
            samples=sum(len(cs) for cs in outs),
            completion_tokens=sum(c.completion_tokens for cs in outs for c in cs),
        )
        return [
            Attempt(
                id=attempt_id(p.id, round_, j, 0),
                problem_id=p.id,
                round=round_,
                sample=j,
                retry=0,
                condition="none",
                prompt=prompt,
                completion=c.text,
                prompt_tokens=c.prompt_tokens,
                completion_tokens=c.completion_tokens,
                seed=seed,
            )
            for p, prompt, cs in zip(chunk, prompts, outs)
            for j, c in enumerate(cs)
        ]

    chunk = max(1, s.batch_size // n)
    # key: (problem, round, retry 0); retries of the same problem live in the same file under retry >= 1
    return store.map_resumable(
        "attempts",
        Attempt,
        problems,
        lambda p: f"{p.id}|r{round_}|k0",
        lambda a: f"{a.problem_id}|r{a.round}|k{a.retry}",
        run_chunk,
        chunk_size=chunk,
        on_progress=on_progress,
    )


def verify_attempts(
    domain: Domain,
    attempts: Sequence[Attempt],
    problems: Mapping[str, Problem],
    store: RunStore,
    stage: str,
    chunk_size: int = 256,
    on_progress: Progress = None,
) -> list[Judged]:
    """One Judged record per attempt (verdicts.jsonl), in the attempts' order."""

    def run_chunk(_ci: int, chunk: list[Attempt]) -> list[Judged]:
        verdicts = domain.verify_many([problems[a.problem_id] for a in chunk], [a.completion for a in chunk])
        store.add_budget(stage, verifier_calls=len(chunk))
        return [Judged(attempt_id=a.id, problem_id=a.problem_id, verdict=v) for a, v in zip(chunk, verdicts)]

    return store.map_resumable(
        "verdicts",
        Judged,
        attempts,
        lambda a: a.id,
        lambda j: j.attempt_id,
        run_chunk,
        chunk_size=chunk_size,
        on_progress=on_progress,
    )


@dataclass(frozen=True)
class RetryJob:
    """One retry to make: the failed attempt it follows and the PI text to show."""

    failed: Attempt
    pi: str

    @property
    def id(self) -> str:
        a = self.failed
        return attempt_id(a.problem_id, a.round, a.sample, a.retry + 1)


def retry_failures(
    generator: Generator,
    domain: Domain,
    condition: Condition,
    failed: Sequence[Judged],
    attempts: Mapping[str, Attempt],
    problems: Mapping[str, Problem],
    *,
    cfg: ExperimentBase,
    seed: int,
    round_: int,
    store: RunStore,
    all_problems: Sequence[Problem],
    extras: Mapping[str, Any] | None = None,
    on_progress: Progress = None,
) -> list[Attempt]:
    """One retry per failed attempt, shown the condition's PI. Attempts whose PI is None are not retried."""
    stage = f"retries_r{round_}"
    jobs: list[RetryJob] = []
    for j in failed:
        a = attempts[j.attempt_id]
        ctx = PIContext(
            problem=problems[a.problem_id],
            attempt=a,
            verdict=j.verdict,
            seed=seed,
            problems=all_problems,
            extras=extras or {},
        )
        pi = condition.pi(ctx) if condition.pi else None
        if pi is not None:
            jobs.append(RetryJob(a, pi))
    s = cfg.sampling

    def run_chunk(_ci: int, chunk: list[RetryJob]) -> list[Attempt]:
        prompts = [
            generator.chat_prompt(
                condition_turns(condition, domain.prompt(problems[j.failed.problem_id]), j.failed, j.pi)
            )
            for j in chunk
        ]
        outs = generator.generate(
            prompts,
            SamplingParams(
                n=1,
                temperature=s.temperature,
                top_p=s.top_p,
                max_new_tokens=s.max_new_tokens,
                seed=chunk_seed(seed, stage, chunk[0].id),
            ),
        )
        store.add_budget(stage, samples=len(chunk), completion_tokens=sum(cs[0].completion_tokens for cs in outs))
        out = []
        for j, prompt, cs in zip(chunk, prompts, outs):
            a = j.failed
            out.append(
                Attempt(
                    id=j.id,
                    problem_id=a.problem_id,
                    round=a.round,
                    sample=a.sample,
                    retry=a.retry + 1,
                    condition=condition.name,
                    prompt=prompt,
                    completion=cs[0].text,
                    pi=j.pi,
                    prompt_tokens=cs[0].prompt_tokens,
                    completion_tokens=cs[0].completion_tokens,
                    seed=seed,
                )
            )
        return out

    return store.map_resumable(
        "attempts",
        Attempt,
        jobs,
        lambda j: j.id,
        lambda a: a.id,
        run_chunk,
        chunk_size=s.batch_size,
        on_progress=on_progress,
    )


def keep(judged: Judged, cfg: RetryExperiment) -> bool:
    """The filter on a RETRY: binary keeps VALID; graded keeps score >= threshold.

    Never applied to a first attempt: whether a first attempt ends its chain is the binary verdict (a first attempt
    that failed was retried, however high its partial score; see `build_examples`)."""
    if cfg.retry.filter == "binary":
        return judged.verdict.passed
    return judged.verdict.score >= cfg.retry.threshold


def build_examples(
    domain: Domain,
    condition: Condition,
    attempts: Sequence[Attempt],
    judged: Mapping[str, Judged],
    problems: Mapping[str, Problem],
    cfg: RetryExperiment,
    seed: int,
    round_: int,
) -> list[Example]:
    """SFT examples: verified retries (+ correct first attempts for first-attempt conditions).

    The prompt is the ORIGINAL problem prompt; one example per (problem, sample) chain at most, from its first
    attempt (if it passed and the condition trains on those) or its first retry the filter keeps. A first attempt
    that passed ends the chain (solved at once); one that failed never does, whatever its graded score: its
    retries are what the chain is for (a WRONG \\boxed{109} for 33*3 scores 0.899 and must not hide the VALID
    retry after it).
    """
    examples: list[Example] = []
    chains: dict[tuple[str, int], list[Attempt]] = {}
    for a in attempts:
        if a.round == round_:
            chains.setdefault((a.problem_id, a.sample), []).append(a)
    frontier = frontier_problems(attempts, judged, round_) if condition.frontier_only else None
    for (pid, _sample), chain in chains.items():
        if frontier is not None and pid not in frontier:
            continue
        for a in sorted(chain, key=lambda x: x.retry):
            j = judged.get(a.id)
            if j is None:
                continue
            if a.retry == 0:
                if not j.verdict.passed:
                    continue  # failed: its retries follow
                if not condition.first_attempts:
                    break  # solved at once: nothing to learn from a retry
            elif not keep(j, cfg):
                continue
            examples.append(
                Example(
                    prompt=domain.prompt(problems[pid]),
                    completion=a.completion,
                    problem_id=pid,
                    attempt_id=a.id,
                    condition=condition.name,
                    round=round_,
                    seed=seed,
                    score=j.verdict.score,
                )
            )
            break
    return examples


def frontier_problems(attempts: Sequence[Attempt], judged: Mapping[str, Judged], round_: int) -> set[str]:
    """Problems whose first attempts of the round are solved sometimes but not always (0 < rate < 1)."""
    solved: dict[str, list[bool]] = {}
    for a in attempts:
        if a.round == round_ and a.retry == 0 and a.id in judged:
            solved.setdefault(a.problem_id, []).append(judged[a.id].verdict.passed)
    return {pid for pid, ok in solved.items() if 0 < sum(ok) < len(ok)}
