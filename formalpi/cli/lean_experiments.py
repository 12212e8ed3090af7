"""Lean experiment commands: `formalpi skeleton-opsd` (the seed's skeleton-OPSD table) and `formalpi minif2f eval`.

skeleton-opsd, per seed: baseline eval of the prover on MiniF2F (eval split); skeleton PI from reference proofs (a
corpus file and the verified samples of the round); OPSD with that PI on the train split (method "opsd" when
formalpi.engine.methods exists, else retry-STaR); eval; then the seed-style table over all seeds.
Without a Lean toolchain it stops at once with what `formalpi lean doctor` says, unless `--repl-command` points at a
REPL (the real one, or the test double `python -m formalpi.lean.double`).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

import typer

from formalpi.cli._common import console, parse_seeds, progress, stage_progress
from formalpi.config import ExperimentConfig, apply_overrides, config_from_dict, for_method, with_method
from formalpi.engine.preflight import preflight
from formalpi.errors import LeanUnavailable


class SkeletonCondition(str, Enum):
    skeleton = "skeleton"
    retry = "retry"
    skeleton_retry = "skeleton+retry"


class TrainMethod(str, Enum):
    opsd = "opsd"  # the headline experiment: on-policy self-distillation with the PI-conditioned teacher
    retry = "retry"  # retry-STaR with the same PI, for comparison


def lean_base_config(name: str, model: str, *, train_split: str, eval_split: str, samples: int, eval_samples: int,
                     ks: Sequence[int], runs_dir: str, overrides: Sequence[str] = (),
                     method: str = "baseline") -> ExperimentConfig:
    """The shared config of every run of a Lean experiment, as a row of `method`; `--set` overrides apply last."""
    data: dict[str, Any] = {
        "name": name, "domain": "lean", "method": method, "condition": "skeleton", "runs_dir": runs_dir,
        "model": {"path": model},
        "data": {"dataset": "minif2f", "train_split": train_split, "eval_split": eval_split},
        "sampling": {"n": samples, "temperature": 1.0, "max_new_tokens": 4096},
        "train": {"finetune": "lora", "lora_rank": 32, "lora_alpha": 64, "lr": 1e-4, "max_length": 6144},
        "eval": {"n": eval_samples, "temperature": 1.0, "max_new_tokens": 4096,
                 "ks": sorted({k for k in ks if k <= eval_samples} | {1})},
    }
    data = for_method(data, method)  # the train keys `method` reads
    return config_from_dict(apply_overrides(data, list(overrides)), "the command's flags", list(overrides))


def skeleton_opsd_configs(base: ExperimentConfig, condition: str, method: str) -> list[ExperimentConfig]:
    """The baseline and the trained run, named <name>/baseline and <name>/<condition>."""
    return [with_method(base, "baseline", name=f"{base.name}/baseline"),
            with_method(base, method, name=f"{base.name}/{condition}", condition=condition)]


def lean_config(repl_command: Optional[str], project_dir: Optional[Path], workers: int, timeout: float,
                replay: str = "safeverify"):
    """The pool config; without --repl-command the Lean toolchain must pass `formalpi lean doctor`'s checks."""
    from formalpi.lean.pool import LeanConfig
    from formalpi.lean.replay import replay_mode_kwargs
    from formalpi.lean.setup import default_project_dir, doctor_checks

    project = project_dir or default_project_dir()
    extra = replay_mode_kwargs(replay)
    if repl_command is None:
        failed = [c for c in doctor_checks(project) if not c.ok]
        if failed:
            lines = "\n".join(f"  {c.name}: {c.detail} -> fix: {c.fix}" for c in failed)
            raise LeanUnavailable(f"no usable Lean toolchain ({len(failed)} `formalpi lean doctor` check(s) "
                                  f"failed):\n{lines}\nFix them in order, or pass --repl-command to use another "
                                  f"REPL (e.g. the test double: --repl-command 'python -m formalpi.lean.double')")
        return LeanConfig(project_dir=project, workers=workers, timeout_s=timeout, **extra)
    argv = shlex.split(repl_command)
    if not argv:
        raise LeanUnavailable("--repl-command is empty: give the REPL argv, e.g. "
                              "--repl-command 'lake env .lake/packages/REPL/.lake/build/bin/repl'")
    return LeanConfig(project_dir=project, repl_command=argv, workers=workers, timeout_s=timeout, **extra)


def run_lean_configs(configs: Sequence[ExperimentConfig], seeds: Sequence[int], pool_config,
                     extras: dict[str, Any], progress_factory) -> dict[tuple[str, int], dict]:
    """Every (config, seed) with one LeanDomain (one pool) shared by all; returns each run's summary."""
    from formalpi.domains.lean.domain import LeanDomain
    from formalpi.engine.experiment import run_experiment
    from formalpi.engine.stages import start_model
    from formalpi.tiny import resolve_model_path

    out = {}
    with LeanDomain(pool_config) as domain:
        for cfg in configs:
            for seed in seeds:
                res = run_experiment(cfg, seed, progress_factory, domain=domain, extras=extras,
                                     model_path=resolve_model_path(start_model(cfg, seed)))
                out[(cfg.name, seed)] = res.summary
                console.print(f"[bold]{cfg.name}[/] seed {seed}: " + ", ".join(
                    f"{k} {v:.1f}" for k, v in res.summary.get("all", {}).items() if k.startswith("pass@")))
    return out


_REPL = typer.Option(None, "--repl-command", help="REPL argv as one shell-quoted string, run in the project dir "
                                                  "(default: the Lean toolchain's REPL, checked by `lean doctor`)")
_PROJECT = typer.Option(None, "--project-dir", help="the Lake workspace (default: lean_project/)")
_REPLAY = typer.Option("safeverify", "--replay", help="replay of VALID verdicts: safeverify (default), standin "
                                                       "(scripted, no Lean) or off (the run records it and every "
                                                       "report table says so)")
_SET = typer.Option(None, "--set", help="override a config key: key=value (e.g. data.path=..., eval.n=8)")

minif2f_app = typer.Typer(no_args_is_help=True, help="MiniF2F evaluation of a prover.")


@minif2f_app.command("eval")
def minif2f_eval(model: str = typer.Option(..., "--model", help="checkpoint path or hub id ('tiny' = built-in)"),
                 samples: int = typer.Option(32, "--samples", min=1, help="proofs sampled per problem"),
                 split: str = typer.Option("test", "--split", help="MiniF2F split: test or valid"),
                 seeds: str = typer.Option("42", help="comma-separated seeds"),
                 runs_dir: str = typer.Option("runs", help="where runs/minif2f_eval/... is written"),
                 repl_command: Optional[str] = _REPL, project_dir: Optional[Path] = _PROJECT,
                 workers: int = typer.Option(4, "--workers", min=1), timeout: float = typer.Option(60.0, "--timeout"),
                 replay: str = _REPLAY, set_: Optional[List[str]] = _SET):
    """Sample --samples proofs per MiniF2F problem, verify them strictly; print pass@1 and pass@k."""
    pool = lean_config(repl_command, project_dir, workers, timeout, replay)
    name = "minif2f_eval/" + (Path(model).name or "model")
    cfg = lean_base_config(name, model, train_split=split, eval_split=split, samples=1, eval_samples=samples,
                           ks=(1, 8, 32, samples), runs_dir=runs_dir, overrides=set_ or [])
    seed_list = parse_seeds(seeds)
    preflight(cfg, seed_list, model_key="--model", runs_dir_flag="--runs-dir")
    with progress() as p:
        summaries = run_lean_configs([cfg], seed_list, pool, {}, stage_progress(p))
    for (_, seed), summary in summaries.items():
        row = summary["all"]
        console.print(f"MiniF2F {split}, seed {seed}, {int(row['problems'])} problems, {samples} samples: " + ", ".join(
            f"{k} = {v:.1f}%" for k, v in row.items() if k.startswith("pass@")))


def register(root: typer.Typer) -> None:
    root.add_typer(minif2f_app, name="minif2f")

    @root.command("skeleton-opsd")
    def skeleton_opsd(seeds: str = typer.Option("42,123,456", help="comma-separated seeds"),
                      model: str = typer.Option("AI-MO/Kimina-Prover-Preview-Distill-1.5B", "--model",
                                                help="prover checkpoint or hub id ('tiny' = built-in)"),
                      train_split: str = typer.Option("valid", "--train-split"),
                      eval_split: str = typer.Option("test", "--eval-split"),
                      condition: SkeletonCondition = typer.Option(SkeletonCondition.skeleton, "--condition"),
                      method: TrainMethod = typer.Option(TrainMethod.opsd, "--method",
                                                         help="opsd (the headline) or retry-STaR"),
                      proof_corpus: Optional[Path] = typer.Option(
                          None, "--proof-corpus", help="JSONL of {name, proof}: verified reference proofs"),
                      samples: int = typer.Option(4, "--samples", min=1, help="first attempts per train problem"),
                      eval_samples: int = typer.Option(32, "--eval-samples", min=1),
                      name: str = typer.Option("skeleton_opsd", "--name", help="runs/<name>/<condition>/<seed>"),
                      runs_dir: str = typer.Option("runs", "--runs-dir"),
                      repl_command: Optional[str] = _REPL, project_dir: Optional[Path] = _PROJECT,
                      workers: int = typer.Option(4, "--workers", min=1),
                      timeout: float = typer.Option(60.0, "--timeout"),
                      report: bool = typer.Option(True, "--report/--no-report", help="write report.md and plots"),
                      replay: str = _REPLAY, set_: Optional[List[str]] = _SET):
        """MiniF2F: baseline eval, skeleton PI from verified proofs, OPSD with it, eval; the seed-style table."""
        from formalpi.analysis.report import render_condition_table, write_report
        from formalpi.domains.lean.conditions import load_proof_corpus

        seed_list = parse_seeds(seeds)
        pool = lean_config(repl_command, project_dir, workers, timeout, replay)  # fails fast without Lean
        used = method.value
        base = lean_base_config(name, model, train_split=train_split, eval_split=eval_split, samples=samples,
                                eval_samples=eval_samples, ks=(1, 8, 32), runs_dir=runs_dir, overrides=set_ or [],
                                method=used)
        for cfg in skeleton_opsd_configs(base, condition.value, used):
            preflight(cfg, seed_list, model_key="--model", runs_dir_flag="--runs-dir")
        extras = {"reference_proofs": load_proof_corpus(proof_corpus) if proof_corpus else {}}
        console.print(f"skeleton-opsd: condition {condition.value}, method {used}"
                      + f", {len(extras['reference_proofs'])} problems with corpus proofs")
        with progress() as p:
            run_lean_configs(skeleton_opsd_configs(base, condition.value, used), seed_list, pool, extras,
                             stage_progress(p))
        out = Path(runs_dir) / name
        console.print(render_condition_table([out]), markup=False)
        if report:
            console.print(f"report: {write_report([out], out)}")
