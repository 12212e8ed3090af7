"""The training methods, one registry entry each (`METHODS`, keyed by the toml's `method`), like the domain registry
(formalpi.domain.DOMAINS): what a method trains with, which extras the engine makes for it, and where its trainer
lives ("module:function", imported only when the method runs, so the engine loads no trainer it does not use).

baseline: no post-training; the base model is evaluated.
retry: retry-STaR, rounds of sample -> verify -> retry with PI -> SFT (the engine's own loop, formalpi/engine/experiment.py).
opsd: on-policy self-distillation (formalpi/engine/opsd.py).
grpo: IPRS, GRPO with PI reward shaping (formalpi/engine/grpo.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from formalpi.config import ExperimentConfig
from formalpi.domain import Domain
from formalpi.errors import ConfigError
from formalpi.runs import RunStore


@dataclass(frozen=True)
class TrainContext:
    """What one seed's training stage works with (built once by formalpi.engine.experiment.run_experiment)."""

    cfg: ExperimentConfig
    seed: int
    store: RunStore
    domain: Domain
    model_path: str  # the resolved starting model
    progress: Callable[[str, int], Callable[[int], None]]
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    trains: bool  # False: the base model is evaluated as it is (no train split is read)
    sft_rounds: bool = False  # True: the engine's retry-STaR rounds (formalpi/engine/experiment.py) train it
    # "module:function" taking a TrainContext and returning the trained checkpoint's directory; it runs after the
    # engine's reference pass (the verified first attempts some PI conditions read)
    trainer: str | None = None
    # extras the engine makes during a run when the caller gave none (formalpi.engine.experiment.condition_extras): the
    # verified proofs of the base model's first attempts on the training split (retry: each round's; OPSD/IPRS:
    # the reference pass), and for retry the row's own model as the diagnosis writer
    engine_made: frozenset[str] = frozenset()

    def train(self, ctx: TrainContext) -> str:
        if self.trainer is None:
            raise ConfigError(f"method: {self.name!r} has no trainer of its own ({self.summary})")
        module, _, function = self.trainer.partition(":")
        return getattr(importlib.import_module(module), function)(ctx.cfg, ctx.seed, ctx.store, ctx.domain,
                                                                  ctx.model_path, ctx.progress, ctx.extras)


METHODS = {m.name: m for m in (
    Method("baseline", "the base model, no post-training", trains=False),
    Method("retry", "retry-STaR: SFT on verified retries, in rounds", trains=True, sft_rounds=True,
           engine_made=frozenset({"reference_proofs", "diagnosis_writer"})),
    Method("opsd", "on-policy self-distillation", trains=True, trainer="formalpi.engine.opsd:train_opsd",
           engine_made=frozenset({"reference_proofs"})),
    Method("grpo", "IPRS: GRPO with PI reward shaping", trains=True, trainer="formalpi.engine.grpo:train_iprs",
           engine_made=frozenset({"reference_proofs"})),
)}


def get_method(name: str) -> Method:
    method = METHODS.get(name)
    if method is None:
        raise ConfigError(f"method: {name!r} is not a method (known: {', '.join(METHODS)})")
    return method
