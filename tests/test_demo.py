"""The demo: its plan (two sizes, two training variants), plain progress lines, the manipulation checks computed
from run records, fixed-step SFT, and one small end-to-end run on the shipped tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from formalpi.analysis.manipulation import collect_dirs, manipulation_rows, stated_answer
from formalpi.demo import DEMO_CONDITIONS, demo_plan, run_demo
from formalpi.pi_condition import PIContext
from formalpi.engine.conditions import get_condition
from formalpi.errors import ConfigError
from formalpi.records import Attempt, EvalRecord, Example, Judged, Problem, Status, Verdict
from formalpi.runs import RunStore


def test_both_sizes_have_every_row_and_the_fixed_steps_variant_sets_max_steps():
    small, full = demo_plan(False), demo_plan(True)
    assert set(DEMO_CONDITIONS) == {
        "gold",
        "gibberish",
        "wrong",
        "try_again",
        "rejection",
        "double_sample",
        "double_sample_matched",
        "compute_matched",
    }
    assert "steps" in small.variants and set(full.variants) == {"epochs", "steps"}
    assert full.base.data.eval_limit > small.base.data.eval_limit and len(full.base.seeds) >= 3
    steps = full.config("steps", "gold")
    epochs = full.config("epochs", "gold")
    assert steps.train.max_steps == full.fixed_steps and epochs.train.max_steps is None
    assert full.base.train.max_steps is None  # the plan's configs are copies, never the shared base
    assert steps.name == "demo-full/steps/gold" and full.baseline().method == "baseline"


def test_demo_table_keys_are_checked():
    with pytest.raises(ConfigError, match="demo.fixed_step"):
        demo_plan(False, ["demo.fixed_step=3"])
    with pytest.raises(ConfigError, match="demo.variants"):
        demo_plan(False, ['demo.variants=["lots"]'])
    assert demo_plan(False, ["demo.fixed_steps=7"]).config("steps", "wrong").train.max_steps == 7


def _problem(i: int, gold: str) -> Problem:
    return Problem(id=f"p{i}", domain="math", text=f"What is {gold}+0?", gold=gold, level=1, split="train")


def test_stated_answer_reads_the_conditions_own_pi_texts():
    problems = [_problem(0, "42"), _problem(1, "-7")]
    a = Attempt(id="p0|r0|s0|k0", problem_id="p0", prompt="q", completion="c")
    v = Verdict(status=Status.WRONG)
    ctx = PIContext(problem=problems[0], attempt=a, verdict=v, seed=1, problems=problems)
    assert stated_answer(get_condition("gold", "math").pi(ctx)) == "42"
    assert stated_answer(get_condition("wrong", "math").pi(ctx)) == "-7"
    for name in ("try_again", "gibberish", "double_sample_matched"):
        assert stated_answer(get_condition(name, "math").pi(ctx)) is None


def _write_run(
    root: Path,
    experiment: str,
    condition: str,
    method: str,
    seed: int,
    *,
    retries=(),
    evals=(),
    examples: int = 0,
    steps: int = 0,
) -> None:
    cfg = {"name": experiment, "method": method, "condition": condition}
    store = RunStore.open(root, experiment, seed, cfg)
    first = Attempt(id="p0|r0|s0|k0", problem_id="p0", prompt="q", completion="\\boxed{1}")
    store.append("attempts", [first, *(r for r, _ in retries)])
    store.append(
        "verdicts",
        [Judged(attempt_id=first.id, problem_id="p0", verdict=Verdict(status=Status.WRONG))]
        + [Judged(attempt_id=r.id, problem_id="p0", verdict=v) for r, v in retries],
    )
    store.append(
        "examples",
        [Example(prompt="q", completion="c", problem_id="p0", attempt_id=first.id, condition=condition)] * examples,
    )
    store.append("eval", evals)
    if steps:
        store.mark_done("train_r0", steps=steps)


def test_manipulation_checks_from_run_records(tmp_path):
    def retry(i: int, pi: str, answer: str, ok: bool):
        a = Attempt(id=f"p0|r0|s{i}|k1", problem_id="p0", retry=1, prompt="q", completion=f"\\boxed{{{answer}}}", pi=pi)
        return a, Verdict(status=Status.VALID if ok else Status.WRONG, answer=answer)

    def ev(seed: int, cond: str, completions: list[str]) -> EvalRecord:
        return EvalRecord(
            problem_id="p0",
            seed=seed,
            condition=cond,
            n=len(completions),
            correct=[False] * len(completions),
            completions=completions,
        )

    _write_run(tmp_path, "d/baseline", "gold", "baseline", 1, evals=[ev(1, "baseline", ["a", "b", "c", "d"])])
    gold = "Your answer is incorrect. The correct answer is 5. Try again."
    wrong = "Your answer is incorrect. The correct answer is 9. Try again."
    _write_run(
        tmp_path,
        "d/gold",
        "gold",
        "retry",
        1,
        examples=2,
        steps=6,
        retries=[retry(0, gold, "5", True), retry(1, gold, "5", True), retry(2, gold, "4", False)],
        evals=[ev(1, "gold", ["a", "x", "c", "d"])],
    )
    _write_run(
        tmp_path,
        "d/wrong",
        "wrong",
        "retry",
        1,
        examples=1,
        steps=6,
        retries=[retry(0, wrong, "9", False), retry(1, wrong, "5", True), retry(2, wrong, "9", False)],
        evals=[ev(1, "wrong", ["a", "b", "c", "d"])],
    )
    checks = {c.label: c for c in collect_dirs([tmp_path / "d"])}
    assert list(checks)[0] == "baseline"
    g, w = checks["gold"], checks["wrong"]
    assert (g.copy_rate, w.copy_rate) == (pytest.approx(200 / 3), pytest.approx(200 / 3))
    assert g.retry_yield == pytest.approx(200 / 3) and w.retry_yield == pytest.approx(100 / 3)
    assert g.first_yield == 0 and g.changed == 25.0 and w.changed == 0.0
    rows = {r[0]: r for r in manipulation_rows(list(checks.values()))}
    assert rows["gold"][4] == "66.7 (2/3)" and rows["gold"][6:8] == ("2", "6")
    assert rows["baseline"][4] == "—"


def test_verified_retries_on_unsolved_problems(tmp_path):
    """Of the verified retries, the share on problems that none of the run's first attempts solved."""
    store = RunStore.open(tmp_path, "d/gold", 1, {"name": "d/gold", "method": "retry", "condition": "gold"})
    firsts = [Attempt(id=f"{p}|r0|s0|k0", problem_id=p, prompt="q", completion="c") for p in ("p0", "p1", "p2")]
    retries = [
        Attempt(id=f"{p}|r0|s0|k1", problem_id=p, retry=1, prompt="q", completion="c", pi="Try again.")
        for p in ("p0", "p1", "p2")
    ]
    ok, no = Verdict(status=Status.VALID), Verdict(status=Status.WRONG)
    # p0: solved first (a verified retry on a solved problem); p1, p2: unsolved first, p1's retry verified
    store.append("attempts", firsts + retries)
    store.append(
        "verdicts",
        [
            Judged(attempt_id=a.id, problem_id=a.problem_id, verdict=v)
            for a, v in zip(firsts + retries, (ok, no, no, ok, ok, no))
        ],
    )
    (c,) = collect_dirs([tmp_path / "d"])
    assert c.runs[0].verified_unsolved == 1 and c.retry_yield == pytest.approx(200 / 3)
    assert c.unsolved_share == 50.0 and manipulation_rows([c])[0][5] == "50.0"


def test_fixed_steps_training_takes_the_same_steps_whatever_the_examples(tmp_path):
    from formalpi.config import TrainConfig
    from formalpi.engine.train import sft
    from formalpi.tiny import ensure_tiny_model

    ex = Example(
        prompt="What is 2+2?", completion="2+2=4. \\boxed{4}", problem_id="p", attempt_id="a", condition="gold"
    )
    cfg = TrainConfig(max_steps=2, batch_size=4, epochs=1)
    few = sft(str(ensure_tiny_model()), [ex], cfg, tmp_path / "few", seed=1)
    many = sft(str(ensure_tiny_model()), [ex] * 12, cfg, tmp_path / "many", seed=1)
    assert few.steps == many.steps == 2
    assert (
        sft(str(ensure_tiny_model()), [ex] * 12, TrainConfig(batch_size=4, epochs=1), tmp_path / "e", seed=1).steps == 3
    )  # without max_steps: one pass over 12 examples at batch 4


def test_demo_end_to_end_small_and_resumable(tmp_path):
    """Two rows, one seed, a handful of problems, both variants. gold starts from try_again's first attempts and
    the steps variant from the epochs variant's attempts and retries (neither samples them again); a second call
    recomputes nothing."""
    import json

    plan = demo_plan(
        False,
        [
            f'runs_dir="{tmp_path}"',
            "data.train_limit=10",
            "data.eval_limit=5",
            "sampling.n=2",
            "eval.n=2",
            "demo.fixed_steps=2",
            'demo.variants=["epochs", "steps"]',
        ],
    )
    plan = type(plan)(plan.base, plan.variants, plan.fixed_steps, conditions=("try_again", "gold"))
    lines: list[str] = []
    run_demo(plan, [3], jobs=1, say=lines.append)
    root = tmp_path / "demo"

    def first_attempts(run: str) -> list[str]:
        return [
            line
            for line in (root / run / "3/attempts.jsonl").read_text().splitlines()
            if json.loads(line)["retry"] == 0
        ]

    assert len(first_attempts("epochs/try_again")) == 20
    assert first_attempts("epochs/gold") == first_attempts("epochs/try_again")
    retries = [json.loads(line) for line in (root / "epochs/gold/3/attempts.jsonl").read_text().splitlines()]
    assert all("The correct answer is" in a["pi"] for a in retries if a["retry"])  # gold's own retries
    a = (root / "epochs/gold/3/attempts.jsonl").read_text()
    assert (root / "steps/gold/3/attempts.jsonl").read_text() == a
    for run in ("epochs/gold", "steps/gold", "steps/try_again"):  # never sampled a first attempt themselves
        assert not RunStore(root / run / "3").manifest()["stages"].get("attempts_r0", {}).get("samples")
    assert RunStore(root / "epochs/try_again/3").manifest()["stages"]["attempts_r0"]["samples"] == 20
    assert RunStore(root / "steps/gold/3").manifest()["stages"]["train_r0"]["steps"] in (0, 2)
    assert any(line.startswith("[3/3]") for line in lines)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.jsonl")}
    again: list[str] = []
    run_demo(plan, [3], jobs=1, say=again.append)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.jsonl")} == before
    assert not any("sample r0" in line for line in again)
