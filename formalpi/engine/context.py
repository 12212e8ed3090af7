"""The record one seed's training stages work with, built once by formalpi.engine.experiment.run_experiment and
handed to the method's stages whole (the retry-STaR rounds, the reference pass, the OPSD and IPRS trainers).

A low layer of the engine: it imports no stage, so every stage module may import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from formalpi.config import ExperimentBase
from formalpi.domain import Domain
from formalpi.engine.launch import Placement
from formalpi.runs import RunStore

# (stage description, total) -> advance(n); the CLI passes rich progress bars, tests pass nothing
ProgressFactory = Callable[[str, int], Callable[[int], None]]

C = TypeVar("C", bound=ExperimentBase, covariant=True)


def no_progress(_desc: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


@dataclass(frozen=True)
class TrainContext(Generic[C]):
    """One seed's training: the row's config (its method's class), the seed, the run store, the open domain,
    the resolved starting model, the progress factory, the condition's extras and where training runs."""

    cfg: C
    seed: int
    store: RunStore
    domain: Domain
    model_path: str  # the resolved starting model (a checkpoint directory or hub id)
    progress: ProgressFactory = no_progress
    extras: Mapping[str, Any] = field(default_factory=dict)  # what the condition reads beyond the problem
    placement: Placement | None = None  # the SFT launcher and generation GPUs; None: all in this process

    def with_extras(self, extras: Mapping[str, Any]) -> "TrainContext[C]":
        return replace(self, extras=extras)
