"""The Lean pool and the code sandbox as Ray actors, behind their local APIs (`--executor ray`).

One actor per Ray node (pinned with a node-affinity strategy), each owning one local `LeanPool` / sandbox, so a
node's REPLs keep their warm headers and caches; the driver splits a batch into contiguous blocks, one per actor,
and concatenates the answers, so results come back in input order exactly as from the local pool.

    RayLeanPool(config).verify(statement, proof, header) / .verify_many(items)   ~ formalpi.lean.pool.LeanPool
    RaySandbox(limits).run(program, ...) / .run_many(programs, ...)               ~ formalpi.domains.code.programs

`RayLeanPool` plugs into `formalpi.domains.lean.domain.LeanDomain(pool=...)` unchanged. Ray is optional: `pip install
'formalpi[ray]'`; without it these classes raise ConfigError saying so.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from enum import Enum
from typing import Any

from formalpi.errors import ConfigError, FormalpiError


class Executor(str, Enum):
    LOCAL = "local"  # pools in this process
    RAY = "ray"  # pools as Ray actors, one per node


class RayExecutorError(FormalpiError):
    """A Ray actor died or could not be placed; the message names the actor and the node."""


def require_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'formalpi[ray]' (or `pip install ray`)") from None
    return ray


def connect(address: str | None = None, **init_kwargs: Any):
    """Join the Ray cluster at `address` ("auto" = the one `ray start` made on this host) unless already in one."""
    ray = require_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **init_kwargs)
    return ray


def alive_node_ids() -> list[str]:
    ray = require_ray()
    return sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))


def _placements(num_actors: int | None) -> list[Any]:
    """One scheduling strategy per actor: pinned to each alive node, or (num_actors given) spread."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if num_actors is None:
        return [NodeAffinitySchedulingStrategy(node_id=n, soft=False) for n in alive_node_ids()]
    if num_actors < 1:
        raise ConfigError(f"num_actors = {num_actors}: must be at least 1 (or None for one per node)")
    return ["SPREAD"] * num_actors


def split_blocks(n_items: int, n_parts: int) -> list[tuple[int, int]]:
    """Contiguous [start, end) blocks, as even as possible, no empty block."""
    k = max(1, min(n_parts, n_items))
    out, start = [], 0
    for i in range(k):
        size = n_items // k + (1 if i < n_items % k else 0)
        out.append((start, start + size))
        start += size
    return out


class _LeanPoolActor:
    """Runs inside a Ray worker: one local LeanPool."""

    def __init__(self, config) -> None:
        from formalpi.lean.pool import LeanPool

        self.pool = LeanPool(config)

    def verify(self, statement: str, proof: str, header: str):
        return self.pool.verify(statement, proof, header)

    def verify_many(self, items: list[dict[str, Any]]):
        return self.pool.verify_many(items)

    def stats(self) -> dict[str, int]:
        return dict(self.pool.stats)

    def worker_pids(self) -> list[int]:
        return self.pool.worker_pids()

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def close(self) -> None:
        self.pool.close()


class _SandboxActor:
    """Runs inside a Ray worker: the local sandbox functions under fixed limits."""

    def __init__(self, workers: int | None) -> None:
        self.workers = workers

    def run(self, program: str, timeout_s: float, memory_mb: int, limits):
        from formalpi.domains.code.programs import run

        return run(program, timeout_s, memory_mb, limits=limits)

    def run_many(self, programs: list[str], timeout_s: float, memory_mb: int, limits):
        from formalpi.domains.code.programs import run_many

        return run_many(programs, timeout_s, memory_mb, workers=self.workers, limits=limits)

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()


class _ActorGroup:
    """N actors of one class; round-robin single calls, block-split batches, typed errors for dead actors."""

    def __init__(self, cls: type, args: tuple, num_actors: int | None, num_cpus: float) -> None:
        self.ray = require_ray()
        if not self.ray.is_initialized():
            raise ConfigError(
                "--executor ray: not connected to a Ray cluster; call formalpi.scaleout.connect() "
                "(or `ray start --head` and connect(address='auto')) first"
            )
        remote = self.ray.remote(num_cpus=num_cpus, max_restarts=0)(cls)
        self.actors = [remote.options(scheduling_strategy=s).remote(*args) for s in _placements(num_actors)]
        if not self.actors:
            raise RayExecutorError("the Ray cluster has no alive node to place an actor on")
        self._next = itertools.cycle(range(len(self.actors)))

    def get(self, refs, what: str):
        try:
            return self.ray.get(refs)
        except self.ray.exceptions.RayActorError as e:
            raise RayExecutorError(
                f"{what}: a Ray actor died ({e.__class__.__name__}); its node's pool is gone, recreate the executor"
            ) from None

    def one(self, method: str, *args: Any):
        actor = self.actors[next(self._next)]
        return self.get(getattr(actor, method).remote(*args), method)

    def batch(self, method: str, items: Sequence[Any], *args: Any) -> list[Any]:
        if not items:
            return []
        blocks = split_blocks(len(items), len(self.actors))
        refs = [getattr(self.actors[i], method).remote(list(items[a:b]), *args) for i, (a, b) in enumerate(blocks)]
        return [x for part in self.get(refs, method) for x in part]

    def each(self, method: str) -> list[Any]:
        return self.get([getattr(a, method).remote() for a in self.actors], method)

    def kill(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []


class RayLeanPool:
    """`LeanPool`'s verify API over one LeanPool actor per Ray node (or `num_actors` spread actors)."""

    def __init__(self, config, num_actors: int | None = None, num_cpus: float = 1.0) -> None:
        self.config = config  # read by LeanDomain.verifier_settings (the run's manifest)
        self._group = _ActorGroup(_LeanPoolActor, (config,), num_actors, num_cpus)

    def verify(self, statement: str, proof: str, header: str | None = None):
        from formalpi.lean.pool import DEFAULT_HEADER

        return self._group.one("verify", statement, proof, DEFAULT_HEADER if header is None else header)

    def verify_many(self, items: Sequence[dict[str, Any]]):
        from formalpi.lean.pool import LeanInputError

        for i, it in enumerate(items):  # refused here, before any actor sees it (as LeanPool does)
            if "statement" not in it or "proof" not in it:
                raise LeanInputError(
                    f"verify_many: item {i} needs keys 'statement' and 'proof' "
                    f"(and optionally 'header'); got {sorted(it)}"
                )
        return self._group.batch("verify_many", items)

    def stats(self) -> list[dict[str, int]]:
        return self._group.each("stats")

    def worker_pids(self) -> list[int]:
        return [p for pids in self._group.each("worker_pids") for p in pids]

    def node_ids(self) -> list[str]:
        return self._group.each("node_id")

    def close(self) -> None:
        """Close every actor's pool (its REPLs are killed) and end the actors; idempotent."""
        if self._group.actors:
            try:
                self._group.each("close")
            finally:
                self._group.kill()

    def __enter__(self) -> "RayLeanPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RaySandbox:
    """`formalpi.domains.code.programs.run` / `run_many` over one sandbox actor per Ray node."""

    def __init__(self, num_actors: int | None = None, workers: int | None = None, num_cpus: float = 1.0) -> None:
        self._group = _ActorGroup(_SandboxActor, (workers,), num_actors, num_cpus)

    def run(self, program: str, timeout_s: float = 10.0, memory_mb: int = 1024, *, limits=None):
        return self._group.one("run", program, timeout_s, memory_mb, limits)

    def run_many(self, programs: Sequence[str], timeout_s: float = 10.0, memory_mb: int = 1024, *, limits=None):
        return self._group.batch("run_many", programs, timeout_s, memory_mb, limits)

    def node_ids(self) -> list[str]:
        return self._group.each("node_id")

    def close(self) -> None:
        self._group.kill()

    def __enter__(self) -> "RaySandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
