"""The OPSD loss chunk by chunk (formalpi/engine/losses.py) against the whole-batch loss it replaces, on the tiny
model: same value and gradients, and no [batch, tokens, vocabulary] tensor anywhere on the loss path."""

import random

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from formalpi.config import OPSDConfig
from formalpi.engine.losses import completion_hidden, lm_head, token_logprobs
from formalpi.engine.losses import per_token_divergence
from formalpi.engine.opsd import OPSDSession, Teacher, completion_logits, load_student, masked_mean, pack
from formalpi.config import TrainConfig
from formalpi.tiny import TinySpec, ensure_tiny_model


@pytest.fixture(scope="module")
def tiny_model() -> str:
    return str(ensure_tiny_model(TinySpec(steps=40, train_per_level=40)))


def rows_for(vocab: int, n: int = 5, seed: int = 0) -> list[tuple[list[int], list[int], list[int]]]:
    """(plain prompt, teacher prompt, completion) ids of different lengths (padding inside every micro-batch)."""
    rng = random.Random(seed)
    ids = lambda k: [rng.randrange(4, vocab) for _ in range(k)]  # noqa: E731 (no special tokens)
    return [(ids(rng.randint(3, 7)), ids(rng.randint(8, 14)), ids(rng.randint(2, 9))) for _ in range(n)]


def session_for(model_path: str, **opsd) -> OPSDSession:
    torch.manual_seed(0)
    student, tok = load_student(model_path, TrainConfig(finetune="lora", lora_rank=4), "cpu", "float32", seed=0)
    with torch.no_grad():  # a non-zero adapter: student and teacher differ
        for n, p in student.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    teacher = Teacher(student, "base")
    opt = torch.optim.SGD([p for p in student.parameters() if p.requires_grad], lr=0.0)
    cfg = OPSDConfig(grad_clip=1e9, **opsd)  # no clipping: the raw gradients are compared
    return OPSDSession(student, tok, teacher, opt, None, None, cfg, 0, [])


def whole_batch(session: OPSDSession, rows) -> tuple[float, float, dict[str, torch.Tensor]]:
    """The loss as f346383 computed it: the whole batch's [B, L, V] logits, one masked mean, one backward."""
    cfg, pad = session.cfg, session.tokenizer.pad_token_id
    comps = [c for _, _, c in rows]
    s_in, t_in = pack([r[0] for r in rows], comps, pad), pack([r[1] for r in rows], comps, pad)
    t_pi, t_plain = session.teacher.logits(t_in), session.teacher.logits(s_in)
    session.student.zero_grad(set_to_none=True)
    s_logits = completion_logits(session.student, s_in)
    loss = masked_mean(per_token_divergence(s_logits, t_pi, cfg.divergence, cfg.beta, cfg.top_k), s_in.mask)
    loss.backward()
    lp, lq = torch.log_softmax(t_pi, -1), torch.log_softmax(t_plain, -1)
    pi_kl = masked_mean((lp.exp() * (lp - lq)).sum(-1), s_in.mask).item()
    grads = {n: p.grad.clone() for n, p in session.student.named_parameters() if p.requires_grad}
    return loss.item(), pi_kl, grads


@pytest.mark.parametrize("divergence,top_k", [("reverse_kl", None), ("jsd", None), ("reverse_kl", 7)])
def test_chunked_loss_equals_the_whole_batch_loss_in_value_and_gradient(tiny_model, divergence, top_k):
    session = session_for(
        tiny_model, divergence=divergence, beta=0.3, top_k=top_k, micro_batch_size=2, loss_chunk_tokens=4
    )
    rows = rows_for(len(session.tokenizer))
    want_loss, want_kl, want_grads = whole_batch(session, rows)
    loss, pi_kl, tokens = session._update(rows)
    assert tokens == sum(len(c) for _, _, c in rows) > 4 * 3  # several chunks and micro-batches
    # float32 on CPU; the sums are taken in another order: agreement to 1e-5 relative
    assert loss == pytest.approx(want_loss, rel=1e-5) and loss > 0
    assert pi_kl == pytest.approx(want_kl, rel=1e-5) and pi_kl > 0
    got = {n: p.grad for n, p in session.student.named_parameters() if p.requires_grad}
    assert got.keys() == want_grads.keys()
    for n, g in want_grads.items():
        assert torch.allclose(got[n], g, rtol=1e-4, atol=1e-7), n
    assert sum(g.abs().sum().item() for g in want_grads.values()) > 0


class VocabTensors(TorchDispatchMode):
    """Records, for every tensor an op produces (forward and backward), how many rows of `vocab` entries it has;
    views of the LM head's own weight ([hidden, vocab] as the matmul reads it) are not activations and are skipped."""

    def __init__(self, vocab: int, weight: torch.Tensor):
        super().__init__()
        self.vocab, self.rows, self.weight = vocab, [], weight.untyped_storage().data_ptr()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if (
                isinstance(t, torch.Tensor)
                and t.dim() >= 2
                and t.shape[-1] == self.vocab
                and t.untyped_storage().data_ptr() != self.weight
            ):
                self.rows.append(t.numel() // self.vocab)
        return out


def test_no_batch_tokens_vocabulary_tensor_on_the_loss_path(tiny_model):
    session = session_for(tiny_model, micro_batch_size=2, loss_chunk_tokens=4)
    weight = session.student.get_output_embeddings().weight
    vocab = weight.shape[0]
    assert vocab not in {64, 192, 16}  # the tiny model's other widths: the detector sees only logits
    rows = rows_for(len(session.tokenizer), n=6, seed=1)
    with VocabTensors(vocab, weight) as old:
        whole_batch(session, rows)
    assert max(old.rows) >= sum(len(c) for _, _, c in rows)  # the detector catches the old path
    with VocabTensors(vocab, weight) as new:
        session._update(rows)
    assert new.rows and max(new.rows) <= 4  # at most one chunk of logits at a time


def test_chunked_token_logprobs_equal_log_softmax_of_the_full_logits(tiny_model):
    session = session_for(tiny_model)
    rows = rows_for(len(session.tokenizer), n=3, seed=2)
    comps = [c for _, _, c in rows]
    packed = pack([r[0] for r in rows], comps, session.tokenizer.pad_token_id)
    targets = torch.nn.utils.rnn.pad_sequence([torch.tensor(c) for c in comps], batch_first=True)
    with torch.no_grad():
        full = torch.log_softmax(completion_logits(session.student, packed), -1)
        want = full.gather(-1, targets.unsqueeze(-1)).squeeze(-1)[packed.mask.bool()]
        h = completion_hidden(session.student, packed.input_ids, packed.attention_mask, packed.positions, packed.mask)
        got = token_logprobs(h, targets[packed.mask.bool()], lm_head(session.student), chunk=3)
    assert torch.allclose(got, want, atol=1e-5)
