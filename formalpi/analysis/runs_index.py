"""Find the seed directories of a run store and describe each by what the analyses group on.

A run is any directory holding `manifest.json` (runs may be nested: runs/demo/<condition>/<seed>/). Its label is
`config.condition`, except for `method == "baseline"` runs, which are labelled "baseline".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formalpi.config import RetryExperiment, recorded_config
from formalpi.errors import ConfigError, RunStoreError
from formalpi.records import EvalRecord
from formalpi.runs import RunStore
from formalpi.truncation import truncation_warning

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
    retries: int  # config.retry.k (0: a method without retries)
    fingerprint: str = ""  # the config fingerprint the run store recorded
    warnings: tuple[str, ...] = ()  # what a reader of any table made from this run must see (run_warnings)
    redraw_per_seed: bool = False  # data.redraw_per_seed: a seed also redraws the problems
    rounds: int = 1  # retry rounds (iterative rows have > 1)
    seed_varies: tuple[str, ...] = ()  # the engine's record of what a seed varies (manifest `data.seed_varies`)
    condition_description: str | None = None  # what the model is shown (manifest `condition.description`)

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

    def round_eval_records(self) -> dict[int, list[EvalRecord]]:
        """Per-round evaluations of an iterative run, round index 0-based: `eval_r<k>.jsonl` for the rounds before
        the last, and the final `eval.jsonl` as the last round (the engine's layout). {} for a one-round run or
        one that wrote no per-round evals."""
        store = RunStore(self.path)
        out = {}
        for f in self.path.glob("eval_r*.jsonl"):
            m = re.fullmatch(r"eval_r(\d+)", f.stem)
            if m:
                out[int(m.group(1))] = store.read(f.stem, EvalRecord)
        if not out:
            return {}
        last = self.rounds - 1
        if self.rounds > 1 and last not in out and store.path("eval").exists():
            out[last] = store.read("eval", EvalRecord)
        return dict(sorted(out.items()))


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
        cfg = recorded_config(manifest["config"], f"{manifest_path}: config")
    except ConfigError as e:
        raise RunStoreError(str(e)) from None
    try:
        seed = int(manifest["seed"])
    except (TypeError, ValueError):
        raise RunStoreError(f"{manifest_path}: 'seed' must be an integer (got {manifest['seed']!r})") from None
    label = cfg.label
    retry = cfg.retry if isinstance(cfg, RetryExperiment) else None
    data = manifest["config"].get("data") or {}
    record = _object(manifest.get("data"))
    shown = _object(manifest.get("condition"))
    return RunInfo(
        path=Path(path),
        experiment=str(manifest.get("experiment", cfg.name)),
        seed=seed,
        domain=cfg.domain,
        method=cfg.method,
        condition=label,
        model=cfg.model.path,
        dataset=cfg.data.dataset,
        retries=retry.k if retry else 0,
        fingerprint=str(manifest.get("fingerprint", "")),
        warnings=tuple(run_warnings(manifest)),
        redraw_per_seed=bool(data.get("redraw_per_seed", False)),
        seed_varies=_as_tokens(record.get("seed_varies")),
        rounds=retry.rounds if retry else 1,
        condition_description=shown.get("description") or None,
    )


def _object(value: object) -> dict[str, Any]:
    """A manifest field that should be a JSON object; {} when it is missing or is not one."""
    return value if isinstance(value, dict) else {}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "weak")
    return bool(value)


def _overlap_count(value: Any) -> int | None:
    """How many eval problems a recorded overlap names, when it says (an int, a list of ids, or a dict with one)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)):
        return len(value)
    if isinstance(value, dict):
        for key in ("count", "problems", "n", "overlap"):
            if key in value:
                return _overlap_count(value[key])
    return None


def run_warnings(manifest: dict[str, Any]) -> list[str]:
    """Warnings every table made from this run must carry, read defensively from the manifest:
    - trained on eval problems: the overlap the engine records (`data.train_eval_overlap` of the manifest, a count
      of problems in both splits; also read under the top level or the config's data), or, for manifests without
      that record, `config.data.allow_train_on_eval`
      set or a training method whose train and eval split of the same dataset are the same split;
    - code ran in a weak sandbox: the manifest's `sandbox` record (the code domain's isolation(): layer -> bool,
      `weak` true when a layer is missing; also read: `sandbox.strength == "weak"`, `sandbox_weak`);
    - Lean proofs not replayed: the manifest's `lean_verifier.replay` is false (LeanConfig.replay)."""
    cfg = manifest.get("config") or {}
    data = cfg.get("data") or {}
    out = []
    trains = cfg.get("method") != BASELINE
    same_split = trains and data.get("train_split") is not None and data.get("train_split") == data.get("eval_split")
    record = _object(manifest.get("data"))  # the engine's data record
    recorded = next(
        (src[k] for src in (record, manifest, data) for k in ("train_eval_overlap", "train_on_eval") if k in src), None
    )
    if recorded is not None:
        overlap = trains and (_truthy(recorded) or same_split)
    else:
        overlap = trains and (_truthy(data.get("allow_train_on_eval")) or same_split)
    if overlap:
        n = _overlap_count(recorded)
        what = f"{n} eval problems" if n else (f"split {data.get('eval_split')!r}" if same_split else "eval problems")
        out.append(
            f"TRAINED ON EVAL: this run trained on {what} of {data.get('dataset')!r} (train_split="
            f"{data.get('train_split')!r}, eval_split={data.get('eval_split')!r}); its gains are not "
            f"held-out gains"
        )
    sandbox = manifest.get("sandbox")
    weak = _truthy(manifest.get("sandbox_weak"))
    got = ""
    if isinstance(sandbox, dict):
        weak = weak or _truthy(sandbox.get("weak")) or str(sandbox.get("strength", "")).lower() == "weak"
        layers = sandbox.get("layers", sandbox)
        if isinstance(layers, (list, tuple)):
            got = f" (layers: {', '.join(map(str, layers))})"
        elif isinstance(layers, dict):  # the code domain's isolation(): layer -> had it
            missing = [k for k, v in layers.items() if k != "weak" and v is False]
            got = f" (missing layers: {', '.join(missing)})" if missing else ""
    if weak:
        out.append(
            f"WEAK SANDBOX: generated code ran without the full sandbox{got}; a verdict may have been "
            f"gamed by the program under test"
        )
    lean = manifest.get("lean_verifier")
    if isinstance(lean, dict) and lean.get("replay") is False:
        out.append(
            "LEAN REPLAY OFF (LeanConfig.replay = false): VALID verdicts were not replayed through the kernel "
            "in a fresh process; they rest on the pre-check and on checks run in the proof's own environment"
        )
    truncated = truncation_warning(manifest)
    if truncated:
        out.append(truncated)
    return out


def _as_tokens(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return ()


# the engine's seed_varies tokens (formalpi/engine/stages.py) in words
SEED_VARIES_WORDS = {
    "eval_sampling": "eval sampling",
    "sampling": "sampling (first attempts, retries, eval samples)",
    "sft_data_order": "SFT data order",
    "problem_order": "training problem order",
    "lora_init": "LoRA initialisation",
    "train_problems": "the training problems (data.redraw_per_seed)",
}


def seed_varies(runs: Sequence[RunInfo]) -> str:
    """One sentence: what differs between the seeds of these runs, from the engine's record when the manifests have
    it, else from the configs."""
    tokens = list(dict.fromkeys(t for r in runs for t in r.seed_varies))
    if "sampling" in tokens and "eval_sampling" in tokens:  # the baseline's only randomness is part of "sampling"
        tokens.remove("eval_sampling")
    redraw = "train_problems" in tokens or any(r.redraw_per_seed for r in runs)
    if tokens:
        what = ", ".join(SEED_VARIES_WORDS.get(t, t) for t in tokens)
    else:
        what = "sampling (first attempts, retries, eval samples), SFT data order and LoRA initialisation"
        if redraw:
            what += ", and the training problems (data.redraw_per_seed)"
    fixed = (
        "the eval problems are the same for every seed"
        if redraw
        else "the train and eval problems are the same for every seed"
    )
    return f"A seed varies {what}; {fixed}."


BUDGET_COLUMNS = (
    ("samples", "Samples"),
    ("completion_tokens", "Gen. tokens"),
    ("train_tokens", "Train tokens"),
    ("verifier_calls", "Verifier calls"),
    ("wall_s", "Wall s"),
)


def run_budget(run_dir: Path) -> dict[str, float]:
    """One run's budget: each counter summed over the stages of its manifest (attempts, retries, verify, train,
    opsd, eval...)."""
    stages = RunStore(run_dir).manifest().get("stages", {})
    return {
        key: float(sum(st.get(key, 0) or 0 for st in stages.values() if isinstance(st, dict)))
        for key, _ in BUDGET_COLUMNS
    }


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
