"""`formalpi table`: the plan (rows, seeds, checkpoint dependencies), the dry-run estimate, and real tables of the
tiny model on CPU — local worker processes (in `make test`) and a two-node local Ray cluster with a worker killed
mid-run (marker `cluster`: `make test-cluster`)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from formalpi.errors import ConfigError
from formalpi.scaleout import table as t
from formalpi.tiny import resolve_model_path
from tests.conftest import ROOT

ROW = """name = "{name}"
method = "{method}"
condition = "{condition}"
seeds = [1, 2]
[model]
path = "{model}"
[data]
dataset = "arith"
train_limit = {train}
eval_limit = {evals}
[sampling]
n = 2
max_new_tokens = 48
batch_size = 64
[eval]
n = 2
max_new_tokens = 48
ks = [1, 2]
[train]
finetune = "lora"
lora_rank = 4
lr = 1e-3
batch_size = 4
"""


def _row(
    d: Path,
    name: str,
    method: str = "retry",
    condition: str = "gold",
    model: str = "tiny",
    train: int = 8,
    evals: int = 8,
) -> Path:
    p = d / f"{name}.toml"
    text = ROW.format(name=name, method=method, condition=condition, model=model, train=train, evals=evals)
    p.write_text(text.split("[train]")[0] if method == "baseline" else text)  # the baseline has no [train]
    return p


def _records(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.glob("*.jsonl"))}


def test_plan_orders_a_row_after_the_row_whose_checkpoint_it_starts_from(tmp_path):
    child = _row(tmp_path, "child", model="runs/parent/{seed}/checkpoint_r0")
    parent = _row(tmp_path, "parent")
    plan = t.plan_table([child, parent], seeds=[3, 4], cwd=tmp_path)
    assert [j.key for j in plan.jobs] == ["parent/3", "parent/4", "child/3", "child/4"]
    assert [j.depends_on for j in plan.jobs] == [[], [], ["parent/3"], ["parent/4"]]
    with pytest.raises(ConfigError, match="add experiments/parent.toml to the table"):
        t.plan_table([child], cwd=tmp_path)
    _row(tmp_path, "parent", model="runs/child/{seed}/checkpoint_r0")
    with pytest.raises(ConfigError, match="cycle: child -> parent -> child"):
        t.plan_table([child, parent], cwd=tmp_path)


def test_domain_name_expands_to_its_rows_and_the_hybrid_waits_for_try_again():
    plan = t.plan_table(t.config_paths(["math"], ROOT / "experiments"), cwd=ROOT)
    keys = [j.key for j in plan.jobs]
    assert len(plan.configs) == len(list((ROOT / "experiments").glob("math_*.toml")))
    for s in (42, 123, 456):
        assert keys.index(f"math_try_again/{s}") < keys.index(f"math_sdzero_opsd_hybrid/{s}")
    hybrid = [j for j in plan.jobs if j.row == "math_sdzero_opsd_hybrid"]
    assert [j.depends_on for j in hybrid] == [["math_try_again/42"], ["math_try_again/123"], ["math_try_again/456"]]
    with pytest.raises(ConfigError, match="neither a config file nor a domain"):
        t.config_paths(["maths"])


def test_dry_run_counts_math_try_again_at_the_measured_rates():
    plan = t.plan_table([ROOT / "experiments/math_try_again.toml"], seeds=[1], cwd=ROOT)
    cost = t.row_cost(plan.configs["math_try_again"], 1)
    # 7,500 training problems x 4 samples x (first + one retry) x 2,048 + 500 eval problems x 4 x 2,048
    assert cost.problems == (7_500, 500)
    assert cost.generated == 7_500 * 4 * 2 * 2_048 + 500 * 4 * 2_048
    # a fixed step budget (train.max_steps = 250 at batch 16) trains 250 x 16 examples, not one epoch over them all
    assert cost.trained == 250 * 16 * min(3_072, t.PROMPT_TOKENS + 2_048)
    hf_hours = (cost.generated / t.GEN_TOKENS_S["hf"] + cost.trained / t.SFT_TOKENS_S["lora"]) / 3600
    assert cost.gpu_hours == pytest.approx(hf_hours)
    lines = t.dry_run_lines(plan)
    assert lines[-1] == "run order: math_try_again/1"
    assert "total: 1 runs" in lines[-2]


def test_gpus_flag_ranges_and_errors():
    assert t.parse_gpus("0-3") == ("0", "1", "2", "3")
    assert t.parse_gpus("0,2") == ("0", "2")
    for bad in ("3-1", "a", "0,0"):
        with pytest.raises(ConfigError, match="--gpus"):
            t.parse_gpus(bad)


def test_local_workers_run_a_table_skip_it_when_finished_and_report_it(tmp_path):
    """Two baseline rows x one seed on two CPU worker processes; the second call finds both runs finished."""
    rows = [_row(tmp_path, "base_a", method="baseline", evals=4), _row(tmp_path, "base_b", method="baseline", evals=4)]
    plan = t.plan_table(rows, seeds=[1], cwd=tmp_path, tiny_model=resolve_model_path("tiny"))
    lines: list[str] = []
    outcomes = t.run_table(plan, t.Placement(cpu_workers=2), lines.append)
    assert sorted(outcomes) == ["base_a/1", "base_b/1"]
    assert len({o.pid for o in outcomes.values()}) == 2  # one worker process each
    assert sum(line.startswith("[") and " done in " in line for line in lines) == 2
    first = _records(tmp_path / "runs/base_a/1")
    again: list[str] = []
    assert t.run_table(plan, t.Placement(cpu_workers=2), again.append) == {}
    assert again == ["2 of 2 runs already finished in the run store (skipped)"]
    assert _records(tmp_path / "runs/base_a/1") == first


def _kill_when_recording(run_dir: Path, key: str, killed: list[int], stop: threading.Event) -> None:
    """Kill (SIGKILL) the Ray worker whose process title names run `key`, once the run's first records are on
    disk (Ray titles a worker `ray::<task name>` while it runs a task)."""
    while not stop.is_set() and not killed:
        if any(p.stat().st_size for p in run_dir.glob("verdicts.jsonl")):
            for proc in psutil.process_iter(["pid", "cmdline"]):
                if f"{t.RAY_TASK_NAME}:{key}" in " ".join(proc.info["cmdline"] or []):
                    os.kill(proc.pid, signal.SIGKILL)
                    killed.append(proc.pid)
                    return
        time.sleep(0.05)


@pytest.mark.cluster
def test_ray_cluster_table_survives_a_killed_worker_with_identical_records(tmp_path):
    """2 rows (the second starts from the first's checkpoint) x 2 seeds on a two-node local Ray cluster; the
    worker running parent/1 is killed by pid mid-run; Ray runs the task again, which resumes from the run store.
    The records equal those of the same run done in one go in this process."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    rows = [
        _row(tmp_path, "parent"),
        _row(tmp_path, "child", condition="try_again", model="runs/parent/{seed}/checkpoint_r0"),
    ]
    plan = t.plan_table(rows, cwd=tmp_path, tiny_model=resolve_model_path("tiny"))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    stop, killed = threading.Event(), []
    watcher = threading.Thread(target=_kill_when_recording, args=(tmp_path / "runs/parent/1", "parent/1", killed, stop))
    watcher.start()
    lines: list[str] = []
    try:
        outcomes = t.run_table(plan, t.Placement(ray_address=cluster.address, gpus_per_run=0, retries=2), lines.append)
    finally:
        stop.set()
        watcher.join()
        import ray

        ray.shutdown()
        cluster.shutdown()
    assert killed, "the watcher never found the worker to kill"
    assert sorted(outcomes) == ["child/1", "child/2", "parent/1", "parent/2"]
    # one worker process per run, as the local executor: a GPU run's vLLM engine (one per process) and its cached
    # memory leave with it (Ray reuses a worker unless the function is declared with max_calls=1)
    assert len({o.host + str(o.pid) for o in outcomes.values()}) == 4
    assert outcomes["parent/1"].pid != killed[0]  # the run finished in another worker
    assert outcomes["parent/1"].kept_records > 0  # ... from the records the killed worker had written
    assert any(line.startswith("[") and "parent/1 done" in line and "resumed with" in line for line in lines)
    resumed = _records(tmp_path / "runs/parent/1")
    reference = tmp_path / "ref"
    reference.mkdir()
    _row(reference, "parent")
    t.run_job(
        t.RunJob(
            row="parent",
            config_path=str(reference / "parent.toml"),
            seed=1,
            cwd=str(reference),
            tiny_model=resolve_model_path("tiny"),
        )
    )
    assert resumed == _records(reference / "runs/parent/1")


def test_seeds_split_at_a_space_names_the_flag():
    from formalpi.cli import split_list_flag

    assert split_list_flag(["run", "x.toml", "--seeds", "1,", "2"]) == (
        "--seeds '1, 2': the value was split at the space; write it as one word, --seeds 1,2 (or quote it: "
        "--seeds '1, 2')"
    )
    assert split_list_flag(["run", "x.toml", "--seeds", "1,2"]) is None
    assert split_list_flag(["table", "math", "--gpus", "0,", "1", "--dry-run"]).startswith("--gpus '0, 1'")


def test_no_help_text_points_into_docs_which_an_installed_package_lacks():
    import click
    import typer
    from typer.testing import CliRunner

    from formalpi.cli import app

    def paths(cmd: click.Command, prefix: list[str]):
        yield prefix
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from paths(sub, prefix + [name])

    runner = CliRunner()
    seen = 0
    for argv in paths(typer.main.get_command(app), []):
        res = runner.invoke(app, [*argv, "--help"], env={"COLUMNS": "300"})
        assert res.exit_code == 0, argv
        assert "docs/" not in res.output, (argv, res.output)
        seen += 1
    assert seen > 15
