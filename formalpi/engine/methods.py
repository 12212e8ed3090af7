"""The training methods other than retry-STaR, behind one entry point called by `formalpi.engine.run`.

opsd: on-policy self-distillation (formalpi/engine/opsd.py).
grpo: IPRS, GRPO with PI reward shaping (formalpi/engine/grpo.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from formalpi.config import ExperimentConfig
from formalpi.domain import Domain
from formalpi.errors import ConfigError
from formalpi.runs import RunStore


def train(cfg: ExperimentConfig, seed: int, store: RunStore, domain: Domain, model_path: str,
          progress: Callable[[str, int], Callable[[int], None]], extras: Mapping[str, Any]) -> str:
    """Train with `cfg.method` from `model_path`; the trained checkpoint's directory (resumable per stage)."""
    if cfg.method == "opsd":
        from formalpi.engine.opsd import train_opsd

        return train_opsd(cfg, seed, store, domain, model_path, progress, extras)
    if cfg.method == "grpo":
        from formalpi.engine.grpo import train_iprs

        return train_iprs(cfg, seed, store, domain, model_path, progress, extras)
    raise ConfigError(f"method: {cfg.method!r} is not trained by formalpi.engine.methods (opsd, grpo)")
