"""RayLeanPool / RaySandbox on a local Ray cluster (2 CPUs, loopback), with the REPL double as the Lean REPL.

The cluster is started once for the module and shut down in the fixture's finalizer; the test then checks that
no Ray process (raylet, GCS, workers) is left behind.
"""

from __future__ import annotations

import sys
import time

import psutil
import pytest

from formalpi.errors import ConfigError
from formalpi.lean.details import lean_details
from formalpi.lean.pool import LeanConfig, LeanInputError, LeanPool
from formalpi.lean.replay import standin_commands
from formalpi.records import Status
from tests.conftest import ROOT

STATEMENT = "theorem t{i} (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n  sorry"
HEADER = "import Mathlib\nopen Real"


def _config(**kw) -> LeanConfig:
    kw.setdefault("workers", 1)
    kw.setdefault("timeout_s", 5.0)
    return LeanConfig(
        project_dir=ROOT, repl_command=[sys.executable, "-m", "formalpi.lean.double"], **{**standin_commands(), **kw}
    )


def _item(i: int, marker: str = "ok") -> dict:
    return {"statement": STATEMENT.format(i=i), "proof": f"by\n  omega -- double:{marker}", "header": HEADER}


def _ray_pids() -> set[int]:
    return {c.pid for c in psutil.Process().children(recursive=True)}


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'formalpi[ray]'")
    from formalpi.scaleout import connect

    connect(address="local", num_cpus=2, _node_ip_address="127.0.0.1")
    started = _ray_pids()
    yield ray
    ray.shutdown()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(
        psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        for p in started
        if psutil.pid_exists(p)
    ):
        time.sleep(0.2)
    left = [p for p in started if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not left, f"Ray processes left behind: {left}"


def test_missing_ray_is_a_config_error_naming_the_fix(monkeypatch) -> None:
    from formalpi.scaleout import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"formalpi\[ray\]"):
        require_ray()


def test_split_blocks_is_contiguous_and_even() -> None:
    from formalpi.scaleout.ray_executor import split_blocks

    assert split_blocks(7, 2) == [(0, 4), (4, 7)]
    assert split_blocks(2, 5) == [(0, 1), (1, 2)]
    assert split_blocks(0, 3) == [(0, 0)]


def test_ray_lean_pool_gives_the_local_pools_verdicts_in_order(ray_cluster) -> None:
    from formalpi.scaleout import RayLeanPool

    items = [_item(i, ["ok", "error", "crash", "ok double:axioms=propext,Lean.ofReduceBool"][i % 4]) for i in range(12)]
    items.append({"statement": STATEMENT.format(i=99), "proof": "by\n  exact sorryAx _ -- double:ok", "header": HEADER})
    with LeanPool(_config(workers=2, crash_retries=0)) as local:
        expected = [(v.status, v.reason.split(":")[0]) for v in local.verify_many(items)]
    with RayLeanPool(_config(crash_retries=0), num_actors=2) as pool:
        assert len(pool.node_ids()) == 2
        got = pool.verify_many(items)
        assert [(v.status, v.reason.split(":")[0]) for v in got] == expected
        assert [v.status for v in got[:4]] == [Status.VALID, Status.ERROR, Status.CRASH, Status.REJECTED]
        assert got[12].status is Status.REJECTED and "sorryAx" in got[12].reason
        one = pool.verify(**_item(50))
        assert one.status is Status.VALID and lean_details(one).axioms
        stats = pool.stats()
        assert len(stats) == 2 and sum(s["verified"] for s in stats) == 14
        assert all(s["verified"] >= 6 for s in stats)  # the batch was split over both actors
        pids = pool.worker_pids()
        assert pids and all(psutil.pid_exists(p) for p in pids)
        with pytest.raises(LeanInputError, match="item 0 needs keys"):
            pool.verify_many([{"proof": "by simp"}])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(psutil.pid_exists(p) for p in pids):
        time.sleep(0.1)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)


def test_one_pool_actor_per_node_by_default(ray_cluster) -> None:
    from formalpi.scaleout import RayLeanPool
    from formalpi.scaleout.ray_executor import alive_node_ids

    with RayLeanPool(_config()) as pool:
        assert pool.node_ids() == alive_node_ids() and len(alive_node_ids()) == 1
        assert pool.verify(**_item(1)).status is Status.VALID


def test_ray_sandbox_runs_programs_like_the_local_sandbox(ray_cluster) -> None:
    from formalpi.domains.code.programs import run_many
    from formalpi.domains.code.sandbox import Limits, RunStatus
    from formalpi.scaleout import RaySandbox

    programs = [
        "print('hi')",
        "raise SystemExit(3)",
        "assert 1 == 2",
        "import time\ntime.sleep(30)",
        "print(sum(range(10)))",
    ]
    lim = Limits(timeout_s=1.0, memory_mb=512)
    local = run_many(programs, limits=lim, workers=2)
    with RaySandbox(num_actors=2, workers=1) as sb:
        got = sb.run_many(programs, limits=lim)
        assert [r.status for r in got] == [r.status for r in local]
        assert [r.status for r in got] == [
            RunStatus.PASSED,
            RunStatus.FAILED,
            RunStatus.FAILED,
            RunStatus.TIMEOUT,
            RunStatus.PASSED,
        ]
        assert got[0].stdout == "hi\n" and got[4].stdout == "45\n"
        single = sb.run("print(6 * 7)", timeout_s=5)
        assert single.passed and single.stdout == "42\n"
