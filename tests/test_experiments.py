"""experiments/*.toml: every row loads, names a condition of its domain and the seed's model; a math row and the
controls run end to end on a tiny model through `formalpi run`."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from formalpi.cli import app
from formalpi.config import load_config
from formalpi.engine.conditions import get_condition
from formalpi.records import Attempt, EvalRecord, Example, Judged
from formalpi.runs import RunStore
from formalpi.tiny import TinySpec, ensure_tiny_model

ROOT = Path(__file__).resolve().parent.parent
ROWS = sorted((ROOT / "experiments").glob("*.toml"))
SEED_MODELS = {
    "math": "Qwen/Qwen3-1.7B",
    "code": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
    "lean": "AI-MO/Kimina-Prover-Preview-Distill-1.5B",
}
SCALE_ROWS = {
    "math_try_again_8b_lora_lr5e-7": "Qwen/Qwen3-8B",
    "math_try_again_8b_lora_lr1e-6": "Qwen/Qwen3-8B",
    "math_try_again_8b_lora_lr2e-6": "Qwen/Qwen3-8B",
    "math_try_again_8b_full": "Qwen/Qwen3-8B",
    "math_baseline_8b": "Qwen/Qwen3-8B",
    "math_try_again_32b_lora": "Qwen/Qwen3-32B",
    "math_baseline_32b": "Qwen/Qwen3-32B",
    "code_try_again_7b": "Qwen/Qwen2.5-Coder-7B-Instruct",
    "code_baseline_7b": "Qwen/Qwen2.5-Coder-7B-Instruct",
    "math_sdzero_opsd_hybrid": "runs/math_try_again/{seed}/checkpoint_r0",
}  # SD-Zero's checkpoint


@pytest.fixture(scope="module")
def tiny_model() -> str:
    return str(ensure_tiny_model(TinySpec(steps=40, train_per_level=40)))  # cached: shared with other test files


def test_every_row_is_valid_and_named_after_its_file():
    assert len(ROWS) >= 40
    seen = set()
    for p in ROWS:
        cfg = load_config(p)
        assert cfg.name == p.stem and cfg.name.startswith(cfg.domain + "_"), p
        get_condition(cfg.condition, cfg.domain)  # raises for a condition the domain lacks
        assert cfg.model.path == SCALE_ROWS.get(cfg.name, SEED_MODELS[cfg.domain]), p
        assert cfg.seeds == ([42, 123, 456, 789, 1024] if cfg.name == "math_opsd_answer_only" else [42, 123, 456]), p
        # the problems a row trains on are not the ones it is evaluated on, unless the row says so
        assert (cfg.data.train_split != cfg.data.eval_split) != cfg.data.allow_train_on_eval, p
        if cfg.domain == "math":
            assert (cfg.data.dataset, cfg.data.train_split, cfg.data.eval_split) == ("math", "train", "test"), p
        seen.add(json.dumps({k: v for k, v in cfg.model_dump(mode="json").items() if k != "name"}, sort_keys=True))
    assert len(seen) == len(ROWS)  # no two files are the same row
    names = {p.stem for p in ROWS}
    for needed in (
        "math_baseline",
        "math_gold",
        "math_gibberish",
        "math_wrong",
        "math_try_again",
        "math_first_step",
        "math_cross_model_hint",
        "math_cross_model_retry",
        "math_rejection",
        "math_double_sample",
        "math_temp_uniform",
        "math_compute_matched",
        "math_frontier_rejection",
        "math_try_again_graded",
        "math_try_again_k3",
        "math_try_again_rounds3",
        "math_opsd_answer_only",
        "code_test_suite",
        "code_shuffled_test_suite",
        "lean_skeleton",
        "lean_skeleton_retry",
        "lean_typechecker",
        "lean_diagnosis",
        "lean_opsd_skeleton",
        "math_opsd_pccg",
        "math_try_again_k2",
        "math_try_again_k5",
        "math_try_again_rounds2",
        "math_try_again_8b_lora_lr5e-7",
        "math_try_again_8b_lora_lr1e-6",
        "math_try_again_8b_lora_lr2e-6",
        "math_try_again_8b_full",
        "math_baseline_8b",
        "math_baseline_32b",
        "code_try_again_7b",
        "code_baseline_7b",
        "math_try_again_32b_lora",
        "code_humaneval_try_again",
        "lean_heuristic_3iter",
        "lean_skeleton_guided_retry",
        "math_sdzero_opsd_hybrid",
        "math_double_sample_matched",
    ):
        assert needed in names, needed
    readme = (ROOT / "experiments" / "README.md").read_text()
    assert all(f"`{n}`" in readme for n in names)  # every row is listed with its assumptions


# the seed's stated settings (its LR-by-scale table and rows): row -> (finetune, lora rank, lr)
SEED_SETTINGS = {
    "math_try_again": ("lora", 32, 5e-7),
    "math_gold": ("lora", 32, 5e-7),
    "math_try_again_8b_lora_lr5e-7": ("lora", 64, 5e-7),
    "math_try_again_8b_lora_lr1e-6": ("lora", 64, 1e-6),
    "math_try_again_8b_lora_lr2e-6": ("lora", 64, 2e-6),
    "math_try_again_8b_full": ("full", None, 1e-6),
    "math_try_again_32b_lora": ("lora", None, 2e-6),
}


def test_rows_use_the_seeds_stated_settings_by_default():
    for name, (finetune, rank, lr) in SEED_SETTINGS.items():
        cfg = load_config(ROOT / "experiments" / f"{name}.toml")
        assert (cfg.train.finetune, cfg.train.lr) == (finetune, lr), name
        assert rank is None or cfg.train.lora_rank == rank, name
    for p in ROWS:  # every Qwen3-1.7B LoRA row trains at the seed's 5e-7, whatever its method
        cfg = load_config(p)
        if (
            cfg.domain == "math"
            and cfg.trains
            and cfg.train.finetune == "lora"
            and "8B" not in cfg.model.path
            and "32B" not in cfg.model.path
        ):
            lr = {"retry": lambda: cfg.train.lr, "opsd": lambda: cfg.opsd.lr, "iprs": lambda: cfg.iprs.lr}[cfg.method]()
            assert lr == 5e-7, p
    assert len(load_config(ROOT / "experiments" / "math_opsd_answer_only.toml").seeds) == 5
    for name in ("code_opsd_test_suite", "code_shuffled_test_suite"):
        assert load_config(ROOT / "experiments" / f"{name}.toml").data.dataset == "humaneval", name
    # the one sibling setting: LoRA at 1e-4, run as <row>@lora_lr
    v = load_config(ROOT / "experiments" / "math_opsd_gold.toml", variant="lora_lr")
    assert (v.name, v.variant, v.opsd.lr) == ("math_opsd_gold@lora_lr", "lora_lr", 1e-4)
    # content rows share a fixed optimizer-step budget per domain (not epochs over however many examples they made)
    content = {
        "math": ("gold", "gibberish", "wrong", "try_again"),
        "code": ("try_again", "gibberish", "test_suite", "shuffled_test_suite"),
        "lean": ("retry", "gibberish", "typechecker", "skeleton"),
    }
    for domain, conds in content.items():
        budgets = {load_config(ROOT / "experiments" / f"{domain}_{c}.toml").train.max_steps for c in conds}
        assert len(budgets) == 1 and None not in budgets, (domain, budgets)


def settings_table() -> list[dict]:
    """Every OPSD / IPRS / PCCG row as loaded: generation length, steps, problems seen, frontier band."""
    rows = []
    for p in ROWS:
        cfg = load_config(p)
        if cfg.method not in ("opsd", "iprs"):
            continue
        sec = cfg.opsd if cfg.method == "opsd" else cfg.iprs
        pccg = cfg.method == "opsd" and cfg.opsd.frontier
        rows.append(
            {
                "row": cfg.name,
                "method": "PCCG" if pccg else ("OPSD" if cfg.method == "opsd" else "IPRS"),
                "sampling": cfg.sampling.max_new_tokens,
                "max_new_tokens": sec.max_new_tokens,
                "steps": sec.steps,
                "problems/step": sec.batch_size,
                "problems": sec.steps * sec.batch_size,
                "band": f"[{cfg.opsd.frontier_low:.2f}, {cfg.opsd.frontier_high:.2f}] of {cfg.opsd.frontier_n}"
                if pccg
                else "-",
            }
        )
    return rows


def test_every_opsd_iprs_pccg_row_runs_at_the_seed_settings():
    rows = settings_table()
    cols = list(rows[0])
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    assert len(rows) >= 13 and {r["method"] for r in rows} == {"OPSD", "IPRS", "PCCG"}
    for r in rows:
        assert r["max_new_tokens"] == r["sampling"] >= 1024, r  # never the old 32-token default
        assert r["steps"] == 200 and r["problems"] >= 3200, r
    assert [r["band"] for r in rows if r["method"] == "PCCG"] == ["[0.30, 0.50] of 16"]
    lean = [r for r in rows if r["row"].startswith("lean_opsd")]
    assert len(lean) == 3 and all(r["max_new_tokens"] == 4096 for r in lean)
    # and a row that sets no [opsd] length inherits the sampling length
    from formalpi.config import config_from_dict

    c = config_from_dict({"name": "x", "method": "opsd", "sampling": {"max_new_tokens": 777}})
    assert c.opsd.max_new_tokens == 777 and (c.opsd.frontier_low, c.opsd.frontier_high) == (0.3, 0.5)
    assert (
        config_from_dict({"name": "x", "method": "iprs", "sampling": {"max_new_tokens": 777}}).iprs.max_new_tokens
        == 777
    )


def _tiny_overrides(model: str, runs: Path) -> list[str]:
    sets = [
        f"model.path={model}",
        "model.dtype=auto",
        f"runs_dir={runs}",
        "data.dataset=arith",
        "data.train_split=train",
        "data.train_limit=6",
        "data.eval_limit=5",
        "sampling.n=2",
        "sampling.max_new_tokens=16",
        "eval.max_new_tokens=16",
        "eval.n=2",
        "eval.ks=[1, 2]",
        "train.max_length=128",
        "train.batch_size=4",
        "train.lora_rank=4",
        "train.lora_alpha=8",
        "train.lr=1e-3",
    ]
    return [a for s in sets for a in ("--set", s)]


def test_math_row_runs_end_to_end_on_the_tiny_model(tiny_model, tmp_path):
    row = ROOT / "experiments" / "math_gold.toml"
    # the row's fixed step budget (250) is for MATH; a few steps show the mechanics on the tiny model
    res = CliRunner().invoke(
        app, ["run", str(row), "--seeds", "42", *_tiny_overrides(tiny_model, tmp_path), "--set", "train.max_steps=3"]
    )
    assert res.exit_code == 0, res.output
    assert "math_gold seed 42" in res.output
    store = RunStore(tmp_path / "math_gold" / "42")
    attempts = store.read("attempts", Attempt)
    assert sum(a.retry == 0 for a in attempts) == 6 * 2
    assert all(a.pi.startswith("Your answer is incorrect. The correct answer is ") for a in attempts if a.retry)
    assert len(store.read("eval", EvalRecord)) == 5
    results = json.loads((store.root / "results.json").read_text())  # `formalpi run` writes it per seed
    assert results["fingerprint"] == store.manifest()["fingerprint"] and results["eval"]["problems"] == 5
    stages = store.manifest()["stages"]
    # the budget of every stage is in the manifest: samples, tokens, verifier calls, wall time, train tokens
    assert stages["attempts_r0"]["samples"] == 12 and stages["attempts_r0"]["completion_tokens"] > 0
    assert stages["verify_r0"]["verifier_calls"] == len(attempts)
    assert stages["eval"]["samples"] == 10 and stages["eval"]["verifier_calls"] == 10
    assert all(stages[s]["wall_s"] > 0 for s in ("attempts_r0", "verify_r0", "eval", "train_r0"))
    assert "train_tokens" in stages["train_r0"]


@pytest.mark.parametrize(
    "row, first_per_problem",
    [
        ("math_double_sample", 16),
        ("math_double_sample_matched", 2),
        ("math_temp_uniform", 8),
        ("math_frontier_rejection", 16),
        ("math_compute_matched", 4),
    ],
)
def test_control_rows_draw_their_samples(tiny_model, tmp_path, row, first_per_problem):
    sets = _tiny_overrides(tiny_model, tmp_path) + ["--set", "data.train_limit=3", "--set", "data.eval_limit=2"]
    res = CliRunner().invoke(app, ["run", str(ROOT / "experiments" / f"{row}.toml"), "--seeds", "7", *sets])
    assert res.exit_code == 0, res.output
    store = RunStore(tmp_path / row / "7")
    attempts = store.read("attempts", Attempt)
    judged = {j.attempt_id: j for j in store.read("verdicts", Judged)}
    first = [a for a in attempts if a.retry == 0]
    assert len(first) == 3 * first_per_problem
    retries = [a for a in attempts if a.retry]
    if row == "math_double_sample_matched":
        failed = [a for a in first if not judged[a.id].verdict.passed]
        assert len(retries) == len(failed)
        # the second sample saw the problem alone: its prompt is the first attempt's prompt
        by_problem = {a.problem_id: a.prompt for a in first}
        assert all(r.prompt == by_problem[r.problem_id] and r.pi == "" for r in retries)
    else:
        assert not retries
    if row == "math_frontier_rejection":
        for ex in store.read("examples", Example):
            rate = [judged[a.id].verdict.passed for a in first if a.problem_id == ex.problem_id]
            assert 0 < sum(rate) < len(rate)
    assert json.loads((store.root / "manifest.json").read_text())["stages"]["eval"]["done"]


def test_compute_matched_draws_the_retry_rows_realised_budget(tiny_model, tmp_path):
    # the matched retry row runs first (real samples, real verdicts); the control then draws, per problem, the
    # first attempts + retries that row actually spent at the same seed — not the worst case 2N
    sets = _tiny_overrides(tiny_model, tmp_path) + [
        "--set",
        "data.train_limit=3",
        "--set",
        "data.eval_limit=2",
        "--set",
        "train.max_steps=1",
    ]
    for row in ("math_try_again", "math_compute_matched"):
        res = CliRunner().invoke(app, ["run", str(ROOT / "experiments" / f"{row}.toml"), "--seeds", "7", *sets])
        assert res.exit_code == 0, res.output
    spent = RunStore(tmp_path / "math_try_again" / "7").manifest()["stages"]
    samples = spent["attempts_r0"]["samples"] + spent["retries_r0"]["samples"]
    tokens = spent["attempts_r0"]["completion_tokens"] + spent["retries_r0"]["completion_tokens"]
    store = RunStore(tmp_path / "math_compute_matched" / "7")
    first = [a for a in store.read("attempts", Attempt) if a.retry == 0]
    assert len(first) == 3 * max(1, round(samples / 3))
    m = store.manifest()
    assert m["stages"]["attempts_r0"]["samples"] == len(first)
    assert m["matched_budget_r0"] == {
        "per_problem": len(first) // 3,
        "run": str(tmp_path / "math_try_again" / "7"),
        "unit": "samples",
        "samples": samples,
        "completion_tokens": tokens,
        "problems": 3,
    }


def _recorded_retry_run(runs: Path, first: int, first_tokens: int, retries: int, retry_tokens: int) -> None:
    """A retry row's run store as the engine leaves it: its config and the budget of its round-0 stages."""
    store = RunStore.open(runs, "math_try_again", 7, {"sampling": {"n": 2}})
    store.add_budget("attempts_r0", samples=first, completion_tokens=first_tokens)
    store.add_budget("retries_r0", samples=retries, completion_tokens=retry_tokens)
    store.mark_done("examples_r0", count=0)  # the round's sampling is over


def test_compute_matched_run_draws_fewer_than_2n_when_the_retry_row_spent_less(tiny_model, tmp_path):
    # a retry row that spent 6 first attempts + 3 retries on 3 problems: the control draws 3 per problem, not 2N = 4
    _recorded_retry_run(tmp_path, 6, 60, 3, 120)
    sets = _tiny_overrides(tiny_model, tmp_path) + [
        "--set",
        "data.train_limit=3",
        "--set",
        "data.eval_limit=2",
        "--set",
        "train.max_steps=1",
    ]
    res = CliRunner().invoke(
        app, ["run", str(ROOT / "experiments" / "math_compute_matched.toml"), "--seeds", "7", *sets]
    )
    assert res.exit_code == 0, res.output
    store = RunStore(tmp_path / "math_compute_matched" / "7")
    assert sum(a.retry == 0 for a in store.read("attempts", Attempt)) == 9
    assert store.manifest()["matched_budget_r0"]["samples"] == 9


def test_compute_matched_per_problem_budget_in_samples_and_tokens(tmp_path, capsys):
    from formalpi.engine.matching import first_attempts_per_problem, matched_budget

    cm = get_condition("compute_matched")
    cfg = load_config(ROOT / "experiments" / "math_compute_matched.toml")
    cfg = cfg.model_copy(update={"runs_dir": str(tmp_path), "sampling": cfg.sampling.model_copy(update={"n": 2})})
    # no run of the matched row yet: the worst case 2N, said on stderr; a run that started so keeps it on resume
    control = RunStore.open(tmp_path / "control", "cm", 7, {})
    assert first_attempts_per_problem(cfg, cm, 7, 0, control, 3) == 4 and "worst-case 4" in capsys.readouterr().err
    # 3 problems x 2 first attempts (10 tokens each) and 3 retries (40 tokens each): 9 samples, 180 tokens
    _recorded_retry_run(tmp_path, 6, 60, 3, 120)
    got = matched_budget(cfg, cm, 7, 0, 3)
    assert (got.per_problem, got.samples, got.completion_tokens) == (3, 9, 180)  # 9 samples / 3 problems
    assert first_attempts_per_problem(cfg, cm, 7, 0, control, 3) == 4  # resumed: the budget it started with
    assert control.manifest()["matched_budget_r0"]["run"] is None
    by_tokens = cfg.model_copy(update={"retry": cfg.retry.model_copy(update={"match_unit": "tokens"})})
    assert matched_budget(by_tokens, cm, 7, 0, 3).per_problem == 6  # 180 tokens / (3 problems x 10 per attempt)
    with pytest.raises(Exception, match="same training problems"):
        matched_budget(cfg, cm, 7, 0, 5)  # the matched run trained on 3 problems, this one on 5
    assert matched_budget(cfg, get_condition("try_again"), 7, 0, 3).per_problem == 2  # retry rows: sampling.n


def test_temperature_spread_is_seeded_and_differs_from_one_temperature(tiny_model, tmp_path):
    from formalpi.domains.math.domain import MathDomain
    from formalpi.config import config_from_dict
    from formalpi.engine.backends import HFGenerator
    from formalpi.engine.retry import sample_attempts

    cfg = config_from_dict({"name": "t", "sampling": {"n": 3, "max_new_tokens": 12}})
    gen = HFGenerator.from_pretrained(tiny_model)
    with MathDomain() as dom:
        probs = dom.problems("arith", "train", limit=2)

        def draw(name, temps):
            store = RunStore.open(tmp_path, name, 1, {})
            return [
                a.completion
                for a in sample_attempts(
                    gen, dom, probs, n=3, cfg=cfg, seed=1, round_=0, store=store, temperatures=temps
                )
            ]

        a, b = draw("a", [0.0, 0.0, 0.0]), draw("b", [0.0, 0.0, 0.0])
        assert a == b and a[0] == a[1] == a[2]  # greedy at every temperature slot: identical samples
        with pytest.raises(ValueError, match="2 temperatures for n=3"):
            draw("c", [1.0, 1.0])


def test_rows_resolve_to_their_frozen_configs():
    """Every row's resolved config (its `base` chain applied) has the sha256 recorded in tests/data: rewriting the
    files (e.g. moving shared keys into a base) must not change a row. After an intended change of a row, write
    `now` below to that file (json.dumps(now, indent=1, sort_keys=True))."""
    import hashlib

    frozen = json.loads((ROOT / "tests" / "data" / "experiments_resolved.json").read_text())
    now = {
        p.stem: hashlib.sha256(json.dumps(load_config(p).model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[
            :16
        ]
        for p in ROWS
    }
    assert sorted(now) == sorted(frozen)
    assert [n for n in now if now[n] != frozen[n]] == []


def test_readme_rows_table_is_generated_from_the_files():
    from formalpi.devtools.experiments import main, readme_with_table, rows_table

    assert main([]) == 0  # `python -m formalpi.devtools.experiments --write` regenerates it
    readme = (ROOT / "experiments" / "README.md").read_text()
    table = rows_table(ROOT / "experiments")
    assert readme_with_table(readme, table) == readme and table.count("\n") == len(ROWS) + 2
    stale = readme.replace("| `math_gold` | math | retry | `gold` |", "| `math_gold` | math | retry | `wrong` |")
    assert stale != readme and readme_with_table(stale, table) == readme
