"""Token-level losses that never hold a batch's full-vocabulary logits.

The model is run up to its last hidden layer; the hidden states at the completion positions are gathered into one
[N, H] tensor (N = real completion tokens of the micro-batch) and the LM head is applied to `chunk` rows at a time.
Per chunk: [chunk, V] logits for the student and the teacher, the divergence of TRL's self-distillation losses
(`trl.experimental.sdft.loss_utils`, through `per_token_divergence`), summed. The student's
chunk runs under activation checkpointing, so its [chunk, V] logits are recomputed in the backward pass instead of
being kept for every chunk: the largest vocabulary-wide tensor on the loss path has `chunk` rows.

At f346383 a 32 × 2,048-token OPSD step asked for one 173.62 GiB allocation (the whole batch's fp32 logits).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint

DEFAULT_CHUNK = 1024  # completion tokens per LM-head chunk: [1024, 151,936] fp32 = 0.6 GiB per tensor (Qwen3)


def per_token_divergence(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    divergence: str,
    beta: float = 0.5,
    top_k: int | None = None,
) -> torch.Tensor:
    """[B, L] divergence of the student from the teacher at each position (TRL's self-distillation losses).

    reverse_kl: KL(π_S ‖ π_T) = Σ_v π_S(v) (log π_S(v) − log π_T(v)).
    jsd: β·KL(π_T ‖ M) + (1−β)·KL(π_S ‖ M) with M = β·π_T + (1−β)·π_S (TRL's generalized JSD).
    top_k: both distributions restricted to the student's top-k tokens plus one bucket for the remaining mass.
    """
    from trl.experimental.sdft.loss_utils import (
        compute_full_logit_self_distillation_loss,
        compute_topk_self_distillation_loss,
    )

    alpha = 1.0 if divergence == "reverse_kl" else beta  # TRL: alpha = 1 is reverse KL, else the JSD weight
    if top_k is not None and top_k < student_logits.shape[-1]:
        return compute_topk_self_distillation_loss(
            student_logits,
            teacher_logits,
            distillation_topk=top_k,
            distillation_alpha=alpha,
            distillation_add_tail=True,
        )
    return compute_full_logit_self_distillation_loss(student_logits, teacher_logits, distillation_alpha=alpha)


def _plain(model):
    """The transformers CausalLM under a peft wrapper (LoRA layers stay injected in its modules)."""
    return model.get_base_model() if hasattr(model, "get_base_model") and hasattr(model, "peft_config") else model


def lm_head(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """hidden [n, H] -> float32 logits [n, V], as the model's own forward would compute them."""
    base = _plain(model)
    head = base.get_output_embeddings()
    cap = getattr(base.config, "final_logit_softcapping", None)
    scale = getattr(base.config, "logit_scale", None)  # Cohere-style scaling; None for Qwen/Llama

    def apply(h: torch.Tensor) -> torch.Tensor:
        logits = head(h)
        if scale is not None:
            logits = logits * scale
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return logits.float()

    return apply


def completion_hidden(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """[N, H] last-layer hidden states at the positions that predict the real completion tokens (row-major over
    (row, token)); the model's LM head is not applied, so no [B, T, V] tensor exists."""
    decoder = _plain(model).get_decoder()
    hidden = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    index = positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
    at = torch.gather(hidden, 1, index)  # [B, L, H]
    return at[mask.bool()]


def _divergence(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, divergence: str, beta: float, top_k: int | None
) -> torch.Tensor:
    return per_token_divergence(student_logits, teacher_logits, divergence, beta, top_k)


def divergence_sum(
    student_h: torch.Tensor,
    teacher_h: torch.Tensor,
    head_s,
    head_t,
    divergence: str,
    beta: float = 0.5,
    top_k: int | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """Σ over the N tokens of D(π_S ‖ π_T) (TRL's reverse KL / generalized JSD, full vocabulary or top-k + tail),
    chunk by chunk; differentiable in `student_h` (and the head's weights when they train)."""
    total = student_h.new_zeros((), dtype=torch.float32)
    for a in range(0, student_h.shape[0], chunk):
        t_logits_h = teacher_h[a : a + chunk]

        def piece(s_h: torch.Tensor, t_h: torch.Tensor = t_logits_h) -> torch.Tensor:
            with torch.no_grad():
                t_logits = head_t(t_h)
            return _divergence(head_s(s_h), t_logits, divergence, beta, top_k).sum()

        s_h = student_h[a : a + chunk]
        total = total + (checkpoint(piece, s_h, use_reentrant=False) if s_h.requires_grad else piece(s_h))
    return total


@torch.no_grad()
def kl_sum(p_h: torch.Tensor, q_h: torch.Tensor, head, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Σ over the N tokens of KL(p ‖ q) over the full vocabulary, both from hidden states through one head."""
    total = p_h.new_zeros((), dtype=torch.float32)
    for a in range(0, p_h.shape[0], chunk):
        lp = torch.log_softmax(head(p_h[a : a + chunk]), -1)
        lq = torch.log_softmax(head(q_h[a : a + chunk]), -1)
        total += (lp.exp() * (lp - lq)).sum()
    return total


@torch.no_grad()
def token_logprobs(h: torch.Tensor, targets: torch.Tensor, head, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """[N] log-probability of each target token (hidden states [N, H], targets [N])."""
    out = []
    for a in range(0, h.shape[0], chunk):
        logits = head(h[a : a + chunk])
        out.append(logits.gather(-1, targets[a : a + chunk, None]).squeeze(-1) - torch.logsumexp(logits, -1))
    return torch.cat(out) if out else h.new_zeros((0,), dtype=torch.float32)
