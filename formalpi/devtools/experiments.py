"""`python -m formalpi.devtools.experiments [--write]`: the "Rows" table of experiments/README.md, made from the
experiment files themselves (each file's first comment line says what the row is; the other columns are read from
its resolved config, `base` chain included). Without `--write` it exits 1 when the README's table is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from formalpi.config import ExperimentConfig, IPRSExperiment, OPSDExperiment, RetryExperiment, load_config

TABLE_HEAD = (
    "| File | Domain | Method | Condition | Fine-tuning | Ablation | What |\n"
    "| --- | --- | --- | --- | --- | --- | --- |\n"
)
# the models the seed's rows use by default, per domain; any other hub model is named in the Ablation column
SEED_MODELS = {
    "math": "Qwen/Qwen3-1.7B",
    "code": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
    "lean": "AI-MO/Kimina-Prover-Preview-Distill-1.5B",
}


def _model_label(path: str) -> str:
    """`Qwen/Qwen3-8B` -> `Qwen3-8B`, `Qwen/Qwen2.5-Coder-7B-Instruct` -> `Coder-7B`."""
    name = path.rsplit("/", 1)[-1].removesuffix("-Instruct")
    return name.removeprefix("Qwen2.5-")


def _ablation(cfg: ExperimentConfig) -> str:
    parts = []
    model = cfg.model.path
    if model != SEED_MODELS[cfg.domain] and "/" in model and not model.startswith("runs/"):
        parts.append(_model_label(model))
    if isinstance(cfg, RetryExperiment):
        if cfg.retry.k != 1:
            parts.append(f"K={cfg.retry.k}")
        if cfg.retry.rounds != 1:
            parts.append(f"R={cfg.retry.rounds}")
        if cfg.retry.filter == "graded":
            parts.append(f"graded>={cfg.retry.threshold:g}")
    if isinstance(cfg, OPSDExperiment) and cfg.opsd.frontier:
        parts.append(f"band {cfg.opsd.frontier_low * 100:.0f}-{cfg.opsd.frontier_high * 100:.0f} %")
    if len(cfg.seeds) != 3:
        parts.append(f"{len(cfg.seeds)} seeds")
    return ", ".join(parts) or "—"


def _finetuning(cfg: ExperimentConfig) -> str:
    """What the row trains and at which lr (the method's own: `train.lr` for SFT, `opsd.lr` / `iprs.lr`)."""
    if isinstance(cfg, RetryExperiment):
        lr, steps = cfg.train.lr, cfg.train.max_steps
    elif isinstance(cfg, OPSDExperiment):
        lr, steps = cfg.opsd.lr, cfg.opsd.steps
    elif isinstance(cfg, IPRSExperiment):
        lr, steps = cfg.iprs.lr, cfg.iprs.steps
    else:
        return "—"
    t = cfg.train
    text = f"LoRA r={t.lora_rank}, lr {lr:g}" if t.finetune == "lora" else f"full FT, lr {lr:g}"
    return text + (f", {steps} steps" if steps is not None else "")


def _what(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    if not first.startswith("# "):
        raise ValueError(f"{path}: the first line must be a comment saying what the row is (`# retry-STaR, ...`)")
    return first.removeprefix("# ").strip()


def rows_table(experiments: Path) -> str:
    lines = []
    for path in sorted(experiments.glob("*.toml")):
        cfg = load_config(path)
        lines.append(
            f"| `{cfg.name}` | {cfg.domain} | {cfg.method} | `{cfg.condition}` | {_finetuning(cfg)} "
            f"| {_ablation(cfg)} | {_what(path)} |\n"
        )
    return TABLE_HEAD + "".join(lines)


def readme_with_table(readme: str, table: str) -> str:
    """The README's text with its "Rows" table (from its head line to the first line not in the table) replaced."""
    start = readme.index(TABLE_HEAD)
    end = start + len(TABLE_HEAD)
    while end < len(readme) and readme.startswith("|", end):
        end = readme.index("\n", end) + 1
    return readme[:start] + table + readme[end:]


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[2] / "experiments"
    readme_path = root / "README.md"
    readme = readme_path.read_text()
    wanted = readme_with_table(readme, rows_table(root))
    if "--write" in argv:
        readme_path.write_text(wanted)
        return 0
    if wanted != readme:
        print(f"{readme_path}: the Rows table is out of date: run python -m formalpi.devtools.experiments --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
