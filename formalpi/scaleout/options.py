"""`formalpi run --launcher accelerate --num-gpus N --executor ray`: one record of the scale-out choices, and the
run's domain built from it (with `--executor ray` its verifier is a Ray actor per node). The engine gets the
domain and `ScaleOut.placement` (formalpi.engine.launch.Placement) from the CLI; it imports nothing from here."""

from __future__ import annotations

from dataclasses import dataclass

from formalpi.config import ExperimentConfig
from formalpi.domain import Domain, open_domain
from formalpi.engine.launch import Launcher, Placement, Strategy
from formalpi.errors import ConfigError
from formalpi.scaleout.ray_executor import Executor


@dataclass(frozen=True)
class ScaleOut:
    launcher: Launcher = Launcher.LOCAL
    num_gpus: int = 1  # training processes (accelerate) and generation workers (one engine per GPU)
    strategy: Strategy = Strategy.ZERO3
    executor: Executor = Executor.LOCAL
    ray_address: str | None = None  # None: a local Ray instance; "auto": the cluster `ray start` made

    def __post_init__(self) -> None:
        if self.num_gpus < 1:
            raise ConfigError(f"--num-gpus {self.num_gpus}: must be at least 1")

    @property
    def placement(self) -> Placement:
        return Placement(launcher=self.launcher, num_gpus=self.num_gpus, strategy=self.strategy)


def make_domain(cfg: ExperimentConfig, scale: ScaleOut | None) -> Domain:
    """The run's domain; with `--executor ray` its verifier is a Ray actor per node."""
    if scale is None or scale.executor is Executor.LOCAL:
        return open_domain(cfg.domain, cfg.verify)
    if cfg.domain != "lean":
        raise ConfigError(
            f"--executor ray: wired for the lean domain only (domain here: {cfg.domain!r}); the code "
            "sandbox's RaySandbox needs CodeDomain to accept a runner (see docs/scaleout.md)"
        )
    from formalpi.domain import parse_settings
    from formalpi.scaleout.ray_executor import RayLeanPool, connect

    connect(scale.ray_address)
    settings = parse_settings("lean", cfg.verify)  # the run's LeanConfig: the same the local LeanDomain uses
    pool = RayLeanPool(settings)  # a pool with these settings per node
    return open_domain(
        "lean", cfg.verify, pool=pool, owns_pool=True
    )  # LeanDomain.close() then closes the actors' pools
