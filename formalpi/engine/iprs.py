"""IPRS, PI reward shaping: GRPO (TRL's GRPOTrainer) on the verifier's reward plus a shaping term from the
PI-conditioned teacher.

For a prompt x and a sampled completion y = (y_1 … y_n) (the policy's token ids, as TRL sampled them):

    r(x, y) = v(x, y) + λ · clip( (1/n) Σ_t [ log π_T(y_t | c, y_<t) − log π_T(y_t | x, y_<t) ], −C, C )

  * v: the domain verifier (`domain.verify_many`): 1 if VALID else 0 (`iprs.reward = "binary"`), or the verdict's
    graded score (`"graded"`);
  * π_T: the teacher, the starting model (the policy's LoRA adapter disabled; full fine-tuning: a frozen copy);
  * c: the teacher context of `formalpi.engine.opsd.teacher_turns`: for retry-style PI, the retry conversation
    with ANOTHER failed completion z of the same prompt's group as the attempt and the PI computed from z's
    verdict (the first such in the group; a teacher shown y itself would copy it, rewarding failures), for every
    sample of the group, passed or failed; for attempt-free conditions (`answer_only`, `skeleton`) the PI in
    the user turn. Where there is none (no other failure in the group, a condition that returns None) the
    shaping term is 0;
  * λ = `iprs.shaping_lambda`, C = `iprs.clip`. λ = 0 is plain GRPO on the verifier's reward.
TRL sums the two reward functions with weights (1, λ) and does the group normalisation; the two are logged
separately (`rewards/verifier/mean`, `rewards/shaping/mean`), and per step into the run store (`iprs_steps.jsonl`).

Resumability: the trainer checkpoints every `iprs.save_every` steps under the run directory; a resumed stage
continues from the last checkpoint (TRL/transformers restore weights, optimizer, scheduler and RNG) and drops the
step records written after it. A finished stage is skipped whole.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from formalpi.config import IPRSConfig, IPRSExperiment
from formalpi.domain import Domain
from formalpi.pi_condition import Condition, PIContext
from formalpi.engine.conditions import get_condition
from formalpi.engine.context import TrainContext
from formalpi.engine.opsd import (
    TeacherContext,
    is_peft,
    load_student,
    pack,
    render,
    resolve_teacher_context,
    save_model,
    teacher_turns,
)
from formalpi.engine.stages import stage, train_problems
from formalpi.errors import ConfigError
from formalpi.records import Attempt, Problem, Record, Verdict
from formalpi.runs import RunStore

STEPS_STAGE = "iprs_steps"
CHECKPOINT_DIR = "checkpoint_iprs"
TRAINER_DIR = "iprs_trainer"


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """[B, L] log-probability of each given token under [B, L, V] logits."""
    return torch.log_softmax(logits, -1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)


def shaping_values(logp_pi: torch.Tensor, logp_plain: torch.Tensor, mask: torch.Tensor, clip: float) -> torch.Tensor:
    """[B] clip(mean over the completion tokens of log π_T(y_t|c) − log π_T(y_t|x), −clip, clip)."""
    mean = ((logp_pi - logp_plain) * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)
    return mean.clamp(-clip, clip)


class IPRSStep(Record):
    """One logged IPRS (GRPO) step: the `iprs_steps.jsonl` line."""

    step: int
    loss: float
    reward: float | None = None
    verifier: float | None = None
    shaping: float | None = None  # mean of the clipped shaping term (before λ)


class IPRSRewards:
    """The two reward functions TRL calls: `verifier` first (it caches the verdicts), then `shaping`."""

    def __init__(
        self,
        domain: Domain,
        condition: Condition,
        kind: TeacherContext,
        problems: Sequence[Problem],
        policy,
        tokenizer,
        cfg: IPRSConfig,
        seed: int,
        extras: Mapping[str, Any] | None = None,
        store: RunStore | None = None,
        enable_thinking: bool | None = None,
    ):
        self.store = store  # where the budget goes (stage "iprs"): samples, tokens, verifier calls
        self.enable_thinking = enable_thinking  # model.enable_thinking, as TRL renders the policy's prompts
        self.domain, self.condition, self.kind, self.cfg, self.seed = domain, condition, kind, cfg, seed
        self.problems = list(problems)
        self.by_id = {p.id: p for p in problems}
        self.policy, self.tok = policy, tokenizer
        self.extras = extras or {}
        self.frozen = None
        if not is_peft(policy):  # full fine-tuning: the teacher is a frozen copy of the starting model
            import copy

            self.frozen = copy.deepcopy(policy).eval().requires_grad_(False)
        self._verdicts: dict[tuple[str, str], Verdict] = {}

    @staticmethod
    def _text(completion: Any) -> str:
        return completion[-1]["content"] if isinstance(completion, list) else str(completion)

    def verifier(self, prompts, completions, completion_ids, problem_id, **_: Any) -> list[float]:
        texts = [self._text(c) for c in completions]
        verdicts = self.domain.verify_many([self.by_id[pid] for pid in problem_id], texts)
        self._verdicts = {(pid, t): v for pid, t, v in zip(problem_id, texts, verdicts)}
        if self.store is not None:  # TRL calls the verifier once per generated completion: the step's budget
            generated = sum(len(ids) for ids in completion_ids)
            prompt_tokens = sum(
                len(render(self.tok, [("user", self.domain.prompt(self.by_id[pid]))], self.enable_thinking))
                for pid in problem_id
            )
            self.store.add_budget(
                "iprs",
                samples=len(texts),
                completion_tokens=generated,
                train_tokens=prompt_tokens + generated,
                verifier_calls=len(texts),
            )
        if self.cfg.reward == "graded":
            return [float(v.score) for v in verdicts]
        return [1.0 if v.passed else 0.0 for v in verdicts]

    def shaping(self, prompts, completions, completion_ids, problem_id, **_: Any) -> list[float]:
        texts = [self._text(c) for c in completions]
        out = [0.0] * len(texts)
        contexts = []
        for i, (pid, text) in enumerate(zip(problem_id, texts)):
            p = self.by_id[pid]
            verdict = self._verdicts.get((pid, text))
            if verdict is None:  # verifier not called first (reordered reward functions): check here
                verdict = self.domain.verify_many([p], [text])[0]
                if self.store is not None:
                    self.store.add_budget("iprs", verifier_calls=1)
            attempt = Attempt(
                id=f"{pid}|iprs|{i}", problem_id=pid, prompt=self.domain.prompt(p), completion=text, seed=self.seed
            )
            contexts.append(
                PIContext(
                    problem=p,
                    attempt=attempt,
                    verdict=verdict,
                    seed=self.seed,
                    problems=self.problems,
                    extras=self.extras,
                )
            )
        groups: dict[str, list[int]] = {}  # the completions of one prompt (TRL's group), in order
        for i, pid in enumerate(problem_id):
            groups.setdefault(pid, []).append(i)
        rows: list[
            tuple[int, list[int], list[int], list[int]]
        ] = []  # (index, plain prompt ids, teacher prompt ids, completion ids)
        for i, (pid, ids) in enumerate(zip(problem_id, completion_ids)):
            ctx = contexts[i]
            if self.kind is TeacherContext.RETRY:  # another failure of the group, never sample i itself
                k = next((o for o in groups[pid] if o != i and not contexts[o].verdict.passed), None)
                if k is None:
                    continue
                ctx = contexts[k]
            prompt = self.domain.prompt(ctx.problem)
            turns = teacher_turns(self.kind, self.condition, prompt, ctx, on_passed="skip")
            ids = list(ids)
            if turns is not None and ids:
                rows.append(
                    (
                        i,
                        render(self.tok, [("user", prompt)], self.enable_thinking),
                        render(self.tok, turns, self.enable_thinking),
                        ids,
                    )
                )
        if not rows:
            return out
        values = self._teacher_shaping(rows)
        for row, v in zip(rows, values):
            out[row[0]] = v
        return out

    def _teacher_shaping(self, rows) -> list[float]:
        """The clipped shaping value of each (index, plain ids, teacher ids, completion ids) row: the teacher's
        token log-probabilities through its LM head chunk by chunk, `micro` rows per forward (no [B, L, V] tensor)."""
        from formalpi.engine.losses import completion_hidden, lm_head
        from formalpi.engine.losses import token_logprobs as chunked_logprobs

        device = next(self.policy.parameters()).device
        model = self.frozen if self.frozen is not None else self.policy
        head = lm_head(model)
        micro = self.cfg.per_device_train_batch_size or 8
        values: list[float] = []
        for a in range(0, len(rows), micro):
            part = rows[a : a + micro]
            comps = [r[3] for r in part]
            plain = pack([r[1] for r in part], comps, self.tok.pad_token_id, device)
            with_pi = pack([r[2] for r in part], comps, self.tok.pad_token_id, device)
            targets = torch.cat([torch.tensor(c, dtype=torch.long) for c in comps]).to(device)
            ctx = self.policy.disable_adapter() if self.frozen is None else nullcontext()
            with torch.no_grad(), ctx:
                h_pi = completion_hidden(
                    model, with_pi.input_ids, with_pi.attention_mask, with_pi.positions, with_pi.mask
                )
                h_plain = completion_hidden(model, plain.input_ids, plain.attention_mask, plain.positions, plain.mask)
            diff = chunked_logprobs(h_pi, targets, head) - chunked_logprobs(h_plain, targets, head)
            # back to [rows, L] (row-major, as completion_hidden flattened them) for the per-sample mean
            per_row = torch.zeros_like(plain.mask)
            per_row[plain.mask.bool()] = diff.to(per_row.dtype)
            values += shaping_values(per_row, torch.zeros_like(per_row), plain.mask, self.cfg.clip).tolist()
        return values


def micro_batch(g: IPRSConfig) -> int:
    """Completions per forward/backward: the configured value, else the largest divisor of the step's
    completions up to 8."""
    total = g.batch_size * g.num_generations
    if g.per_device_train_batch_size is not None:
        return g.per_device_train_batch_size
    return max(d for d in range(1, min(8, total) + 1) if total % d == 0)


def _step_logger(store: RunStore):
    from transformers import TrainerCallback

    class StepLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                store.append(
                    STEPS_STAGE,
                    [
                        IPRSStep(
                            step=state.global_step,
                            loss=float(logs["loss"]),
                            reward=logs.get("reward"),
                            verifier=logs.get("rewards/verifier/mean"),
                            shaping=logs.get("rewards/shaping/mean"),
                        )
                    ],
                )

    return StepLog()


def last_checkpoint(trainer_dir: Path) -> tuple[str | None, int]:
    from transformers.trainer_utils import get_last_checkpoint

    if not trainer_dir.is_dir():
        return None, 0
    last = get_last_checkpoint(str(trainer_dir))
    return (last, int(Path(last).name.split("-")[-1])) if last else (None, 0)


def keep_steps_upto(store: RunStore, step: int) -> None:
    records = store.read(STEPS_STAGE, IPRSStep)
    kept = [r for r in records if r.step <= step]
    if len(kept) != len(records):
        p = store.path(STEPS_STAGE)
        tmp = p.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(r.model_dump_json() + "\n" for r in kept))
        tmp.replace(p)


def build_trainer(
    cfg: IPRSExperiment,
    seed: int,
    domain: Domain,
    model_path: str,
    problems: Sequence[Problem],
    output_dir: Path,
    extras: Mapping[str, Any] | None = None,
    callbacks=(),
    store: RunStore | None = None,
):
    """(TRL GRPOTrainer, IPRSRewards) for `cfg.iprs` on `problems`; the policy is LoRA-wrapped per `cfg.train`."""
    from datasets import Dataset
    from trl import GRPOConfig as TRLGRPOConfig
    from trl import GRPOTrainer

    from formalpi.engine.backends import resolve_device

    g = cfg.iprs
    condition = get_condition(cfg.condition, domain)
    if condition.pi is None and g.shaping_lambda > 0:
        raise ConfigError(
            f"condition: {cfg.condition!r} shows no PI, so there is no shaping term; choose a "
            f"condition with PI or set iprs.shaping_lambda = 0"
        )
    kind = resolve_teacher_context("auto", condition.name)
    device = resolve_device(cfg.model.device)
    policy, tok = load_student(model_path, cfg.train, device, cfg.model.dtype, seed)
    rewards = IPRSRewards(
        domain,
        condition,
        kind,
        problems,
        policy,
        tok,
        g,
        seed,
        extras,
        store=store,
        enable_thinking=cfg.model.enable_thinking,
    )
    funcs: list[Any] = [rewards.verifier]
    weights = [1.0]
    if g.shaping_lambda > 0:
        funcs.append(rewards.shaping)
        weights.append(g.shaping_lambda)
    on_gpu = device.startswith("cuda")
    micro = micro_batch(g)
    # model.backend = "vllm": TRL's own colocated engine (sleep mode: its memory is released while training runs);
    # the one exception to "one generation service" (docs/performance.md, "OPSD and IPRS")
    vllm_args: dict[str, Any] = {}
    if cfg.model.backend == "vllm":
        vllm_args = dict(
            use_vllm=True,
            vllm_mode="colocate",
            vllm_enable_sleep_mode=True,
            vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
            vllm_max_model_length=cfg.model.vllm.max_model_len,
        )
    args = TRLGRPOConfig(
        output_dir=str(output_dir),
        seed=seed,
        data_seed=seed,
        learning_rate=g.lr,
        max_steps=g.steps,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=g.batch_size * g.num_generations // micro,
        num_generations=g.num_generations,
        max_completion_length=g.max_new_tokens,
        temperature=g.temperature,
        beta=g.beta,
        reward_weights=weights,
        logging_steps=1,
        save_strategy="steps",
        save_steps=g.save_every,
        report_to="none",
        use_cpu=not on_gpu,
        bf16=on_gpu and next(policy.parameters()).dtype == torch.bfloat16,
        disable_tqdm=True,
        dataloader_num_workers=0,
        lr_scheduler_type="constant",
        **vllm_args,
        chat_template_kwargs=None
        if cfg.model.enable_thinking is None
        else {"enable_thinking": cfg.model.enable_thinking},
    )
    dataset = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": domain.prompt(p)}], "problem_id": p.id} for p in problems]
    )
    if vllm_args:  # TRL builds its engine in this process: one per process, and vLLM's process-wide settings back
        from formalpi.engine.colocate import claim_engine_for_trl, vllm_env_restored

        claim_engine_for_trl()
    with vllm_env_restored() if vllm_args else nullcontext():
        trainer = GRPOTrainer(
            model=policy,
            reward_funcs=funcs,
            args=args,
            train_dataset=dataset,
            processing_class=tok,
            callbacks=list(callbacks),
        )
    from transformers import PrinterCallback, ProgressCallback

    for cb in (PrinterCallback, ProgressCallback):  # steps go to the run store, not stdout
        trainer.remove_callback(cb)
    return trainer, rewards


def train_iprs(ctx: TrainContext[IPRSExperiment]) -> str:
    """The `iprs` stage: GRPO with PI reward shaping; a merged checkpoint. Returns its path."""
    import logging

    cfg, seed, store, domain = ctx.cfg, ctx.seed, ctx.store, ctx.domain

    ckpt = store.root / CHECKPOINT_DIR
    if store.is_done("iprs"):
        return str(ckpt)
    problems = train_problems(domain, cfg, seed)
    trainer_dir = store.root / TRAINER_DIR
    resume, at = last_checkpoint(trainer_dir)
    keep_steps_upto(store, at)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    trainer, rewards = build_trainer(
        cfg,
        seed,
        domain,
        ctx.model_path,
        problems,
        trainer_dir,
        ctx.extras,
        callbacks=[_step_logger(store)],
        store=store,
    )
    advance = ctx.progress(f"IPRS (GRPO) steps ({cfg.condition}, seed {seed})", cfg.iprs.steps)
    advance(at)
    with stage(store, "iprs"):
        out = trainer.train(resume_from_checkpoint=resume)
        advance(cfg.iprs.steps - at)
        save_model(rewards.policy, rewards.tok, ckpt)
    shutil.rmtree(trainer_dir, ignore_errors=True)
    steps = store.read(STEPS_STAGE, IPRSStep)
    store.mark_done("iprs", steps=out.global_step, problems=len(problems), final_loss=steps[-1].loss if steps else None)
    return str(ckpt)
