"""One experiment × one seed, end to end, resumable: the stages in order, each recorded in the run store.

baseline: eval of the base model.
retry:    for each round r: sample → verify → K retries with PI (verify each) → examples → SFT → eval of the round's
          checkpoint (stage `eval_r{r}`; the last round's eval is the final `eval`), so iterative rows report the
          gain of every round.
opsd / iprs: see formalpi/engine/opsd.py and iprs.py (the registry: formalpi/engine/methods.py).

Before any stage, the training and evaluation problems are compared: a run whose train and eval problems overlap
refuses to start unless `data.allow_train_on_eval = true`; the manifest's `data` record says what the run trained
on and what a seed varies (formalpi/engine/stages.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from formalpi.config import ExperimentBase, RetryExperiment
from formalpi.domain import Domain, open_domain
from formalpi.engine.backends import greedy_writer, release
from formalpi.pi_condition import Condition
from formalpi.engine.conditions import get_condition, load_cross_model
from formalpi.engine.evaluate import evaluate, summarize
from formalpi.engine.launch import Placement
from formalpi.engine.context import ProgressFactory, TrainContext, no_progress
from formalpi.engine.methods import get_method
from formalpi.engine.matching import first_attempts_per_problem
from formalpi.engine.retry import build_examples, retry_failures, sample_attempts, verify_attempts
from formalpi.engine.shard import GenStage, run_sharded
from formalpi.engine.stages import (
    check_data,
    condition_label,
    eval_problems,
    load_problems,
    make_generator,
    record_data,
    stage,
    start_model,
    train_problems,
)
from formalpi.errors import CanaryError, ConfigError
from formalpi.paths import resolve_data_file
from formalpi.engine.preflight import preflight
from formalpi.records import Attempt, EvalRecord, Example, Judged, Problem
from formalpi.runs import RunStore
from formalpi.truncation import MANIFEST_KEY as TRUNCATION_KEY
from formalpi.truncation import truncation_record

CROSS_MODEL_ENV = "FORMALPI_CROSS_MODEL"  # a cross-model outputs file (see conditions.load_cross_model)


@dataclass(frozen=True)
class RunResult:
    store: RunStore
    summary: dict[str, dict[str, float]]
    skipped_stages: tuple[str, ...] = ()  # stages a resumed run found finished in its store and did not run again


__all__ = ["ProgressFactory", "RunResult", "run_experiment", "condition_label", "load_problems", "stage"]


def run_experiment(
    cfg: ExperimentBase,
    seed: int,
    progress: ProgressFactory = no_progress,
    domain: Domain | None = None,
    extras: dict[str, Any] | None = None,
    placement: Placement | None = None,
    model_path: str | None = None,
) -> RunResult:
    """What the caller builds is handed in: `domain` (None: `cfg.domain` opened here and closed at the end),
    `placement` (training launcher and generation GPUs; None: all in this process) and `model_path`, the
    resolved starting model (None: `model.path` as it is, a checkpoint directory or hub id; the built-in
    "tiny" model is resolved by the caller: formalpi.tiny.resolve_model_path)."""
    preflight(cfg, [seed])  # seed, condition, extras, model path, writable runs_dir: before any work
    own_domain = domain is None
    domain = domain or open_domain(cfg.domain, cfg.verify)
    try:
        method = get_method(cfg.method)
        if method.trains:  # a missing input (a cross-model file, a proof corpus) stops before any work
            extras = condition_extras(cfg, get_condition(cfg.condition, domain), extras or {}, domain)
        # the data check comes first: a run that would train on its eval problems never creates a run directory
        train = train_problems(domain, cfg, seed) if method.trains else []
        evals = eval_problems(domain, cfg)
        data = check_data(cfg, train, evals)
        check_verifier(domain, evals)  # like the data check: before the run directory
        store = RunStore.open(
            cfg.runs_dir, cfg.name, seed, cfg.model_dump(mode="json"), cfg.fingerprint(), resumes=cfg.resumes
        )
        skipped = tuple(s for s, e in store.manifest().get("stages", {}).items() if e.get("done"))
        record_data(store, data)
        if method.trains:  # what the model is shown, for readers of the run (the report's teacher table)
            cond = get_condition(cfg.condition, domain)
            store.annotate(condition={"name": cond.name, "description": cond.description})
        isolation = domain.isolation()  # code: the sandbox layers candidates run under ("weak": true if not all)
        if isolation:
            store.annotate(sandbox=isolation)
        checks = domain.verifier_settings()  # lean: whether VALID verdicts were replayed in a fresh process
        if checks:
            store.annotate(lean_verifier=checks)
        ctx = TrainContext(
            cfg, seed, store, domain, model_path or resolved_start_model(cfg, seed), progress, extras or {}, placement
        )
        if method.sft_rounds:
            ctx = replace(ctx, model_path=_retry_rounds(ctx))
        elif method.trains:
            ctx = replace(ctx, model_path=method.train(reference_pass(ctx)))
        records = _final_eval(ctx)
        store.annotate(
            **{TRUNCATION_KEY: truncation_record(store, cfg.sampling.max_new_tokens, cfg.eval.max_new_tokens)}
        )
        return RunResult(store, summarize(records, cfg.eval.ks), skipped)
    finally:
        if own_domain:
            domain.close()


def check_verifier(domain: Domain, problems: Sequence[Problem]) -> None:
    """The verifier canary, before any sampling, on the first eval problem: the domain's reference completion must
    pass; an empty completion and the reference completions of up to three eval problems with other golds must not.
    A verifier that cannot check anything (a broken install, a module shadowing math_verify, a dead sandbox) gives
    every attempt a typed CRASH verdict, and one that accepts anything passes every attempt; without this a run
    would go on and report pass@1 = 0 or 100 as if it were a result. Domains without a reference completion are
    not checked here (the Lean pool can mix canary theorems into every batch: `LeanConfig.canaries_per_batch`)."""
    reference = domain.reference_completion(problems[0]) if problems else None
    if reference is None:
        return
    p = problems[0]
    cases = [(reference, True, "rejects the reference answer"), ("", False, "accepts an empty completion")]
    others = [q for q in problems[1:] if q.gold != p.gold][:3]  # answers of other forms: a stub may refuse some
    cases += [
        (ref, False, f"accepts the answer of {q.id}")
        for q in others
        if (ref := domain.reference_completion(q)) is not None
    ]
    verdicts = domain.verify_many([p] * len(cases), [c for c, _, _ in cases])
    for (_, must_pass, what), v in zip(cases, verdicts):
        if v.passed != must_pass:
            raise CanaryError(
                f"the {domain.name} verifier {what} as the answer to {p.id} ({v.status.value}: "
                f"{v.reason}); nothing was run. Check the install (`pip install .`) and that no local "
                "module shadows a verifier package (a math_verify.py in the working directory or the "
                "script's folder)"
            )


def _final_eval(ctx: TrainContext[ExperimentBase], name: str = "eval") -> list[EvalRecord]:
    """Evaluate `ctx.model_path` into stage `name` (`eval`: the run's final model; `eval_r{r}`: a retry round's)."""
    cfg, seed, store, domain, model_path, placement = (
        ctx.cfg,
        ctx.seed,
        ctx.store,
        ctx.domain,
        ctx.model_path,
        ctx.placement,
    )
    problems = eval_problems(domain, cfg)
    if store.is_done(name):
        return store.read(name, EvalRecord)
    with stage(store, name):
        if placement is not None and placement.shards > 1 and name == "eval":  # one generation worker per GPU, merged
            records = cast(
                list[EvalRecord],
                run_sharded(
                    GenStage.EVAL, cfg, seed, model_path, problems, store, placement.shards, gpus=placement.gpus()
                ),
            )
            store.mark_done(name, problems=len(records))
            return records
        gen = make_generator(cfg, model_path)
        e = cfg.eval
        records = evaluate(
            gen,
            domain,
            problems,
            n=e.n,
            temperature=e.temperature,
            top_p=e.top_p,
            max_new_tokens=e.max_new_tokens,
            seed=seed,
            condition=condition_label(cfg),
            store=store,
            stage=name,
            on_progress=ctx.progress(f"{eval_title(name)} ({condition_label(cfg)}, seed {seed})", len(problems)),
        )
        release(gen)  # the next seed's run in this process needs the GPU memory back
    store.mark_done(name, problems=len(records))
    return records


def eval_title(stage_name: str) -> str:
    """The progress title of an eval stage: `eval` -> "evaluating", `eval_r0` -> "evaluating after round 1"."""
    if stage_name.startswith("eval_r") and stage_name[6:].isdigit():
        return f"evaluating after round {int(stage_name[6:]) + 1}"
    return "evaluating"


def round_eval_stages(rounds: int) -> list[str]:
    """The eval stage of each retry round, in order: `eval_r0` … `eval_r{R-2}`, then the final `eval`."""
    return [f"eval_r{r}" for r in range(rounds - 1)] + ["eval"]


def _retry_rounds(ctx: TrainContext[ExperimentBase]) -> str:
    """retry-STaR's rounds (the registry's `sft_rounds` method); returns the last round's checkpoint."""
    cfg, seed, store, domain, model_path, progress, placement = (
        ctx.cfg,
        ctx.seed,
        ctx.store,
        ctx.domain,
        ctx.model_path,
        ctx.progress,
        ctx.placement,
    )
    if not isinstance(cfg, RetryExperiment):
        raise TypeError(f"retry rounds need a RetryExperiment (got {type(cfg).__name__})")
    condition = get_condition(cfg.condition, domain)
    extras = condition_extras(cfg, condition, dict(ctx.extras), domain)
    train = train_problems(domain, cfg, seed)
    by_id = {p.id: p for p in train}
    label = f"{condition.name}, seed {seed}"
    evals = round_eval_stages(cfg.retry.rounds)
    if cfg.retry.rounds > 1:
        store.annotate(round_evals=evals)
    for r in range(cfg.retry.rounds):
        ckpt = store.root / f"checkpoint_r{r}"
        # progress titles say what is done, for which condition, seed (and round, when there are several)
        at = label + (f", round {r + 1}/{cfg.retry.rounds}" if cfg.retry.rounds > 1 else "")
        if store.is_done(f"train_r{r}"):
            model_path = str(ckpt)
            if r < cfg.retry.rounds - 1:  # a round killed between its training and its evaluation
                _final_eval(replace(ctx, model_path=model_path), name=evals[r])
            continue
        n = first_attempts_per_problem(cfg, condition, seed, r, store, len(train))
        # sharded: one generation worker (one engine) per GPU first; this process loads its own generator only
        # afterwards, for the retries, so the workers have every GPU to themselves
        gen = None
        with stage(store, f"attempts_r{r}"):
            if placement is not None and placement.shards > 1:
                attempts: list[Attempt] = cast(
                    list[Attempt],
                    run_sharded(
                        GenStage.ATTEMPTS,
                        cfg,
                        seed,
                        model_path,
                        train,
                        store,
                        placement.shards,
                        round_=r,
                        n=n,
                        gpus=placement.gpus(),
                        temperatures=condition.temperatures(n),
                    ),
                )
            else:
                gen = make_generator(cfg, model_path)
                attempts = sample_attempts(
                    gen,
                    domain,
                    train,
                    n=n,
                    cfg=cfg,
                    seed=seed,
                    round_=r,
                    store=store,
                    on_progress=progress(f"first attempts ({at})", len(train)),
                    temperatures=condition.temperatures(n),
                )
        with stage(store, f"verify_r{r}"):
            judged = verify_attempts(
                domain,
                attempts,
                by_id,
                store,
                f"verify_r{r}",
                on_progress=progress(f"checking first attempts ({at})", len(attempts)),
            )
        if cfg.domain == "lean":  # the round's verified proofs are reference proofs for skeleton PI
            extras = with_verified_proofs(extras, judged)
        all_attempts = {a.id: a for a in attempts}
        all_judged = {j.attempt_id: j for j in judged}
        latest = judged
        for k in range(1, cfg.retry.k + 1):
            if condition.pi is None:
                break
            if gen is None:
                gen = make_generator(cfg, model_path)
            nth = f" {k}/{cfg.retry.k}" if cfg.retry.k > 1 else ""
            failed = [j for j in latest if not j.verdict.passed]
            with stage(store, f"retries_r{r}"):
                retries = retry_failures(
                    gen,
                    domain,
                    condition,
                    failed,
                    all_attempts,
                    by_id,
                    cfg=cfg,
                    seed=seed,
                    round_=r,
                    store=store,
                    all_problems=train,
                    extras=with_diagnosis_writer(extras, condition, gen),
                    on_progress=progress(f"retries with PI{nth} ({at})", len(failed)),
                )
            with stage(store, f"verify_r{r}"):
                latest = verify_attempts(domain, retries, by_id, store, f"verify_r{r}")
            all_attempts.update({a.id: a for a in retries})
            all_judged.update({j.attempt_id: j for j in latest})
        examples = build_examples(domain, condition, list(all_attempts.values()), all_judged, by_id, cfg, seed, r)
        _write_examples(store, r, examples)
        release(gen)  # the GPU memory goes to training (vLLM would keep it otherwise)
        with stage(store, f"train_r{r}"):
            result = (placement or Placement()).train(
                model_path, examples, cfg, ckpt, seed, progress=progress, label=f"fine-tuning, SFT steps ({at})"
            )
        store.mark_done(
            f"train_r{r}",
            examples=result.examples,
            steps=result.steps,
            train_tokens=result.train_tokens,
            final_loss=result.final_loss,
        )
        model_path = str(ckpt)
        if r > 0:  # iterative rounds keep only the newest checkpoint on disk
            shutil.rmtree(store.root / f"checkpoint_r{r - 1}", ignore_errors=True)
        if r < cfg.retry.rounds - 1:  # the last round's checkpoint is the run's final model: `eval` covers it
            del gen
            _final_eval(replace(ctx, model_path=model_path), name=evals[r])
    return model_path


def condition_extras(
    cfg: ExperimentBase, condition: Condition, extras: dict[str, Any], domain: Domain | None = None
) -> dict[str, Any]:
    """The extras a condition reads, filled in where the caller gave none: `cross_model` from
    $FORMALPI_CROSS_MODEL or `cross_model_<dataset>.jsonl` in the data dir; `reference_proofs` from the toml's
    `data.proof_corpus`, read by the domain (`Domain.proof_corpus`). One that nothing supplies (neither the caller, a file, nor the engine: `Method.engine_made`) is a
    ConfigError naming it now, not a failure (or a silent no-op) half-way through the run."""
    out = dict(extras)
    if "cross_model" in condition.needs and "cross_model" not in out:
        path = resolve_data_file(
            "cross_model", os.environ.get(CROSS_MODEL_ENV), (f"cross_model_{cfg.data.dataset}.jsonl",)
        )
        out["cross_model"] = load_cross_model(path)
    if "reference_proofs" in condition.needs and not out.get("reference_proofs") and cfg.data.proof_corpus:
        if domain is None:
            raise ConfigError("data.proof_corpus: condition_extras needs the run's domain to read the corpus")
        out["reference_proofs"] = domain.proof_corpus(cfg.data.proof_corpus)
    made = get_method(cfg.method).engine_made
    missing = sorted(k for k in condition.needs if k not in out and k not in made)
    if missing:
        raise ConfigError(
            f"condition {condition.name!r} with method {cfg.method!r} needs "
            f"{', '.join(missing)}, and nothing supplies it: pass it in extras (Python API) or choose "
            f"method = 'retry', which makes it during the run"
        )
    return out


def reference_pass(ctx: TrainContext[ExperimentBase]) -> TrainContext[ExperimentBase]:
    """OPSD/IPRS rows whose PI shows reference proofs (Lean skeletons) and were given none: the starting model's
    `sampling.n` first attempts on the training split (stages attempts_r0 / verify_r0, as a retry row's first
    round), and its verified proofs as `reference_proofs` (`ctx` with them in its extras). No verified proof at
    all stops the run here, naming the input, instead of training on no sample."""
    cfg, seed, store, domain, model_path, progress, extras = (
        ctx.cfg,
        ctx.seed,
        ctx.store,
        ctx.domain,
        ctx.model_path,
        ctx.progress,
        dict(ctx.extras),
    )
    condition = get_condition(cfg.condition, domain)
    if "reference_proofs" not in condition.needs or extras.get("reference_proofs"):
        return ctx
    train = train_problems(domain, cfg, seed)
    gen = make_generator(cfg, model_path)
    label = f"reference proofs for {condition.name}, seed {seed}"
    with stage(store, "attempts_r0"):
        attempts = sample_attempts(
            gen,
            domain,
            train,
            n=cfg.sampling.n,
            cfg=cfg,
            seed=seed,
            round_=0,
            store=store,
            on_progress=progress(f"first attempts ({label})", len(train)),
        )
    release(gen)
    with stage(store, "verify_r0"):
        judged = verify_attempts(
            domain,
            attempts,
            {p.id: p for p in train},
            store,
            "verify_r0",
            on_progress=progress(f"checking first attempts ({label})", len(attempts)),
        )
    out = with_verified_proofs(extras, judged)
    store.annotate(
        reference_proofs={"source": "first attempts (attempts_r0)", "problems": len(out["reference_proofs"])}
    )
    if not out["reference_proofs"]:
        raise ConfigError(
            f"condition {condition.name!r}: no reference proofs: the starting model verified none of "
            f"its {len(attempts)} first attempts on the {len(train)} training problems, so the PI has "
            f"nothing to show and {cfg.method} would train on no sample; name verified proofs with "
            f'data.proof_corpus = \'proofs.jsonl\' (lines {{"name": ..., "proof": ...}}) or raise '
            f"sampling.n"
        )
    return ctx.with_extras(out)


def with_diagnosis_writer(extras: dict[str, Any], condition: Condition, gen) -> dict[str, Any]:
    """extras with the row's own generator as `diagnosis_writer` (formalpi.engine.backends.greedy_writer) where the
    condition reads one and none was given (the model diagnoses its own failed proof)."""
    if "diagnosis_writer" in condition.needs and extras.get("diagnosis_writer") is None:
        return {**extras, "diagnosis_writer": greedy_writer(gen)}
    return extras


def with_verified_proofs(extras: dict[str, Any], judged: list[Judged]) -> dict[str, Any]:
    """extras with `reference_proofs` extended by the proof bodies of the verified (VALID) attempts."""
    refs = {k: list(v) for k, v in (extras.get("reference_proofs") or {}).items()}
    for j in judged:
        if j.verdict.passed and j.verdict.answer and j.verdict.answer not in refs.get(j.problem_id, []):
            refs.setdefault(j.problem_id, []).append(j.verdict.answer)
    return {**extras, "reference_proofs": refs}


def _write_examples(store: RunStore, round_: int, examples: list[Example]) -> None:
    """Examples are derived data: rewrite this round's whole set (idempotent on resume)."""
    kept = [e for e in store.read("examples", Example) if e.round != round_]
    path = store.path("examples")
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(e.model_dump_json() + "\n" for e in kept + examples))
    tmp.replace(path)
    store.mark_done(f"examples_r{round_}", count=len(examples))


def judged_of(store: RunStore) -> dict[str, Judged]:
    return {j.attempt_id: j for j in store.read("verdicts", Judged)}


def resolved_start_model(cfg: ExperimentBase, seed: int) -> str:
    """`model.path` for this seed (formalpi.engine.stages.start_model) when it needs no resolving above the engine."""
    path = start_model(cfg, seed)
    if path == "tiny":
        raise ConfigError(
            'model.path = "tiny": the built-in model is resolved by the caller (formalpi run and '
            "formalpi demo do it); pass run_experiment(..., model_path=formalpi.tiny.resolve_model_path"
            '("tiny"))'
        )
    return path
