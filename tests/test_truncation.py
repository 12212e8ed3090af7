"""Truncation shares (first attempts, retries, eval) in the manifest, results.json and the report, with the
warning for a row whose eval truncates; and a resumed run naming the stages it did not run again. Real runs of the
shipped tiny model on arith, one at a short limit (most completions cut off) and one at a long one."""

from __future__ import annotations

import json

import pytest

from formalpi.analysis.report import ReportOptions, build_report, save_report
from formalpi.analysis.results import write_run_results
from formalpi.analysis.runs_index import read_run
from formalpi.config import config_from_dict, for_method
from formalpi.engine.experiment import run_experiment
from formalpi.records import Attempt, EvalRecord
from formalpi.tiny import ensure_tiny_model
from formalpi.truncation import EVAL_WARN_SHARE


@pytest.fixture(scope="module")
def tiny_model() -> str:
    return str(ensure_tiny_model())


def _cfg(model: str, runs, name: str, tokens: int, method: str = "retry"):
    return config_from_dict(
        for_method(
            {  # the [train] section for the rows that train
                "name": name,
                "condition": "try_again",
                "method": method,
                "runs_dir": str(runs),
                "model": {"path": model},
                "data": {"dataset": "arith", "train_limit": 4, "eval_limit": 6},
                "sampling": {"n": 2, "max_new_tokens": tokens, "batch_size": 64},
                "eval": {"n": 2, "max_new_tokens": tokens, "ks": [1]},
                "train": {"finetune": "lora", "lora_rank": 4, "lr": 1e-3, "epochs": 1, "batch_size": 4},
            },
            method,
        )
    )


def test_truncation_shares_warning_report_and_resumed_stages(tiny_model, tmp_path):
    short = run_experiment(_cfg(tiny_model, tmp_path, "short", 6), 1)
    store = short.store
    attempts = store.read("attempts", Attempt)
    evals = store.read("eval", EvalRecord)
    rec = store.manifest()["truncation"]
    first = [a.completion_tokens for a in attempts if a.retry == 0]
    retries = [a.completion_tokens for a in attempts if a.retry > 0]
    eval_tokens = [t for r in evals for t in r.completion_tokens]
    assert len(eval_tokens) == 12 and rec["eval"]["completions"] == 12
    assert rec["first_attempts"]["truncated"] == sum(t == 6 for t in first) > 0
    assert rec["retries"]["completions"] == len(retries) > 0
    assert rec["retries"]["truncated"] == sum(t == 6 for t in retries)
    assert rec["eval"]["truncated"] == sum(t == 6 for t in eval_tokens)
    assert rec["eval"]["share"] > EVAL_WARN_SHARE  # six tokens cannot hold a boxed answer with its working
    assert any(w.startswith("TRUNCATED:") for w in read_run(store.root).warnings)
    results = json.loads(write_run_results(store.root).read_text())
    assert results["truncation"] == rec

    long = run_experiment(_cfg(tiny_model, tmp_path, "long", 64, "baseline"), 1).store
    assert long.manifest()["truncation"]["eval"]["share"] <= EVAL_WARN_SHARE
    assert not any(w.startswith("TRUNCATED:") for w in read_run(long.root).warnings)

    # the two runs evaluate at different token limits on purpose: the comparability check is told so
    opts = ReportOptions(plots=False, n_boot=100, allow_different_eval=True)
    groups, div = build_report([tmp_path], opts)
    text = save_report(groups, div, tmp_path / "report", opts).read_text()
    section = text.split("## Truncation")[1].split("##")[0]
    assert "| try_again (!) |" in section
    assert "| baseline |" in section and "baseline (!)" not in section

    again = run_experiment(_cfg(tiny_model, tmp_path, "short", 6), 1)
    assert set(again.skipped_stages) >= {"train_r0", "eval"}  # a finished round is skipped by its training mark
    assert short.skipped_stages == ()
