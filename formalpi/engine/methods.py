"""The training methods, one registry entry each (`METHODS`, keyed by the toml's `method`), like the domain registry
(formalpi.domain.DOMAINS): the method's config class (formalpi.config: what its toml may hold), which extras the
engine makes for it, and where its trainer lives ("module:function", imported only when the method runs, so the
engine loads no trainer it does not use).

baseline: no post-training; the base model is evaluated.
retry: retry-STaR, rounds of sample -> verify -> retry with PI -> SFT (the engine's own loop, formalpi/engine/experiment.py).
opsd: on-policy self-distillation (formalpi/engine/opsd.py).
iprs: PI reward shaping, GRPO on the verifier's reward plus a PI shaping term (formalpi/engine/iprs.py).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from formalpi.config import (
    EXPERIMENTS,
    BaselineExperiment,
    ExperimentBase,
    IPRSExperiment,
    OPSDExperiment,
    RetryExperiment,
)
from formalpi.engine.context import TrainContext
from formalpi.errors import ConfigError


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    config: type[ExperimentBase]  # the method's config class (its sections)
    sft_rounds: bool = False  # True: the engine's retry-STaR rounds (formalpi/engine/experiment.py) train it
    # "module:function" taking a TrainContext and returning the trained checkpoint's directory; it runs after the
    # engine's reference pass (the verified first attempts some PI conditions read)
    trainer: str | None = None
    # extras the engine makes during a run when the caller gave none (formalpi.engine.experiment.condition_extras): the
    # verified proofs of the base model's first attempts on the training split (retry: each round's; OPSD/IPRS:
    # the reference pass), and for retry the row's own model as the diagnosis writer
    engine_made: frozenset[str] = frozenset()

    @property
    def trains(self) -> bool:
        """False: the base model is evaluated as it is (no train split is read)."""
        return self.config.trains

    def train(self, ctx: TrainContext[ExperimentBase]) -> str:
        if self.trainer is None:
            raise ConfigError(f"method: {self.name!r} has no trainer of its own ({self.summary})")
        module, _, function = self.trainer.partition(":")
        return str(getattr(importlib.import_module(module), function)(ctx))


METHODS = {
    m.name: m
    for m in (
        Method("baseline", "the base model, no post-training", BaselineExperiment),
        Method(
            "retry",
            "retry-STaR: SFT on verified retries, in rounds",
            RetryExperiment,
            sft_rounds=True,
            engine_made=frozenset({"reference_proofs", "diagnosis_writer"}),
        ),
        Method(
            "opsd",
            "on-policy self-distillation",
            OPSDExperiment,
            trainer="formalpi.engine.opsd:train_opsd",
            engine_made=frozenset({"reference_proofs"}),
        ),
        Method(
            "iprs",
            "PI reward shaping: GRPO on the verifier's reward plus a PI shaping term",
            IPRSExperiment,
            trainer="formalpi.engine.iprs:train_iprs",
            engine_made=frozenset({"reference_proofs"}),
        ),
    )
}
assert METHODS.keys() == EXPERIMENTS.keys(), "every config class has a registry entry and back"


def get_method(name: str) -> Method:
    method = METHODS.get(name)
    if method is None:
        raise ConfigError(f"method: {name!r} is not a method (known: {', '.join(METHODS)})")
    return method
