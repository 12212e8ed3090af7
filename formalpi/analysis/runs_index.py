"""Find the seed directories of a run store and describe each by what the analyses group on.

A run is any directory holding `manifest.json` (runs may be nested: runs/demo/<condition>/<seed>/). Its label is
`config.condition`, except for `method == "baseline"` runs, which are labelled "baseline".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from formalpi.config import config_from_dict
from formalpi.errors import ConfigError, RunStoreError
from formalpi.records import EvalRecord
from formalpi.runs import RunStore

BASELINE = "baseline"


@dataclass(frozen=True)
class RunInfo:
    """One seed directory, reduced to the fields every table groups on."""

    path: Path
    experiment: str
    seed: int
    domain: str
    method: str
    condition: str  # the label: config.condition, or "baseline" for method == "baseline"
    model: str
    dataset: str
    retries: int  # config.retry.k

    @property
    def is_baseline(self) -> bool:
        return self.method == BASELINE

    @property
    def group(self) -> tuple[str, str, str]:
        """Runs whose gains are comparable: same domain, model and eval data."""
        return (self.domain, self.model, self.dataset)

    def eval_records(self) -> list[EvalRecord]:
        return RunStore(self.path).read("eval", EvalRecord)

    def base_eval_records(self) -> list[EvalRecord]:
        return RunStore(self.path).read("base_eval", EvalRecord)


def read_run(path: Path) -> RunInfo:
    """Describe the run at `path` (a directory holding manifest.json). Bad manifests raise RunStoreError."""
    manifest_path = Path(path) / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise RunStoreError(f"{manifest_path}: no manifest; pass a directory made by `formalpi run`") from None
    except json.JSONDecodeError as e:
        raise RunStoreError(f"{manifest_path}: not valid JSON ({e}); delete the run directory and rerun it") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise RunStoreError(f"{manifest_path}: missing the 'config' object (the experiment config dump)")
    if "seed" not in manifest:
        raise RunStoreError(f"{manifest_path}: missing 'seed'")
    try:
        cfg = config_from_dict(manifest["config"], f"{manifest_path}: config")
    except ConfigError as e:
        raise RunStoreError(str(e)) from None
    try:
        seed = int(manifest["seed"])
    except (TypeError, ValueError):
        raise RunStoreError(f"{manifest_path}: 'seed' must be an integer (got {manifest['seed']!r})") from None
    label = BASELINE if cfg.method == BASELINE else cfg.condition
    return RunInfo(path=Path(path), experiment=str(manifest.get("experiment", cfg.name)), seed=seed,
                   domain=cfg.domain, method=cfg.method, condition=label, model=cfg.model.path,
                   dataset=cfg.data.dataset, retries=cfg.retry.k)


def discover_runs(dirs: Iterable[str | Path]) -> list[RunInfo]:
    """Every run under the given directories (each may itself be a run), sorted by path."""
    found: dict[Path, RunInfo] = {}
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise RunStoreError(f"{d}: not a directory; pass run directories such as runs/demo")
        for manifest in sorted(d.rglob("manifest.json")):
            root = manifest.parent.resolve()
            if root not in found:
                found[root] = read_run(manifest.parent)
    if not found:
        raise RunStoreError(f"no runs (no */manifest.json) under {', '.join(str(d) for d in dirs)}")
    return sorted(found.values(), key=lambda r: str(r.path))


def runs_with_eval(runs: Sequence[RunInfo]) -> list[RunInfo]:
    """The runs that have an eval.jsonl (a run killed before evaluating has none)."""
    return [r for r in runs if (r.path / "eval.jsonl").exists()]
