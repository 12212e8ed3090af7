"""What every stage of a run shares: its problems (drawn per the config, checked for train/eval overlap), its
generator, and its timed budget. A low layer: experiment.py, opsd.py, iprs.py and shard.py import it, it imports none
of them (no import cycles: `python -m formalpi.devtools.imports`).

What the manifest records about the data (the `data` key, written by `record_data`):
  train_problems / eval_problems   how many problems each split gave this seed
  train_eval_overlap               problems in both (same id or same text); > 0 only with allow_train_on_eval,
                                   and then every table made from the run must carry a warning
  allow_train_on_eval, redraw_per_seed   the config's choices
  seed_varies                      what changes from one seed to the next (sampling, SFT data order, LoRA init,
                                   and the training problems themselves when redraw_per_seed is true)
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from formalpi.config import TRAINED, ExperimentBase, RetryExperiment
from formalpi.domain import Domain
from formalpi.engine.backends import Generator, generator_for
from formalpi.errors import ConfigError
from formalpi.records import Problem
from formalpi.runs import RunStore

DATA_KEY = "data"  # the manifest key of the data record (see the module docstring)


def condition_label(cfg: ExperimentBase) -> str:
    return cfg.label


@contextmanager
def stage(store: RunStore, name: str):
    """Time a stage; its wall time is added to the manifest whether or not the stage finishes."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        store.add_budget(name, wall_s=round(time.perf_counter() - t0, 3))


SEED_FIELD = "{seed}"


def start_model(cfg: ExperimentBase, seed: int) -> str:
    """`model.path` for this seed: "{seed}" in it is replaced by the seed, so a row can start from another row's
    checkpoint of the same seed (the SD-Zero + OPSD hybrid: runs/math_try_again/{seed}/checkpoint_r0)."""
    path = cfg.model.path
    if SEED_FIELD not in path:
        return path
    path = path.replace(SEED_FIELD, str(seed))
    if not Path(path).is_dir():
        raise ConfigError(
            f"model.path: {path} (from {cfg.model.path!r}) does not exist; run the row that writes it "
            f"for seed {seed} first, or set model.path to a checkpoint"
        )
    return path


def make_generator(cfg: ExperimentBase, path: str) -> Generator:
    """The run's generator for a model directory (`path` already resolved: run_experiment resolves "tiny")."""
    return generator_for(cfg.model, path, batch_size=cfg.sampling.batch_size)


def load_problems(
    domain: Domain, cfg: ExperimentBase, split: str, limit: int | None, seed: int | None = None
) -> list[Problem]:
    """A split's problems. With `data.redraw_per_seed` and a `seed`, the seed draws its own problems: the domain's
    seeded draw (arith) and, under a limit, a seeded subset of the whole split (in the split's order); else the
    same problems for every seed (the first `limit`)."""
    d = cfg.data
    if not (d.redraw_per_seed and seed is not None):
        return domain.problems(d.dataset, split, path=d.path, limit=limit)
    pool = domain.problems(d.dataset, split, path=d.path, limit=None, seed=seed)
    if limit is None or limit >= len(pool):
        return pool
    keep = set(random.Random(f"problems|{seed}|{split}").sample(range(len(pool)), limit))
    return [p for i, p in enumerate(pool) if i in keep]


def train_problems(domain: Domain, cfg: ExperimentBase, seed: int) -> list[Problem]:
    return load_problems(domain, cfg, cfg.data.train_split, cfg.data.train_limit, seed)


def eval_problems(domain: Domain, cfg: ExperimentBase) -> list[Problem]:
    """Evaluation problems are the same for every seed (the paired seeds x problems analysis needs that)."""
    return load_problems(domain, cfg, cfg.data.eval_split, cfg.data.eval_limit)


def _text_key(p: Problem) -> str:
    return " ".join(p.text.split()).lower()


def overlap(train: Sequence[Problem], evals: Sequence[Problem]) -> list[str]:
    """Ids of the eval problems that also occur among the training problems (same id or same text)."""
    ids, texts = {p.id for p in train}, {_text_key(p) for p in train}
    return [p.id for p in evals if p.id in ids or _text_key(p) in texts]


def seed_varies(cfg: ExperimentBase) -> list[str]:
    if not isinstance(cfg, TRAINED):
        return ["eval_sampling"]
    out = ["sampling", "sft_data_order" if isinstance(cfg, RetryExperiment) else "problem_order"]
    if cfg.train.finetune == "lora":
        out.append("lora_init")
    if cfg.data.redraw_per_seed:
        out.append("train_problems")
    return out


def check_data(cfg: ExperimentBase, train: Sequence[Problem], evals: Sequence[Problem]) -> dict[str, Any]:
    """The run's data record; raises ConfigError when train and eval overlap and the config does not allow it."""
    shared = overlap(train, evals)
    if shared and not cfg.data.allow_train_on_eval:
        raise ConfigError(
            f"data: {len(shared)} of the {len(evals)} eval problems ({cfg.data.dataset} {cfg.data.eval_split!r}) are "
            f"also training problems ({cfg.data.train_split!r}), e.g. {shared[0]}; train on another split "
            f'(math: `formalpi data fetch math` and data.dataset = "math", train_split = "train") or set '
            f"data.allow_train_on_eval = true to run anyway (every table made from the run then says so)"
        )
    return {
        "train_problems": len(train),
        "eval_problems": len(evals),
        "train_eval_overlap": len(shared),
        "allow_train_on_eval": cfg.data.allow_train_on_eval,
        "redraw_per_seed": cfg.data.redraw_per_seed,
        "seed_varies": seed_varies(cfg),
    }


def record_data(store: RunStore, record: dict[str, Any]) -> None:
    store.annotate(**{DATA_KEY: record})
