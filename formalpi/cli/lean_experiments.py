"""Lean experiment commands: `formalpi skeleton-opsd` (the seed's skeleton-OPSD table) and `formalpi minif2f eval`.

Each reads its row from an experiment toml (`--config`; skeleton-opsd: experiments/lean_opsd_skeleton.toml,
minif2f eval: experiments/lean_baseline.toml), `base =` chain resolved. A flag the user passes overrides one key
of it (`--samples` -> sampling.n, `--workers` -> verify.workers, ...); a flag left out changes nothing; `--set`
items apply last. The Lean pool is the domain built from the resolved `[verify]` table (formalpi.lean.pool's
LeanConfig fields), as `formalpi run` builds it.

skeleton-opsd, per seed: baseline eval of the prover on MiniF2F (eval split); skeleton PI from reference proofs (a
corpus file, or the verified first attempts of the base model); OPSD with that PI on the train split (or
retry-STaR with `--method retry`); eval; then the seed-style table over all seeds.
When the row's REPL is the Lean toolchain's (no `verify.repl_command` of its own), a missing toolchain stops the
command at once with what `formalpi lean doctor` says; `--repl-command` points at another REPL (the test double:
`python -m formalpi.lean.double`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

import typer

from formalpi.cli._common import console, parse_seeds, progress, stage_progress
from formalpi.cli.lean import ReplayMode, verify_flags
from formalpi.config import (
    DEFAULT_METHOD,
    ExperimentConfig,
    apply_overrides,
    config_from_dict,
    for_method,
    merge_tables,
    read_toml_with_bases,
)
from formalpi.engine.preflight import preflight
from formalpi.errors import ConfigError, LeanUnavailable

SKELETON_OPSD_CONFIG = Path("experiments/lean_opsd_skeleton.toml")
MINIF2F_EVAL_CONFIG = Path("experiments/lean_baseline.toml")


class SkeletonCondition(str, Enum):
    skeleton = "skeleton"
    retry = "retry"
    skeleton_retry = "skeleton+retry"


class TrainMethod(str, Enum):
    opsd = "opsd"  # the headline experiment: on-policy self-distillation with the PI-conditioned teacher
    retry = "retry"  # retry-STaR with the same PI, for comparison


def config_path(given: Optional[Path], default: Path) -> Path:
    """`--config`, or the command's default row, which exists only in a formalpi checkout (run from its root)."""
    if given is not None:
        return given
    if not default.is_file():
        raise ConfigError(
            f"--config: the default row {default} is not here (it lives in the formalpi checkout's "
            f"experiments/; run from the checkout's root, or pass --config PATH to a Lean "
            f"experiment toml, e.g. one copied from there)"
        )
    return default


def flag_tables(**dotted: Any) -> dict[str, Any]:
    """{"sampling.n": 4, "verify.workers": None, ...} as nested tables, leaving out the keys whose flag is unset."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        if value is None:
            continue
        *sections, last = key.split(".")
        node = out
        for s in sections:
            node = node.setdefault(s, {})
        node[last] = value
    return out


def lean_row(path: Path, flags: Mapping[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """The row's raw table: the toml with its `base =` chain (named after its file unless it says otherwise),
    then the passed flags' keys (`flags`, nested tables), then the `--set` items."""
    data = read_toml_with_bases(path)
    data.setdefault("name", path.stem)
    return apply_overrides(merge_tables(data, dict(flags)), list(sets))


def _source(path: Path, flag_names: Sequence[str]) -> str:
    return f"{path} with {', '.join(flag_names)}" if flag_names else str(path)


def run_config(row: Mapping[str, Any], source: str, sets: Sequence[str], **top: Any) -> ExperimentConfig:
    """One run of the row, with top-level keys (`method`, `name`, `condition`) set in the table before it is
    validated: each method's config is built from the table, never switched on a built config."""
    data = {**copy.deepcopy(dict(row)), **top}
    # what this run's method does not read (the trained run's [opsd] in its baseline) is left out
    return config_from_dict(for_method(data, data.get("method", DEFAULT_METHOD)), source, list(sets))


def skeleton_opsd_configs(
    row: Mapping[str, Any], source: str = "<config>", sets: Sequence[str] = ()
) -> list[ExperimentConfig]:
    """The baseline and the trained run of the row, named <name>/baseline and <name>/<condition>."""
    name, condition, method = row["name"], row.get("condition"), row.get("method")
    if method not in {m.value for m in TrainMethod}:
        raise ConfigError(
            f"{source}: method = {method!r}: skeleton-opsd trains with opsd or retry (pass "
            f"--method opsd, or --config a Lean OPSD row)"
        )
    return [
        run_config(row, source, sets, name=f"{name}/baseline", method="baseline"),
        run_config(row, source, sets, name=f"{name}/{condition}"),
    ]


def check_lean_toolchain(cfg: ExperimentConfig) -> None:
    """A row whose REPL is the Lean toolchain's (LeanConfig's default command) needs `formalpi lean doctor`'s
    checks to pass; one with its own `verify.repl_command` (another REPL, the test double) does not."""
    from formalpi.domain import parse_settings
    from formalpi.lean.pool import DEFAULT_REPL_COMMAND
    from formalpi.lean.setup import doctor_checks

    settings = parse_settings("lean", cfg.verify)
    if list(settings.repl_command) != list(DEFAULT_REPL_COMMAND):
        return
    failed = [c for c in doctor_checks(Path(settings.project_dir)) if not c.ok]
    if failed:
        lines = "\n".join(f"  {c.name}: {c.detail} -> fix: {c.fix}" for c in failed)
        raise LeanUnavailable(
            f"no usable Lean toolchain ({len(failed)} `formalpi lean doctor` check(s) "
            f"failed):\n{lines}\nFix them in order, or pass --repl-command to use another "
            f"REPL (e.g. the test double: --repl-command 'python -m formalpi.lean.double')"
        )


def run_lean_configs(
    configs: Sequence[ExperimentConfig],
    seeds: Sequence[int],
    extras: dict[str, Any],
    progress_factory: Callable[..., Any],
) -> dict[tuple[str, int], dict]:
    """Every (config, seed) with one LeanDomain (one pool), built from the runs' `[verify]` table as `formalpi
    run` builds it; returns each run's summary."""
    from formalpi.domain import open_domain
    from formalpi.engine.experiment import run_experiment
    from formalpi.engine.stages import start_model
    from formalpi.tiny import resolve_model_path

    settings = {c.name: c.verify for c in configs}
    if any(v != configs[0].verify for v in settings.values()):  # one pool verifies every run
        raise ConfigError(f"the runs' [verify] tables differ ({settings}); run them as one row")
    out = {}
    domain = open_domain("lean", configs[0].verify)
    try:
        for cfg in configs:
            for seed in seeds:
                res = run_experiment(
                    cfg,
                    seed,
                    progress_factory,
                    domain=domain,
                    extras=extras,
                    model_path=resolve_model_path(start_model(cfg, seed)),
                )
                out[(cfg.name, seed)] = res.summary
                console.print(
                    f"[bold]{cfg.name}[/] seed {seed}: "
                    + ", ".join(f"{k} {v:.1f}" for k, v in res.summary.get("all", {}).items() if k.startswith("pass@"))
                )
    finally:
        domain.close()
    return out


_TOML = "(default: the toml's)"
_REPL = typer.Option(
    None,
    "--repl-command",
    help="verify.repl_command: REPL argv as one shell-quoted string, run "
    "in the project dir (default: the toml's; LeanConfig's is the "
    "Lean toolchain's REPL, checked by `lean doctor`)",
)
_PROJECT = typer.Option(None, "--project-dir", help=f"verify.project_dir: the Lake workspace {_TOML}")
_REPLAY = typer.Option(
    None,
    "--replay",
    help="replay of VALID verdicts (verify.replay*): safeverify, standin "
    "(scripted, no Lean) or off (the run records it and every report "
    f"table says so) {_TOML}",
)
_WORKERS = typer.Option(None, "--workers", min=1, help=f"verify.workers: REPL processes {_TOML}")
_TIMEOUT = typer.Option(None, "--timeout", min=0.001, help=f"verify.timeout_s: seconds per proof {_TOML}")
_SET = typer.Option(
    None,
    "--set",
    help="override a config key: key=value (e.g. data.path=..., eval.n=8); applied after every other flag",
)

minif2f_app = typer.Typer(no_args_is_help=True, help="MiniF2F evaluation of a prover.")


@minif2f_app.command("eval")
def minif2f_eval(
    config: Optional[Path] = typer.Option(
        None, "--config", help=f"the experiment toml whose settings the eval uses (default: {MINIF2F_EVAL_CONFIG})"
    ),
    model: Optional[str] = typer.Option(
        None, "--model", help=f"model.path: checkpoint path or hub id ('tiny' = built-in) {_TOML}"
    ),
    samples: Optional[int] = typer.Option(
        None, "--samples", min=1, help="eval.n: proofs sampled per problem; pass@N joins the toml's eval.ks " + _TOML
    ),
    split: Optional[str] = typer.Option(None, "--split", help=f"data.eval_split: test or valid {_TOML}"),
    seeds: Optional[str] = typer.Option(None, help=f"comma-separated seeds {_TOML}"),
    name: Optional[str] = typer.Option(
        None, "--name", help="runs/<name>/<seed> (default: minif2f_eval/<the model path's last part>)"
    ),
    runs_dir: Optional[str] = typer.Option(None, "--runs-dir", help=f"where runs go {_TOML}"),
    repl_command: Optional[str] = _REPL,
    project_dir: Optional[Path] = _PROJECT,
    workers: Optional[int] = _WORKERS,
    timeout: Optional[float] = _TIMEOUT,
    replay: Optional[ReplayMode] = _REPLAY,
    set_: Optional[List[str]] = _SET,
) -> None:
    """Sample eval.n proofs per MiniF2F problem, verify them strictly; print pass@1 and pass@k."""
    path = config_path(config, MINIF2F_EVAL_CONFIG)
    passed = {
        "--model": model,
        "--samples": samples,
        "--split": split,
        "--name": name,
        "--runs-dir": runs_dir,
        "--repl-command": repl_command,
        "--project-dir": project_dir,
        "--workers": workers,
        "--timeout": timeout,
        "--replay": replay,
    }
    source = _source(path, [f for f, v in passed.items() if v is not None])
    flags = flag_tables(**{"model.path": model, "eval.n": samples, "data.eval_split": split, "runs_dir": runs_dir})
    flags["verify"] = verify_flags(
        workers=workers, timeout=timeout, replay=replay, repl_command=repl_command, project_dir=project_dir
    )
    row = lean_row(path, flags, set_ or [])
    if samples is not None and "eval.ks" not in {s.split("=", 1)[0].strip() for s in set_ or []}:
        row["eval"] = {**row.get("eval", {}), "ks": sorted({*row.get("eval", {}).get("ks", [1]), samples})}
    run_name = name or "minif2f_eval/" + (Path(str(row.get("model", {}).get("path", "model"))).name or "model")
    cfg = run_config(row, source, set_ or [], name=run_name, method="baseline")
    check_lean_toolchain(cfg)
    seed_list = parse_seeds(seeds) if seeds else cfg.seeds
    preflight(cfg, seed_list, model_key="--model", runs_dir_flag="--runs-dir")
    with progress() as p:
        summaries = run_lean_configs([cfg], seed_list, {}, stage_progress(p))
    for (_, seed), summary in summaries.items():
        row_ = summary["all"]
        console.print(
            f"MiniF2F {cfg.data.eval_split}, seed {seed}, {int(row_['problems'])} problems, {cfg.eval.n} "
            "samples: " + ", ".join(f"{k} = {v:.1f}%" for k, v in row_.items() if k.startswith("pass@"))
        )


def register(root: typer.Typer) -> None:
    root.add_typer(minif2f_app, name="minif2f")

    @root.command("skeleton-opsd")
    def skeleton_opsd(
        config: Optional[Path] = typer.Option(
            None, "--config", help=f"the row: an experiment toml (default: {SKELETON_OPSD_CONFIG})"
        ),
        seeds: Optional[str] = typer.Option(None, help=f"comma-separated seeds {_TOML}"),
        model: Optional[str] = typer.Option(
            None, "--model", help=f"model.path: prover checkpoint or hub id ('tiny' = built-in) {_TOML}"
        ),
        train_split: Optional[str] = typer.Option(None, "--train-split", help=f"data.train_split {_TOML}"),
        eval_split: Optional[str] = typer.Option(None, "--eval-split", help=f"data.eval_split {_TOML}"),
        condition: Optional[SkeletonCondition] = typer.Option(
            None, "--condition", help=f"condition: the PI shown {_TOML}"
        ),
        method: Optional[TrainMethod] = typer.Option(
            None, "--method", help=f"method: opsd (the headline) or retry-STaR {_TOML}"
        ),
        proof_corpus: Optional[Path] = typer.Option(
            None,
            "--proof-corpus",
            help="data.proof_corpus: JSONL of {name, proof}, verified "
            "reference proofs (default: the toml's; none: the base "
            "model's verified first attempts)",
        ),
        samples: Optional[int] = typer.Option(
            None, "--samples", min=1, help=f"sampling.n: first attempts per train problem {_TOML}"
        ),
        eval_samples: Optional[int] = typer.Option(None, "--eval-samples", min=1, help=f"eval.n {_TOML}"),
        name: Optional[str] = typer.Option(
            None, "--name", help="runs/<name>/<condition>/<seed> (default: the toml's name)"
        ),
        runs_dir: Optional[str] = typer.Option(None, "--runs-dir", help=f"runs_dir {_TOML}"),
        repl_command: Optional[str] = _REPL,
        project_dir: Optional[Path] = _PROJECT,
        workers: Optional[int] = _WORKERS,
        timeout: Optional[float] = _TIMEOUT,
        report: bool = typer.Option(True, "--report/--no-report", help="write report.md and plots"),
        replay: Optional[ReplayMode] = _REPLAY,
        set_: Optional[List[str]] = _SET,
    ) -> None:
        """MiniF2F: baseline eval, skeleton PI from verified proofs, OPSD with it, eval; the seed-style table."""
        from formalpi.analysis.report import render_condition_table, write_report
        from formalpi.domains.lean.conditions import load_proof_corpus

        path = config_path(config, SKELETON_OPSD_CONFIG)
        passed = {
            "--model": model,
            "--train-split": train_split,
            "--eval-split": eval_split,
            "--condition": condition,
            "--method": method,
            "--proof-corpus": proof_corpus,
            "--samples": samples,
            "--eval-samples": eval_samples,
            "--name": name,
            "--runs-dir": runs_dir,
            "--repl-command": repl_command,
            "--project-dir": project_dir,
            "--workers": workers,
            "--timeout": timeout,
            "--replay": replay,
        }
        source = _source(path, [f for f, v in passed.items() if v is not None])
        flags = flag_tables(
            **{
                "name": name,
                "runs_dir": runs_dir,
                "method": method.value if method else None,
                "condition": condition.value if condition else None,
                "model.path": model,
                "data.train_split": train_split,
                "data.eval_split": eval_split,
                "data.proof_corpus": str(proof_corpus) if proof_corpus else None,
                "sampling.n": samples,
                "eval.n": eval_samples,
            }
        )
        flags["verify"] = verify_flags(
            workers=workers, timeout=timeout, replay=replay, repl_command=repl_command, project_dir=project_dir
        )
        row = lean_row(path, flags, set_ or [])
        configs = skeleton_opsd_configs(row, source, set_ or [])
        baseline, trained = configs
        check_lean_toolchain(trained)  # fails fast without Lean
        seed_list = parse_seeds(seeds) if seeds else trained.seeds
        for cfg in configs:
            preflight(cfg, seed_list, model_key="--model", runs_dir_flag="--runs-dir")
        corpus = trained.data.proof_corpus
        extras = {"reference_proofs": load_proof_corpus(corpus)} if corpus else {}  # read once, before any run
        console.print(
            f"skeleton-opsd: {path}, condition {trained.condition}, method {trained.method}, "
            + (
                f"{len(extras['reference_proofs'])} problems with corpus proofs"
                if corpus
                else "reference proofs: the base model's verified first attempts"
            ),
            highlight=False,
        )
        with progress() as p:
            run_lean_configs(configs, seed_list, extras, stage_progress(p))
        out = Path(trained.runs_dir) / str(row["name"])
        console.print(render_condition_table([out]), markup=False)
        if report:
            console.print(f"report: {write_report([out], out)}")
