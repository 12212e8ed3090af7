"""On-policy self-distillation (OPSD): the student samples from the problem alone; the teacher is the same model
with the PI in its context; the loss is a per-token divergence on the student's own tokens.

One step, for a batch of training problems:
  1. the student samples y ~ π_θ(· | x) from the plain prompt x (on-policy; token ids kept, no re-tokenisation);
  2. the domain verifies y; the teacher context c is built (see `teacher_turns`): with retry-style PI it shows
     another failed sample z of the same problem and z's verdict, never y itself;
  3. loss = mean over the completion tokens of all kept samples of D(π_θ(·|x, y<t) ‖ π_T(·|c, y<t)), where D is
     reverse KL or TRL's generalized JSD (β), over the full vocabulary or the student's top-k plus a tail bucket;
     the prompt never contributes (the mask covers exactly the completion tokens, EOS included when sampled);
  4. logged per step (`opsd_steps.jsonl`): loss, tokens, and `teacher_pi_kl` = mean over the same tokens of
     KL(π_T(·|c, y<t) ‖ π_T(·|x, y<t)): whether the PI changed the teacher at all.

The teacher context (`OPSDConfig.teacher_context`):
  * "retry": the retry conversation `retry_turns(prompt, attempt, pi)` with a failed sample of the student as the
    attempt and the condition's PI (computed from that sample's verdict) as the next user turn. The attempt shown is
    never the sample scored: a language model copies from its context, so a teacher shown y puts high probability
    on y, and the loss would pull the student towards its own failure (and `teacher_pi_kl` would measure copying).
    Each problem therefore gets one extra student sample per step, drawn with the scored ones and counted in the
    budget; the context of scored sample j is the first failed sample among (the extra one, the other scored
    ones), see `context_sample`. A scored sample with no other failure to show is left out. A sample that passed
    has no failure of its own to fix: `on_passed = "skip"` leaves it out of the loss, "plain" distils it towards
    the teacher without PI (the plain prompt).
  * "prompt": the PI appended to the problem's user turn (`prompt + "\\n\\n" + pi`), for every sample, passed or not:
    for conditions whose PI needs no failed attempt (`answer_only`: the gold answer only; Lean `skeleton`).
  * "auto": "prompt" for the attempt-free conditions in `ATTEMPT_FREE`, else "retry".
  A condition that returns None for a sample (no skeleton for this problem, ...) leaves the sample out.

The teacher's weights (`OPSDConfig.teacher`): "base" = the student with its LoRA adapter disabled (the starting
model; full fine-tuning uses a frozen copy); "frozen" = a frozen copy of the starting student; "ema" = a copy whose
trainable weights follow the student's by an exponential moving average (`ema_decay`).

Frontier gating ("PCCG", `OPSDConfig.frontier`): before training, the base model's solve rate on each training
problem is estimated from `frontier_n` samples seeded by seed + `frontier_seed_offset` (stage `frontier`, never the
evaluation's samples), and only problems with `frontier_low <= rate <= frontier_high` are trained on.

What TRL gives and what is written here: the divergences are TRL's (`trl.experimental.sdft.loss_utils`:
`compute_full_logit_self_distillation_loss`, `compute_topk_self_distillation_loss`). TRL's `SDFTTrainer` is not
used: it composes the teacher prompt from a fixed dataset column before sampling, so it cannot show the teacher
the student's own failed sample and its verdict, and it has no resumable run store, frontier gating or teacher-PI
KL. The step loop, the teacher context, gating and resumability are therefore written here.

Resumability: step t samples with a seed that depends only on (seed, t) and picks its problems the same way; every
`save_every` steps the trainable weights, the optimizer (and an EMA teacher) are saved atomically; a resumed run
restores the last snapshot, drops the step records written after it, and recomputes the same steps.
"""

from __future__ import annotations

import copy
import gc
import os
import random
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import torch

from formalpi.config import FinetuneConfig, OPSDConfig, OPSDExperiment
from formalpi.domain import Domain
from formalpi.pi_condition import Condition, PIContext
from formalpi.engine.conditions import get_condition, retry_turns
from formalpi.engine.context import TrainContext
from formalpi.engine.evaluate import chunk_seed, evaluate
from formalpi.engine.stages import make_generator, stage, train_problems
from formalpi.errors import ConfigError
from formalpi.records import Attempt, EvalRecord, Problem, Record
from formalpi.runs import RunStore

STEPS_STAGE = "opsd_steps"
FRONTIER_STAGE = "frontier"
STATE_FILE = "opsd_state.pt"
CHECKPOINT_DIR = "checkpoint_opsd"


# ---- the teacher context ----------------------------------------------------------------------------------


class TeacherContext(str, Enum):
    RETRY = "retry"  # retry_turns(prompt, the student's failed sample, pi)
    PROMPT = "prompt"  # the PI appended to the problem's user turn


# conditions whose PI does not depend on a failed attempt: shown in the first user turn for every sample
ATTEMPT_FREE = frozenset({"answer_only", "skeleton"})


def resolve_teacher_context(setting: str, condition: str) -> TeacherContext:
    if setting == "auto":
        return TeacherContext.PROMPT if condition in ATTEMPT_FREE else TeacherContext.RETRY
    return TeacherContext(setting)


def context_sample(scored: int, failed: Sequence[bool]) -> int | None:
    """The sample whose failure the teacher sees while scoring sample `scored` of a problem, or None.

    `failed[k]` says whether sample k of the problem failed; the last entry is the extra context sample. The extra
    sample comes first, then the other scored samples in order; the scored sample itself is never chosen."""
    extra = len(failed) - 1
    for k in [extra, *range(extra)]:
        if k != scored and failed[k]:
            return k
    return None


def teacher_turns(
    kind: TeacherContext, condition: Condition, prompt: str, ctx: PIContext, on_passed: str = "skip"
) -> list[tuple[str, str]] | None:
    """The teacher's conversation for one student sample (`ctx.attempt`), or None: no loss on this sample."""
    if kind is TeacherContext.RETRY and ctx.verdict.passed:
        return [("user", prompt)] if on_passed == "plain" else None
    pi = condition.pi(ctx) if condition.pi is not None else None
    if pi is None:
        return None
    if kind is TeacherContext.PROMPT:
        return [("user", with_pi(prompt, pi))]
    return retry_turns(prompt, ctx.attempt, pi)


def with_pi(prompt: str, pi: str) -> str:
    """The problem's user turn with the PI added: after it, or, when the prompt ends inside a code block it opened
    for the answer to continue (Lean: "```lean4\n<statement>"), before that block, so the PI is read as text and
    not as code the answer continues."""
    fences = [m.start() for m in re.finditer(r"^[ \t]*```", prompt, re.M)]
    if len(fences) % 2 == 1:
        at = fences[-1]
        return f"{prompt[:at].rstrip()}\n\n{pi}\n\n{prompt[at:]}"
    return f"{prompt}\n\n{pi}"


# ---- token-level pieces -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packed:
    """Right-padded prompt+completion rows and where each completion token's predicting logit sits."""

    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    positions: torch.Tensor  # [B, L]: index of the logit that predicts completion token j (prompt_len + j - 1)
    mask: torch.Tensor  # [B, L] float: 1 on real completion tokens, 0 on padding


def pack(
    prompts: Sequence[list[int]], completions: Sequence[list[int]], pad_id: int, device: torch.device | str = "cpu"
) -> Packed:
    rows = [p + c for p, c in zip(prompts, completions)]
    width = max(len(r) for r in rows)
    length = max(1, max(len(c) for c in completions))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    pos = torch.zeros((len(rows), length), dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.float32)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        ids[i, : len(p) + len(c)] = torch.tensor(p + c, dtype=torch.long)
        attn[i, : len(p) + len(c)] = 1
        pos[i, : len(c)] = torch.arange(len(p) - 1, len(p) - 1 + len(c))
        mask[i, : len(c)] = 1.0
    return Packed(ids.to(device), attn.to(device), pos.to(device), mask.to(device))


def completion_logits(model, packed: Packed) -> torch.Tensor:
    """[B, L, V] float32 logits predicting each completion token (garbage where the mask is 0)."""
    logits = model(input_ids=packed.input_ids, attention_mask=packed.attention_mask, use_cache=False).logits
    index = packed.positions.unsqueeze(-1).expand(-1, -1, logits.shape[-1])
    return torch.gather(logits, 1, index).float()


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the unmasked entries (every completion token of the batch weighs the same)."""
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """[B, L] KL(p ‖ q) over the full vocabulary."""
    lp, lq = torch.log_softmax(p_logits, -1), torch.log_softmax(q_logits, -1)
    return (lp.exp() * (lp - lq)).sum(-1)


# ---- models -------------------------------------------------------------------------------------------------


def torch_dtype_for(dtype: str, device: str) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def load_student(model_path: str, train: FinetuneConfig, device: str, dtype: str, seed: int):
    """(model, tokenizer): the starting model, wrapped in a fresh LoRA adapter when `train.finetune == "lora"`, with
    activation checkpointing when `train.gradient_checkpointing`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    torch.manual_seed(seed)  # LoRA A init
    model: Any = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype_for(dtype, device))
    model = model.to(device)
    if train.gradient_checkpointing:  # each layer's activations recomputed in backward: long sequences fit
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if train.finetune == "lora":
        model = get_peft_model(
            model,
            LoraConfig(
                r=train.lora_rank,
                lora_alpha=train.lora_alpha,
                lora_dropout=train.lora_dropout,
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            ),
        )
    return model, tok


def generation_length(o: OPSDConfig) -> int:
    """`opsd.max_new_tokens`: OPSDExperiment sets it to the row's sampling length where the toml does not."""
    if o.max_new_tokens is None:
        raise ValueError("opsd.max_new_tokens is unset: build the config through OPSDExperiment (it fills it in)")
    return o.max_new_tokens


def is_peft(model) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


class Teacher:
    """The teacher's weights: the adapter-disabled student ("base" with LoRA), a frozen copy, or an EMA copy."""

    def __init__(self, student, kind: str, ema_decay: float = 0.99):
        self.student, self.kind, self.ema_decay = student, kind, ema_decay
        self.copy = None
        if not (kind == "base" and is_peft(student)):
            self.copy = copy.deepcopy(student).eval()
            for p in self.copy.parameters():
                p.requires_grad_(False)

    def logits(self, packed: Packed) -> torch.Tensor:
        model = self.copy if self.copy is not None else self.student
        ctx = self.student.disable_adapter() if self.copy is None else nullcontext()
        with torch.no_grad(), ctx:
            return completion_logits(model, packed)

    def hidden(self, packed: Packed) -> torch.Tensor:
        """[N, H] the teacher's last hidden states at the real completion positions (formalpi/engine/losses.py)."""
        from formalpi.engine.losses import completion_hidden

        model = self.copy if self.copy is not None else self.student
        ctx = self.student.disable_adapter() if self.copy is None else nullcontext()
        with torch.no_grad(), ctx:
            return completion_hidden(model, packed.input_ids, packed.attention_mask, packed.positions, packed.mask)

    def head(self):
        """hidden -> float32 logits with the teacher's LM head (LoRA never adapts the head: "all-linear" skips it)."""
        from formalpi.engine.losses import lm_head

        return lm_head(self.copy if self.copy is not None else self.student)

    @torch.no_grad()
    def update(self) -> None:
        """After an optimizer step: move an EMA teacher's trainable weights towards the student's."""
        if self.kind != "ema" or self.copy is None:
            return
        t_params = dict(self.copy.named_parameters())
        for name, p in self.student.named_parameters():
            if p.requires_grad:
                t_params[name].lerp_(p.detach(), 1.0 - self.ema_decay)

    def state(self) -> dict[str, torch.Tensor]:
        if self.kind != "ema" or self.copy is None:
            return {}
        return {n: p.detach().clone() for n, p in self.copy.named_parameters() if n in trainable_names(self.student)}

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        if state and self.copy is not None:
            self.copy.load_state_dict(state, strict=False)


def trainable_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def render_text(tok, turns: Sequence[tuple[str, str]], enable_thinking: bool | None = None) -> str:
    """The chat-template rendering every generator uses (open assistant turn at the end; `model.enable_thinking`
    handed to the template as the generators hand it)."""
    from formalpi.engine.backends import render_chat

    return render_chat(tok, turns, enable_thinking)


def render(tok, turns: Sequence[tuple[str, str]], enable_thinking: bool | None = None) -> list[int]:
    return tok(render_text(tok, turns, enable_thinking), add_special_tokens=False)["input_ids"]


# ---- one step -------------------------------------------------------------------------------------------------


class OPSDStep(Record):
    """One optimizer step: the `opsd_steps.jsonl` line."""

    step: int
    loss: float
    teacher_pi_kl: float | None  # None when no sample of the step had a teacher context
    tokens: int  # completion tokens in the loss
    generated_tokens: int = 0  # completion tokens the student sampled (all samples, trained or not)
    samples: int  # student samples drawn
    trained_samples: int  # samples with a teacher context (in the loss)
    solved: int  # student samples the verifier accepted
    problem_ids: list[str]
    wall_s: float


@dataclass
class OPSDSession:
    """The student, its teacher and optimizer, and what a step needs to build teacher contexts."""

    student: Any
    tokenizer: Any
    teacher: Teacher
    optimizer: torch.optim.Optimizer
    domain: Domain
    condition: Condition
    cfg: OPSDConfig
    seed: int
    problems: Sequence[Problem]  # the training pool (after frontier gating)
    all_problems: Sequence[Problem] = ()  # the whole training split, for shuffled controls
    extras: Mapping[str, Any] = field(default_factory=dict)
    enable_thinking: bool | None = None  # model.enable_thinking, for every chat template rendered here
    sampler: Any = None  # formalpi.engine.colocate: HFSampler (None) or the shared ColocatedVLLM (backend vllm)

    def sample(
        self, texts: Sequence[str], *, n: int, max_new_tokens: int, temperature: float, seed: int
    ) -> list[list[list[int]]]:
        """For each chat-rendered prompt, n sampled completions as token ids (up to and including EOS)."""
        from formalpi.engine.colocate import HFSampler

        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        return (self.sampler or HFSampler()).sample(
            self.student, self.tokenizer, ids, n=n, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
        )

    @property
    def kind(self) -> TeacherContext:
        return resolve_teacher_context(self.cfg.teacher_context, self.condition.name)

    def batch(self, step: int) -> list[Problem]:
        """The step's problems: a function of (seed, step) only, so a resumed run redraws them."""
        rng = random.Random(f"{self.seed}|opsd|{step}")
        return rng.sample(list(self.problems), min(self.cfg.batch_size, len(self.problems)))

    def step(self, step: int) -> OPSDStep:
        t0 = time.perf_counter()
        tok, cfg = self.tokenizer, self.cfg
        problems = self.batch(step)
        prompts = [self.domain.prompt(p) for p in problems]
        texts = [render_text(tok, [("user", pr)], self.enable_thinking) for pr in prompts]  # what the student sees
        plain = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        retry = self.kind is TeacherContext.RETRY
        n = cfg.samples_per_problem
        drawn = n + 1 if retry else n  # retry contexts show another sample's failure: one extra per problem
        samples = self.sample(
            texts,
            n=drawn,
            max_new_tokens=generation_length(cfg),
            temperature=cfg.temperature,
            seed=chunk_seed(self.seed, STEPS_STAGE, str(step)),
        )
        flat = [(i, j, ids) for i, cs in enumerate(samples) for j, ids in enumerate(cs)]
        completions = [tok.decode(ids, skip_special_tokens=True) for _, _, ids in flat]
        verdicts = self.domain.verify_many([problems[i] for i, _, _ in flat], completions)
        contexts = []  # per flat sample: the PI context built from that sample's attempt and verdict
        for (i, j, ids), text, verdict in zip(flat, completions, verdicts):
            p = problems[i]
            attempt = Attempt(
                id=f"{p.id}|opsd{step}|s{j}",
                problem_id=p.id,
                round=0,
                sample=j,
                condition="none",
                prompt=texts[i],
                completion=text,
                completion_tokens=len(ids),
                seed=self.seed,
            )
            contexts.append(
                PIContext(
                    problem=p,
                    attempt=attempt,
                    verdict=verdict,
                    seed=self.seed,
                    problems=self.all_problems or self.problems,
                    extras=self.extras,
                )
            )
        rows = []  # (plain prompt ids, teacher prompt ids, completion ids)
        for i in range(len(problems)):
            own = contexts[i * drawn : (i + 1) * drawn]
            failed = [not c.verdict.passed for c in own]
            for j in range(n):
                ids, ctx = flat[i * drawn + j][2], own[j]
                if retry and not ctx.verdict.passed:
                    k = context_sample(j, failed)
                    if k is None:
                        continue
                    ctx = own[k]
                turns = teacher_turns(self.kind, self.condition, prompts[i], ctx, cfg.on_passed)
                if turns is not None and ids:
                    rows.append((plain[i], render(tok, turns, self.enable_thinking), ids))
        solved = sum(v.passed for v in verdicts)
        generated = sum(len(ids) for _, _, ids in flat)
        if not rows:  # nothing to distil this step: no optimizer step, but the step is recorded
            return OPSDStep(
                step=step,
                loss=0.0,
                teacher_pi_kl=None,
                tokens=0,
                generated_tokens=generated,
                samples=len(flat),
                trained_samples=0,
                solved=solved,
                problem_ids=[p.id for p in problems],
                wall_s=round(time.perf_counter() - t0, 3),
            )
        loss, pi_kl, tokens = self._update(rows)
        return OPSDStep(
            step=step,
            loss=loss,
            teacher_pi_kl=pi_kl,
            tokens=tokens,
            generated_tokens=generated,
            samples=len(flat),
            trained_samples=len(rows),
            solved=solved,
            problem_ids=[p.id for p in problems],
            wall_s=round(time.perf_counter() - t0, 3),
        )

    def _update(self, rows: Sequence[tuple[list[int], list[int], list[int]]]) -> tuple[float, float, int]:
        """One optimizer step on (plain prompt, teacher prompt, completion) rows, `cfg.micro_batch_size` rows per
        forward/backward, the divergence taken chunk by chunk (formalpi/engine/losses.py). The gradient is that of
        the mean over all completion tokens of the step, as one pass over the whole batch would give.
        Returns (loss, teacher-PI KL, completion tokens)."""
        from formalpi.engine.losses import completion_hidden, divergence_sum, kl_sum, lm_head

        cfg, pad, device = self.cfg, self.tokenizer.pad_token_id, self.student.device
        tokens = sum(len(c) for _, _, c in rows)
        head_s, head_t = lm_head(self.student), self.teacher.head()
        self.student.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = pi_kl = 0.0
        for a in range(0, len(rows), cfg.micro_batch_size):
            part = rows[a : a + cfg.micro_batch_size]
            comps = [c for _, _, c in part]
            student_in = pack([r[0] for r in part], comps, pad, device)
            teacher_in = pack([r[1] for r in part], comps, pad, device)
            t_pi = self.teacher.hidden(teacher_in)
            t_plain = self.teacher.hidden(student_in)
            s_h = completion_hidden(
                self.student, student_in.input_ids, student_in.attention_mask, student_in.positions, student_in.mask
            )
            part_loss = (
                divergence_sum(s_h, t_pi, head_s, head_t, cfg.divergence, cfg.beta, cfg.top_k, cfg.loss_chunk_tokens)
                / tokens
            )
            part_loss.backward()
            loss += part_loss.item()
            pi_kl += kl_sum(t_pi, t_plain, head_t, cfg.loss_chunk_tokens).item() / tokens
            del s_h, t_pi, t_plain, part_loss
        torch.nn.utils.clip_grad_norm_([p for p in self.student.parameters() if p.requires_grad], cfg.grad_clip)
        self.optimizer.step()
        self.teacher.update()
        return loss, pi_kl, tokens


# ---- frontier gating ------------------------------------------------------------------------------------------


def solve_rates(records: Sequence[EvalRecord]) -> dict[str, float]:
    return {r.problem_id: r.n_correct / r.n for r in records}


def select_frontier(problems: Sequence[Problem], rates: Mapping[str, float], low: float, high: float) -> list[Problem]:
    """The problems whose base solve rate lies in [low, high], in their order (a problem without a rate is out)."""
    return [p for p in problems if p.id in rates and low <= rates[p.id] <= high]


def frontier_problems(ctx: TrainContext[OPSDExperiment], problems: Sequence[Problem]) -> list[Problem]:
    """Estimate the starting model's solve rates on `problems` (stage `frontier`, seeds seed + frontier_seed_offset)
    and keep the band."""
    cfg, seed, store, domain = ctx.cfg, ctx.seed, ctx.store, ctx.domain
    o = cfg.opsd
    if store.is_done(FRONTIER_STAGE):
        records = store.read(FRONTIER_STAGE, EvalRecord)
    else:  # full-length samples (o.max_new_tokens = the row's sampling length unless set): real solve rates
        with stage(store, FRONTIER_STAGE):
            gen = make_generator(cfg, ctx.model_path)
            records = evaluate(
                gen,
                domain,
                problems,
                n=o.frontier_n,
                temperature=cfg.sampling.temperature,
                top_p=cfg.sampling.top_p,
                max_new_tokens=generation_length(o),
                seed=seed + o.frontier_seed_offset,
                condition="frontier",
                store=store,
                stage=FRONTIER_STAGE,
                on_progress=ctx.progress(f"base solve rates for the frontier (seed {seed})", len(problems)),
            )
    rates = solve_rates(records)
    kept = select_frontier(problems, rates, o.frontier_low, o.frontier_high)
    store.mark_done(FRONTIER_STAGE, problems=len(problems), kept=len(kept))
    if not kept:
        seen = sorted(set(round(r, 3) for r in rates.values()))
        raise ConfigError(
            f"opsd.frontier_low/frontier_high: no training problem has a base solve rate in "
            f"[{o.frontier_low}, {o.frontier_high}] (rates seen: {seen}); widen the band, raise "
            f"opsd.frontier_n or set opsd.frontier = false"
        )
    return kept


# ---- resumable state ------------------------------------------------------------------------------------------


def save_state(path: Path, step: int, session: OPSDSession) -> None:
    """Atomically snapshot what the next step needs: trainable weights, optimizer, EMA teacher."""
    names = trainable_names(session.student)
    state = {
        "step": step,
        "trainable": {n: p.detach().cpu() for n, p in session.student.named_parameters() if n in names},
        "optimizer": session.optimizer.state_dict(),
        "teacher": session.teacher.state(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def restore_state(path: Path, session: OPSDSession) -> int:
    """The step to start from (0 without a snapshot)."""
    if not path.exists():
        return 0
    state = torch.load(path, map_location=session.student.device, weights_only=False)
    session.student.load_state_dict(state["trainable"], strict=False)
    session.optimizer.load_state_dict(state["optimizer"])
    session.teacher.load_state(state["teacher"])
    return int(state["step"])


def keep_steps_before(store: RunStore, step: int) -> list[OPSDStep]:
    """Drop step records a killed run wrote after its last snapshot (they are recomputed identically)."""
    records = store.read(STEPS_STAGE, OPSDStep)
    kept = [r for r in records if r.step < step]
    if len(kept) != len(records):
        p = store.path(STEPS_STAGE)
        tmp = p.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(r.model_dump_json() + "\n" for r in kept))
        tmp.replace(p)
    return kept


# ---- the stage --------------------------------------------------------------------------------------------------


def save_model(model, tok, out_dir: Path) -> Path:
    """Merge a LoRA adapter (if any) into a copy and save a plain checkpoint, atomically."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    plain = copy.deepcopy(model).merge_and_unload() if is_peft(model) else model
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def train_opsd(ctx: TrainContext[OPSDExperiment]) -> str:
    """The `opsd` stage: frontier gating (optional), `opsd.steps` steps, a merged checkpoint. Returns its path."""
    from formalpi.engine.backends import resolve_device

    cfg, seed, store, domain = ctx.cfg, ctx.seed, ctx.store, ctx.domain

    ckpt = store.root / CHECKPOINT_DIR
    if store.is_done("opsd"):
        return str(ckpt)
    o = cfg.opsd
    condition = get_condition(cfg.condition, domain)
    if condition.pi is None:
        raise ConfigError(
            f"condition: {cfg.condition!r} shows no PI, so OPSD has no teacher; "
            f"choose a condition with PI (e.g. try_again, gold, answer_only)"
        )
    train = train_problems(domain, cfg, seed)
    pool = frontier_problems(ctx, train) if o.frontier else train
    device = resolve_device(cfg.model.device)
    student, tok = load_student(ctx.model_path, cfg.train, device, cfg.model.dtype, seed)
    teacher = Teacher(student, o.teacher, o.ema_decay)
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=o.lr, weight_decay=0.0)
    sampler = None
    if cfg.model.backend == "vllm":
        from formalpi.engine.colocate import colocated_engine

        sampler = colocated_engine(
            ctx.model_path,
            dtype=str(torch_dtype_for(cfg.model.dtype, device)).removeprefix("torch."),
            gpu_memory_utilization=o.vllm_gpu_memory_utilization,
            max_model_len=cfg.model.vllm.max_model_len,
            enforce_eager=cfg.model.vllm.enforce_eager,
        )
    session = OPSDSession(
        student,
        tok,
        teacher,
        opt,
        domain,
        condition,
        o,
        seed,
        pool,
        train,
        ctx.extras,
        enable_thinking=cfg.model.enable_thinking,
        sampler=sampler,
    )
    state_path = store.root / STATE_FILE
    start = restore_state(state_path, session)
    done = keep_steps_before(store, start)
    advance = ctx.progress(f"self-distillation (OPSD) steps ({condition.name}, seed {seed})", o.steps)
    advance(start)
    last = done[-1] if done else None
    with stage(store, "opsd"):
        for t in range(start, o.steps):
            last = session.step(t)
            store.append(STEPS_STAGE, [last])
            # every student sample is generated and verified; the loss covers `tokens` of them (the trained samples)
            store.add_budget(
                "opsd",
                samples=last.samples,
                completion_tokens=last.generated_tokens,
                train_tokens=last.tokens,
                verifier_calls=last.samples,
            )
            if (t + 1) % o.save_every == 0 and t + 1 < o.steps:
                save_state(state_path, t + 1, session)
            advance(1)
        if sampler is not None:
            sampler.close()
        save_model(student, tok, ckpt)
    store.mark_done("opsd", steps=o.steps, problems=len(pool), final_loss=last.loss if last else None)
    state_path.unlink(missing_ok=True)
    # the eval's engine (its own process under vLLM) asks for most of the GPU: the trainer's cached blocks go back
    del session, teacher, opt, student
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return str(ckpt)
