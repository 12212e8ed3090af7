"""How many completions of a run hit their `max_new_tokens`: first attempts, retries and eval samples.

A completion whose token count equals the limit was cut off (the stop token is not counted, so a completion that
ended by itself at the limit's last position has one token less). A truncated math completion has no final
answer, so a row whose eval truncates often reports a depressed pass@1 that looks like a result: the manifest
records the shares (key `truncation`), results.json repeats them, and every table made from a run whose eval
truncates more than `EVAL_WARN_SHARE` carries a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from formalpi.records import Attempt, EvalRecord
from formalpi.runs import RunStore

MANIFEST_KEY = "truncation"
# pass@1 can be depressed by up to the truncated share; 5 points is the size of the effects the tables compare
EVAL_WARN_SHARE = 0.05


def _share(tokens: Sequence[int], limit: int) -> dict[str, Any]:
    hit = sum(t >= limit for t in tokens)
    return {
        "completions": len(tokens),
        "truncated": hit,
        "share": round(hit / len(tokens), 4) if tokens else None,
        "max_new_tokens": limit,
    }


def truncation_record(store: RunStore, sampling_max: int, eval_max: int) -> dict[str, Any]:
    """The run's truncation shares from its records (eval: records without token counts, written before they
    were recorded, are left out; none at all gives share None)."""
    attempts = store.read("attempts", Attempt)
    evals = store.read("eval", EvalRecord)
    return {
        "first_attempts": _share([a.completion_tokens for a in attempts if a.retry == 0], sampling_max),
        "retries": _share([a.completion_tokens for a in attempts if a.retry > 0], sampling_max),
        "eval": _share([t for r in evals for t in r.completion_tokens], eval_max),
    }


def truncation_warning(manifest: dict[str, Any]) -> str | None:
    """The warning for a run whose eval truncated more than EVAL_WARN_SHARE, else None."""
    ev = (manifest.get(MANIFEST_KEY) or {}).get("eval") or {}
    share = ev.get("share")
    if share is None or share <= EVAL_WARN_SHARE:
        return None
    return (
        f"TRUNCATED: {100 * share:.1f}% of this run's eval completions ({ev.get('truncated')} of "
        f"{ev.get('completions')}) hit max_new_tokens = {ev.get('max_new_tokens')} (threshold "
        f"{100 * EVAL_WARN_SHARE:.0f}%); a cut-off completion has no final answer, so its pass@k is depressed. "
        "Raise eval.max_new_tokens, or for Qwen3 set model.enable_thinking = false"
    )
