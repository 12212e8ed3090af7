"""Checks that run before any work: a bad seed, condition, model path, missing extra or unwritable output is a
one-line error naming the key (or flag) and the fix, before a run directory exists or a model is loaded.

`preflight(cfg, seeds)` is called by `run_experiment` (so the Python API gets it too) and by the CLI once per
command; every check is cheap except the hub probe, which runs only for a hub id that is not in the local cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from formalpi.config import ExperimentBase, RetryExperiment
from formalpi.errors import ConfigError, require_module

SEED_MAX = 2**32 - 1  # numpy's and TRL's seeds are unsigned 32-bit
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# transformers' logging integrations -> the module each needs (None: the name is the module)
_REPORT_MODULES = {
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "mlflow": "mlflow",
    "trackio": "trackio",
    "comet_ml": "comet_ml",
    "clearml": "clearml",
    "neptune": "neptune",
    "dvclive": "dvclive",
    "swanlab": "swanlab",
    "azure_ml": "azureml",
    "codecarbon": "codecarbon",
    "dagshub": "dagshub",
    "flyte": "flytekit",
}


def check_seed(seed: int, where: str = "seeds") -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"{where}: seed {seed!r} is not an integer in 0..{SEED_MAX} (e.g. 42,123,456)")


def check_condition(cfg: ExperimentBase) -> None:
    if not cfg.trains:  # the baseline shows no PI: its condition only labels the run
        return
    from formalpi.engine.conditions import get_condition

    get_condition(cfg.condition, cfg.domain)  # ConfigError naming the known conditions


def check_model_path(path: str, key: str = "model.path") -> None:
    """A local checkpoint directory, `tiny`, or a hub id that is cached or reachable. Never waits on hub retries."""
    if path == "tiny":
        return
    local = Path(path).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise ConfigError(
                f"{key}={path}: {local} has no config.json (not a Hugging Face checkpoint directory); "
                f"set {key}=<a directory with config.json and weights>"
            )
        return
    if not _HUB_ID.match(path) or path.startswith((".", "/", "~")):
        raise ConfigError(
            f"{key}={path}: no such directory, and not a hub id like Qwen/Qwen3-1.7B; "
            f"set {key}=<a local checkpoint directory or a hub id>"
        )
    fix = f"set {key}=<local checkpoint dir> (or `huggingface-cli download {path}` while online)"
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(path, "config.json"), str):
        return  # cached: transformers loads it without the network
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise ConfigError(
            f"{key}={path}: not a local directory and not in the hub cache, and HF_HUB_OFFLINE is set; {fix}"
        )
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().model_info(path, timeout=10)
    except GatedRepoError:
        raise ConfigError(
            f"{key}={path}: a gated model; accept its licence on the hub and `huggingface-cli login`, or {fix}"
        ) from None
    except RepositoryNotFoundError:
        raise ConfigError(f"{key}={path}: no such model on the hub (or it is private); {fix}") from None
    except Exception as e:  # network down, DNS, proxy: say so at once instead of transformers' retries
        raise ConfigError(
            f"{key}={path}: not a local directory, not in the hub cache, and the hub is unreachable "
            f"({type(e).__name__}); {fix}"
        ) from None


def check_extras(cfg: ExperimentBase) -> None:
    if cfg.model.backend == "vllm":
        require_module("vllm", "model.backend = 'vllm'")
    if isinstance(cfg, RetryExperiment):  # SFT: the trainer's integrations and the SFTConfig passthrough
        for name in cfg.train.report_to:
            if name not in _REPORT_MODULES:
                raise ConfigError(
                    f"train.report_to: unknown integration {name!r}; choose from {', '.join(_REPORT_MODULES)}"
                )
            module = _REPORT_MODULES[name]
            if module == "tensorboard":
                require_module("tensorboard", "train.report_to = ['tensorboard']")
            else:
                import importlib.util

                if importlib.util.find_spec(module) is None:
                    raise ConfigError(f"train.report_to = [{name!r}] needs `{module}`: pip install {module}")
        if cfg.train.sft_args:
            from formalpi.engine.train import check_sft_passthrough

            check_sft_passthrough(cfg.train)


def check_engines_per_process(cfg: ExperimentBase, seeds: Sequence[int]) -> None:
    """IPRS with vLLM builds TRL's own sleep-mode engine, and vLLM allows one per process: several seeds in one
    command would stop at the second (formalpi.engine.colocate.claim_engine_for_trl), so they are refused here."""
    if cfg.method == "iprs" and cfg.model.backend == "vllm" and len(seeds) > 1:
        raise ConfigError(
            f"method = 'iprs' with model.backend = 'vllm' runs one seed per command (TRL's colocated vLLM engine "
            f"cannot be shared, and vLLM's sleep mode allows one per process); run --seeds {seeds[0]}, then "
            f"--seeds {seeds[1]}, ... (or model.backend = 'hf')"
        )


def check_writable(directory: str | Path, flag: str) -> None:
    """The nearest existing ancestor of `directory` must be writable (the run store creates the rest)."""
    d = Path(directory).expanduser().resolve()
    while not d.exists():
        d = d.parent
    if not os.access(d, os.W_OK | os.X_OK):
        raise ConfigError(f"{directory}: cannot write here ({d} is read-only); {flag} to a writable directory")


def preflight(
    cfg: ExperimentBase,
    seeds: Sequence[int],
    *,
    model_key: str = "model.path",
    runs_dir_flag: str = "--set runs_dir=...",
) -> None:
    """Every check above, in the order a user would fix them. Raises ConfigError (printed as one line by the CLI)."""
    for s in seeds:
        check_seed(s)
    check_engines_per_process(cfg, seeds)
    check_condition(cfg)
    check_extras(cfg)
    from formalpi.engine.stages import SEED_FIELD, start_model

    if SEED_FIELD in cfg.model.path:  # another row's checkpoint of each seed (e.g. the SD-Zero + OPSD hybrid)
        for s in seeds:
            check_model_path(start_model(cfg, s), model_key)
    else:
        check_model_path(cfg.model.path, model_key)
    for s in seeds:  # a run directory that exists may be read-only when finished (re-reading writes nothing)
        run_dir = Path(cfg.runs_dir) / cfg.name / str(s)
        if not run_dir.exists():
            check_writable(run_dir, runs_dir_flag)
