"""`formalpi demo`: the headline experiment in miniature, on the tiny model and `arith`.

Baseline + gold / gibberish / wrong / try_again / rejection × seeds, every run resumable from the run store;
then the seed-format table and `runs/demo/report.md` with its plots.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from formalpi.config import ExperimentConfig, apply_overrides, config_from_dict
from formalpi.engine.run import ProgressFactory, run_experiment

DEMO_CONDITIONS = ("gold", "gibberish", "wrong", "try_again", "rejection")


def demo_config(overrides: Sequence[str] = ()) -> ExperimentConfig:
    text = resources.files("formalpi.configs").joinpath("demo.toml").read_text()
    return config_from_dict(apply_overrides(tomllib.loads(text), list(overrides)), "formalpi/configs/demo.toml")


def demo_runs(base: ExperimentConfig, conditions: Sequence[str] = DEMO_CONDITIONS) -> list[ExperimentConfig]:
    """The baseline and one config per condition, named demo/<condition> (runs/demo/<condition>/<seed>/)."""
    out = [base.model_copy(update={"name": f"{base.name}/baseline", "method": "baseline"})]
    out += [base.model_copy(update={"name": f"{base.name}/{c}", "condition": c}) for c in conditions]
    return out


def run_demo(seeds: Sequence[int], base: ExperimentConfig, progress: ProgressFactory,
             conditions: Sequence[str] = DEMO_CONDITIONS, on_run=None) -> Path:
    """Run every (condition, seed); returns the demo's run directory (runs/demo)."""
    for cfg in demo_runs(base, conditions):
        for seed in seeds:
            run_experiment(cfg, seed, progress)
            if on_run:
                on_run(cfg, seed)
    return Path(base.runs_dir) / base.name
