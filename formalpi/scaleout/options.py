"""`formalpi run --launcher accelerate --num-gpus N --executor ray`: one record of the scale-out choices and the
three functions the engine calls with it (train, generate sharded, build the domain)."""

from __future__ import annotations

import functools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from formalpi.config import ExperimentConfig
from formalpi.engine.launch import Launcher, LaunchSpec, Strategy, launch_sft
from formalpi.engine.train import SFTResult, sft
from formalpi.errors import ConfigError
from formalpi.records import Example
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
    def shards(self) -> int:
        return self.num_gpus

    def gpus(self) -> list[str] | None:
        """CUDA_VISIBLE_DEVICES per generation worker; None on a machine without CUDA (CPU workers)."""
        return [str(i) for i in range(self.num_gpus)] if visible_gpu_count() > 0 else None


@functools.cache
def visible_gpu_count() -> int:
    """How many GPUs this process would see, counted by a child process so that CUDA is never touched here.

    `torch.cuda.is_available()` asks the CUDA driver in the calling process, after which torch refuses CUDA in
    any forked child, while `torch.cuda.is_initialized()` stays False; vLLM decides by the latter, forks its
    engine core, and that core fails ("Cannot re-initialize CUDA in forked subprocess"). That is how the retry
    loop's own engine, started after the sharded first attempts, failed on two H200s. Cached: one child per
    process."""
    code = "import torch; print(torch.cuda.device_count())"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
        return int(out.stdout.split()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return 0  # no torch with CUDA here: CPU


def train(scale: ScaleOut | None, model_path: str, examples: list[Example], cfg: ExperimentConfig, out_dir: Path,
          seed: int) -> SFTResult:
    """SFT in this process, or through `accelerate launch` with the shipped config for `scale.strategy`."""
    if scale is None or scale.launcher is Launcher.LOCAL:
        return sft(model_path, examples, cfg.train, out_dir, seed=seed, device=cfg.model.device,
                   dtype=cfg.model.dtype, enable_thinking=cfg.model.enable_thinking)
    spec = LaunchSpec(strategy=scale.strategy, num_processes=scale.num_gpus, cpu=visible_gpu_count() == 0)
    return launch_sft(spec, model_path, examples, cfg.train, out_dir, seed=seed, device=cfg.model.device,
                      dtype=cfg.model.dtype, enable_thinking=cfg.model.enable_thinking)


def make_domain(cfg: ExperimentConfig, scale: ScaleOut | None):
    """The run's domain; with `--executor ray` its verifier is a Ray actor per node."""
    from formalpi.domain import open_domain as get_domain

    if scale is None or scale.executor is Executor.LOCAL:
        return get_domain(cfg.domain)
    if cfg.domain != "lean":
        raise ConfigError(f"--executor ray: wired for the lean domain only (domain here: {cfg.domain!r}); the code "
                          "sandbox's RaySandbox needs CodeDomain to accept a runner (see docs/scaleout.md)")
    from formalpi.lean.pool import LeanConfig
    from formalpi.scaleout.ray_executor import RayLeanPool, connect

    connect(scale.ray_address)
    pool = RayLeanPool(LeanConfig())  # the settings the local LeanDomain uses, per node
    return get_domain("lean", pool=pool, owns_pool=True)  # LeanDomain.close() then closes the actors' pools

