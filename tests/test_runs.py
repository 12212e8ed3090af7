"""Run store: JSONL records survive a torn write; resumed stages skip done keys and never duplicate."""

import json

import pytest

from formalpi.errors import RunStoreError
from formalpi.records import Attempt
from formalpi.runs import RunStore


def att(i: int) -> Attempt:
    return Attempt(id=f"p{i}|r0|s0|k0", problem_id=f"p{i}", prompt="q", completion=str(i))


def test_manifest_records_config_versions_and_git(tmp_path):
    store = RunStore.open(tmp_path, "exp", 42, {"a": 1})
    m = json.loads((tmp_path / "exp" / "42" / "manifest.json").read_text())
    assert m["config"] == {"a": 1} and m["seed"] == 42 and "torch" in m["versions"] and "git" in m
    store.mark_done("eval", wall_s=1.5)
    assert store.is_done("eval") and not store.is_done("train")


def test_reopen_with_other_config_is_refused(tmp_path):
    RunStore.open(tmp_path, "exp", 1, {"a": 1}).append("attempts", [att(0)])
    RunStore.open(tmp_path, "exp", 1, {"a": 1})  # same config: resumes
    with pytest.raises(RunStoreError, match="different config"):
        RunStore.open(tmp_path, "exp", 1, {"a": 2})


def test_torn_last_line_is_dropped_and_truncated(tmp_path):
    store = RunStore.open(tmp_path, "exp", 1, {})
    store.append("attempts", [att(0), att(1)])
    with open(store.path("attempts"), "a") as f:
        f.write(att(2).model_dump_json()[:20])  # a kill mid-write
    assert [a.problem_id for a in store.read("attempts", Attempt)] == ["p0", "p1"]
    store.append("attempts", [att(2)])
    assert [a.problem_id for a in store.read("attempts", Attempt)] == ["p0", "p1", "p2"]


def test_map_resumable_after_kill_gives_same_records_no_duplicates(tmp_path):
    items = list(range(10))
    calls = []

    def fn(ci, chunk):
        calls.append(ci)
        return [att(i) for i in chunk]

    full = RunStore.open(tmp_path, "full", 1, {}).map_resumable(
        "attempts", Attempt, items, lambda i: f"p{i}", lambda a: a.problem_id, fn, chunk_size=3
    )

    store = RunStore.open(tmp_path, "killed", 1, {})

    class Kill(Exception):
        pass

    def dying(ci, chunk):
        if ci == 2:
            raise Kill
        return fn(ci, chunk)

    with pytest.raises(Kill):
        store.map_resumable("attempts", Attempt, items, lambda i: f"p{i}", lambda a: a.problem_id, dying, chunk_size=3)
    # simulate a torn partial write of chunk 2 too
    with open(store.path("attempts"), "a") as f:
        f.write(att(6).model_dump_json() + "\n" + att(7).model_dump_json()[:10])
    calls.clear()
    resumed = store.map_resumable(
        "attempts", Attempt, items, lambda i: f"p{i}", lambda a: a.problem_id, fn, chunk_size=3
    )
    assert calls == [2, 3]  # chunks 0 and 1 were complete; 2 was partial and is redone; 3 never ran
    assert [a.model_dump() for a in resumed] == [a.model_dump() for a in full]
    on_disk = [a.problem_id for a in store.read("attempts", Attempt)]
    assert sorted(on_disk) == [f"p{i}" for i in range(10)] and len(on_disk) == 10


def test_a_run_that_recorded_nothing_may_be_restarted_with_a_fixed_config(tmp_path):
    RunStore.open(tmp_path, "exp", 1, {"data": "missing.jsonl"})  # failed before writing any record
    store = RunStore.open(tmp_path, "exp", 1, {"data": "fixed.jsonl"})
    assert store.manifest()["config"] == {"data": "fixed.jsonl"}
