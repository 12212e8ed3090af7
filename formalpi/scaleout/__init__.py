"""Scale-out seams: verification pools as Ray actors (`--executor ray`). Training and generation scale-out live in
formalpi/engine/launch.py (accelerate) and formalpi/engine/shard.py (one generation worker per GPU)."""

from formalpi.scaleout.ray_executor import Executor, RayExecutorError, RayLeanPool, RaySandbox, connect, require_ray

__all__ = ["Executor", "RayExecutorError", "RayLeanPool", "RaySandbox", "connect", "require_ray"]
