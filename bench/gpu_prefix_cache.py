"""Why two vLLM engines (sharded eval) and one engine gave different records: a controlled A/B on one engine.

    python bench/gpu_prefix_cache.py --model /tmp/fb/qwen3-1.7b --prefix-caching on  --json pc_on.json
    python bench/gpu_prefix_cache.py --model /tmp/fb/qwen3-1.7b --prefix-caching off --json pc_off.json

The eval stage's real code (`evaluate`, chunks of 32, each seeded by its first problem) runs on one engine, as the
one-GPU run does (all chunks in order) and as the second shard of a two-GPU run does (the later chunks only, on an
engine that has run nothing before). Arms, in this order on the same engine:
  keep  - the prefix cache is kept from call to call (as VLLMGenerator does)
  reset - the cache is emptied before each call
For each arm: `all` = every chunk in order, `tail` = the later chunks alone, started on an empty cache;
each comparison counts identical records. Run it with and without VLLM_BATCH_INVARIANT=1 and with
`--prefix-caching on/off`: the setting under which every comparison is complete is the deterministic one
(measured: batch-invariant kernels and no prefix cache; docs/scaleout.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--prefix-caching", choices=["on", "off"], default="on")
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--memory", type=float, default=0.5)
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)

    from formalpi.config import VLLMConfig, config_from_dict
    from formalpi.domain import open_domain
    from formalpi.engine.backends import VLLMGenerator
    from formalpi.engine.evaluate import evaluate
    from formalpi.engine.stages import eval_problems
    from formalpi.runs import RunStore

    cfg = config_from_dict({"name": "pc", "domain": "math", "data": {"dataset": "arith", "eval_limit": a.problems}})
    domain = open_domain("math")
    problems = eval_problems(domain, cfg)
    chunk = 32
    tail = problems[chunk:]
    t0 = time.perf_counter()
    gen = VLLMGenerator(
        a.model,
        dtype="bfloat16",
        opts=VLLMConfig(
            gpu_memory_utilization=a.memory, enforce_eager=True, enable_prefix_caching=a.prefix_caching == "on"
        ),
    )
    start_s = time.perf_counter() - t0
    real_reset = gen.llm.reset_prefix_cache
    plain_generate = gen.generate

    def generate_on_empty_cache(prompts, params):  # the `reset` arm: every call starts on an empty cache
        real_reset()
        return plain_generate(prompts, params)

    def run(ps):
        with tempfile.TemporaryDirectory() as d:
            recs = evaluate(
                gen,
                domain,
                ps,
                n=a.n,
                temperature=a.temperature,
                top_p=1.0,
                max_new_tokens=a.new_tokens,
                seed=42,
                condition="baseline",
                store=RunStore(Path(d)),
                chunk_size=chunk,
            )
        return {r.problem_id: r.completions for r in recs}

    out: dict = {
        "prefix_caching": a.prefix_caching,
        "problems": len(problems),
        "tail": len(tail),
        "engine_start_s": round(start_s, 1),
    }
    res = {}
    for arm in ("keep", "reset"):
        gen.generate = plain_generate if arm == "keep" else generate_on_empty_cache
        real_reset()  # each arm starts on an empty cache, like a fresh engine
        res[arm, "all"] = run(problems)
        real_reset()
        res[arm, "tail"] = run(tail)
    res["reset", "again"] = run(problems)  # the fixed arm repeated: is the engine itself reproducible?
    head = [p.id for p in problems[:chunk]]
    t_ids = [p.id for p in tail]

    def same(x, y, ids):
        return sum(x[k] == y[k] for k in ids)

    out.update(
        {
            # the one-GPU run's later chunks vs the second shard's (the records the sharded eval compared)
            "keep: tail alone vs tail after the first chunk": same(res["keep", "tail"], res["keep", "all"], t_ids),
            "reset: tail alone vs tail after the first chunk": same(res["reset", "tail"], res["reset", "all"], t_ids),
            "reset: all vs all repeated": same(res["reset", "again"], res["reset", "all"], head + t_ids),
            # controls: both sides computed on an empty cache must agree across arms
            "first chunk, keep vs reset (both on an empty cache)": same(res["keep", "all"], res["reset", "all"], head),
            "tail alone, keep vs reset (both on an empty cache)": same(
                res["keep", "tail"], res["reset", "tail"], t_ids
            ),
            "reset: tail after the first chunk vs keep: tail alone": same(
                res["reset", "all"], res["keep", "tail"], t_ids
            ),
        }
    )
    gen.close()
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
