"""`formalpi run` flags -> ScaleOut, with errors that name the flag and its choices."""

from __future__ import annotations

from enum import Enum

from formalpi.engine.launch import Launcher, Strategy
from formalpi.errors import ConfigError
from formalpi.scaleout.options import ScaleOut
from formalpi.scaleout.ray_executor import Executor


def _choice(flag: str, value: str, enum: type[Enum]):
    try:
        return enum(value)
    except ValueError:
        raise ConfigError(f"{flag} {value!r}: choose one of {', '.join(e.value for e in enum)}") from None


def scale_from_flags(
    launcher: str = "local",
    num_gpus: int = 1,
    strategy: str = "zero3",
    executor: str = "local",
    ray_address: str | None = None,
) -> ScaleOut | None:
    """None when every flag is at its default (the engine then runs exactly as without scale-out)."""
    scale = ScaleOut(
        launcher=_choice("--launcher", launcher, Launcher),
        num_gpus=num_gpus,
        strategy=_choice("--strategy", strategy, Strategy),
        executor=_choice("--executor", executor, Executor),
        ray_address=ray_address,
    )
    return None if scale == ScaleOut() and ray_address is None else scale
