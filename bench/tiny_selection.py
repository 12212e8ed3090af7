"""Choosing the tiny model: train a pretraining mixture with checkpoints, then the design criteria per checkpoint.

    .venv/bin/python bench/tiny_selection.py --name A --mix plain=0.4,try_again=0.15,answer=0.25,unrelated=0.05,reask=0.15 \
        --steps 6000 --every 1000 [--work /tmp/tiny-selection] [--eval-from 2000]
    .venv/bin/python bench/tiny_selection.py --evaluate DIR [DIR ...]      # checkpoints already on disk

Per checkpoint, the criteria of docs/demo.md, section 1: (a) base pass@1 on the demo's 250 held-out problems x 4
(T = 1), overall and per level; (b) greedy copy rates per level (`formalpi.demo.copy_probe`: the gold condition's
exact wording stating the true answer or another problem's); (c) the probe of `formalpi tiny train`
(`formalpi.demo.probe_pi`: retry yield per condition against a fresh sample, PI-copy at T = 1). Prints markdown.

Checkpoint S of a run is what `TinySpec(mix=..., steps=S)` trains (constant learning rate after warm-up, data drawn
per step: tests/test_tiny.py), so the chosen one ships by copying it into formalpi/tiny_assets/ and setting
`TinySpec.steps = S`. One torch thread per process: run two candidates side by side on two cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.append(str(Path(__file__).resolve().parents[1]))  # last: a checkout on PYTHONPATH wins


def parse_mix(text: str) -> tuple[tuple[str, float], ...]:
    from formalpi.tiny import KINDS

    try:
        mix = tuple((k.strip(), float(w)) for k, w in (part.split("=") for part in text.split(",")))
    except ValueError:
        sys.exit(f"--mix: expected kind=weight,... (kinds: {', '.join(KINDS)}), got {text!r}")
    if bad := [k for k, _ in mix if k not in KINDS]:
        sys.exit(f"--mix: unknown kind(s) {bad} (kinds: {', '.join(KINDS)})")
    if abs(sum(w for _, w in mix) - 1) > 1e-9:
        sys.exit(f"--mix: weights must sum to 1 (got {sum(w for _, w in mix)})")
    return mix


def train_with_checkpoints(name: str, mix, steps: int, every: int, work: Path) -> list[Path]:
    from formalpi.tiny import TinySpec, train_tiny

    root = work / name
    t0 = time.perf_counter()
    saved: list[Path] = []

    def on_step(step: int, loss: float) -> None:
        if (step + 1) % 100 == 0:
            print(f"{name}: step {step + 1}/{steps}, loss {loss:.4f}, {time.perf_counter() - t0:.0f} s", flush=True)

    def on_checkpoint(step: int, model, tok) -> None:
        if step % every == 0 and step < steps:
            out = root / f"step{step}"
            model.save_pretrained(out)
            tok.save_pretrained(out)
            saved.append(out)

    saved.append(
        train_tiny(TinySpec(mix=mix, steps=steps), root / f"step{steps}", on_step=on_step, on_checkpoint=on_checkpoint)
    )
    print(f"{name}: {steps} steps in {time.perf_counter() - t0:.0f} s", flush=True)
    return saved


def evaluate(path: Path) -> str:
    from formalpi.analysis.manipulation import manipulation_markdown
    from formalpi.analysis.tables import markdown_table
    from formalpi.demo import copy_probe, copy_probe_markdown, probe_pi
    from formalpi.tiny import base_pass_at_1

    t0 = time.perf_counter()
    base = base_pass_at_1(str(path), n=4)
    parts = [
        f"### {path}",
        "(a) base pass@1 %, 250 held-out problems x 4, T = 1:",
        markdown_table(tuple(base), [tuple(f"{v['pass@1']:.1f}" for v in base.values())]),
        "(b) greedy copy rates, the gold condition's wording:",
        copy_probe_markdown(copy_probe(str(path))),
    ]
    with tempfile.TemporaryDirectory() as d:
        parts += [
            "(c) probe, 250 training problems x 4, one retry per failure:",
            manipulation_markdown(probe_pi(str(path), Path(d))),
        ]
    parts.append(f"({time.perf_counter() - t0:.0f} s)")
    return "\n\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", default="candidate")
    ap.add_argument("--mix", help="kind=weight,... (default: the shipped TinySpec's)")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--eval-from", type=int, default=0, help="evaluate checkpoints from this step on")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tiny-selection")
    ap.add_argument("--evaluate", nargs="+", type=Path, metavar="DIR", help="only evaluate these checkpoints")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.evaluate:
        paths = args.evaluate
    else:
        from formalpi.tiny import MIX

        paths = train_with_checkpoints(
            args.name, parse_mix(args.mix) if args.mix else MIX, args.steps, args.every, args.work
        )
        paths = [p for p in paths if int(p.name.removeprefix("step")) >= args.eval_from]
    for p in paths:
        print(evaluate(p), flush=True)


if __name__ == "__main__":
    main()
