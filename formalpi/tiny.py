"""The built-in tiny model for the embedded demo: Qwen3 architecture (~0.4M parameters), trained here on `arith`.

Everything is built locally, no hub: a character-level tokenizer (the `tokenizers` library, wrapped as a
transformers `PreTrainedTokenizerFast` with a ChatML chat template) and a `Qwen3ForCausalLM` from a config in code.
`ensure_tiny_model()` trains it once from a seed and caches it under `$FORMALPI_CACHE/tiny-<hash>`; the same
seed gives the same weights. The training budget is fixed so that base pass@1 on the held-out arith eval split
lands in the band where retry can help (30–55%); `formalpi tiny train` prints the measured value.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from formalpi.paths import cache_dir

SPECIAL = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
CHARS = list(string.printable.replace("\x0b", "").replace("\x0c", "").replace("\r", ""))
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# The pretraining mixture: what a chat model has seen before it is ever shown PI. Every target is the correct
# worked solution; the kinds differ only in the conversation before it. Weights are shares of training episodes.
#   plain      one turn: the question, then the solution
#   try_again  a failed attempt, generic negative feedback without content, then the solution
#   answer     a failed attempt, feedback that states the TRUE answer, then the solution (the model can copy it)
#   unrelated  a failed attempt, feedback of the same kind stating ANOTHER problem's answer (same level, so of a
#              plausible size), then the solution: a stated number is evidence, right 25 / 30 of the time, that the
#              model must weigh against its own computation, as an instruct model weighs a user's claim
#   reask      a failed attempt, then the question asked again, then the solution
# A failed attempt slips at one of its steps and computes on from the slip (`wrong_solution`). Why these shares:
# docs/demo.md, section 1 (the previous 50/15/15/10/10 mixture with six fixed wordings read a stated answer only
# in those wordings).
MIX = (("plain", 0.4), ("try_again", 0.15), ("answer", 0.25), ("unrelated", 0.05), ("reask", 0.15))
KINDS = ("plain", "try_again", "answer", "unrelated", "reask")


@dataclass(frozen=True)
class TinySpec:
    """Architecture, pretraining mixture and training budget; its hash names the cache directory."""

    hidden_size: int = 64
    intermediate_size: int = 192
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 16
    max_position_embeddings: int = 512
    train_per_level: int = 500  # arith train problems per level (seed 1000: not the experiments' draw)
    # sampling weight of levels 1..5: L1 (a+b up to 30) is learnt from L2 addition anyway; L5 needs the most
    level_weights: tuple[float, ...] = (0.5, 1.0, 1.25, 1.0, 2.0)
    mix: tuple[tuple[str, float], ...] = MIX
    steps: int = 4000
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def build_tokenizer(vocab_size: int | None = None):
    """The char-level ChatML tokenizer; `vocab_size` pads it with filler tokens (`<f0>`, ...) to a real model's
    vocabulary, so that a random model of that architecture decodes every id it samples (bench/gpu_throughput.py).
    The fillers are added tokens, so decoded text encodes back to the same ids, as a real tokenizer's (almost)
    does: a sampled completion shown again in a teacher's context keeps its length (as plain vocabulary entries the
    char-level splitter read each `<f123>` back as 6-9 tokens)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    base = SPECIAL + CHARS
    fillers = [f"<f{i}>" for i in range((vocab_size or len(base)) - len(base))]
    vocab = {tok: i for i, tok in enumerate(base + fillers)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")  # one token per character
    tok.decoder = decoders.Fuse()  # decode by concatenation, no spaces inserted
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    if fillers:
        fast.add_tokens([AddedToken(f, normalized=False, special=False) for f in fillers])  # ids unchanged: in vocab
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def build_model(spec: TinySpec, vocab_size: int, eos_id: int, pad_id: int, bos_id: int):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.head_dim,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        rope_parameters={"rope_theta": 10000.0, "rope_type": "default"},
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        use_cache=True,
    )
    torch.manual_seed(spec.seed)
    return Qwen3ForCausalLM(cfg)


def _encode(tokenizer, turns: list[dict[str, str]], solution: str) -> tuple[list[int], int]:
    """Token ids of a chat ending in the assistant's `solution`, and the index where that answer starts."""
    prompt = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c_ids = tokenizer(solution + "<|im_end|>", add_special_tokens=False)["input_ids"]
    return p_ids + c_ids, len(p_ids)


# Feedback wordings of the two-turn episodes, composed from parts (an opening, for number feedback a statement of
# the number, a closing): 9 x 12 x 8 wordings, so that reading "the number in the feedback" generalises to wordings
# the model has not seen. None contains a condition's text (formalpi/engine/conditions.py: "Your answer is
# incorrect.", "Try again.", "The correct answer is", "Hint: XYZZY"; tests/test_tiny.py checks it): the
# experiments' PI is new wording to the model, as it is to an instruct model, and no condition is in-distribution
# while another is not.
OPENINGS = (
    "No.",
    "Wrong.",
    "That is not right.",
    "Incorrect.",
    "Not quite.",
    "Your result is wrong.",
    "That answer is not correct.",
    "Your solution is incorrect.",
    "This is a mistake.",
)
STATEMENTS = (
    "The answer is {n}.",
    "It should be {n}.",
    "The right answer is {n}.",
    "The correct result is {n}.",
    "Answer: {n}.",
    "Expected {n}.",
    "The true value is {n}.",
    "The result should be {n}.",
    "The expected answer is {n}.",
    "It is {n}.",
    "The solution is {n}.",
    "Correct value: {n}.",
)
CLOSINGS = (
    "",
    "Please redo it.",
    "Have another go.",
    "Try once more.",
    "Solve it again.",
    "Once more.",
    "Give it another try.",
    "Redo the steps.",
)
REASK = ("{q}", "Once more: {q}", "Please solve: {q}", "{q} Show the steps.")


def feedback_text(kind: str, q: str, n: str | None, rng: random.Random) -> str:
    """The user's second turn of a two-turn episode: generic, stating the number `n`, or re-asking `q`."""
    if kind == "reask":
        return rng.choice(REASK).format(q=q)
    parts = [rng.choice(OPENINGS)]
    if n is not None:
        parts.append(rng.choice(STATEMENTS).format(n=n))
    parts.append(rng.choice(CLOSINGS))
    return " ".join(x for x in parts if x)


_PAREN = re.compile(r"\(([^()]*)\)")
_MUL = re.compile(r"\d+\*-?\d+")


def reduce_once(expr: str, slip: Callable[[int], int] | None = None) -> str:
    """One step of arith's worked solutions (formalpi/domains/math/arith.py): the leftmost parenthesised group, else the leftmost
    product when a sum or difference remains, else the whole expression; `slip` replaces the value computed."""
    if m := _PAREN.search(expr):
        span, inner = m.span(), m.group(1)
    elif (m := _MUL.search(expr)) and re.search(r"\d[+-]", expr):
        span, inner = m.span(), m.group(0)
    else:
        span, inner = (0, len(expr)), expr
    value = eval(inner, {"__builtins__": {}})  # our own generated arithmetic, never user input
    return expr[: span[0]] + str(slip(value) if slip else value) + expr[span[1] :]


def slipped(value: int, rng: random.Random) -> int:
    """A slip of the kind a model makes: one digit replaced, or the value off by 1-9 or by 10-30; the sign is kept
    (a slip never writes "54--18")."""
    digits = str(abs(value))
    while True:
        if rng.random() < 0.4 and len(digits) > 1:
            i = rng.randrange(len(digits))
            d = rng.choice([c for c in "0123456789" if c != digits[i] and not (i == 0 and c == "0")])
            out = int(digits[:i] + d + digits[i + 1 :]) * (-1 if value < 0 else 1)
        else:
            out = value + rng.choice([rng.randint(1, 9), 10 * rng.randint(1, 3)]) * rng.choice([-1, 1])
        if (out < 0) == (value < 0):
            return out


def wrong_solution(solution: str, answer: str, rng: random.Random) -> str:
    """A plausible failed attempt: the worked solution with a slip at one of its steps (chosen uniformly) and the
    later steps computed correctly from the slip, so the attempt goes wrong where it slipped, not only at its end
    (a retry must recompute, not copy the attempt's steps). A slip that cancels out (x*0) is drawn again."""
    expr = solution.split("=", 1)[0]
    steps = solution.split(". \\boxed")[0].count("=")
    for _ in range(100):
        at = rng.randrange(steps)
        chain = [expr]
        for k in range(steps):
            chain.append(reduce_once(chain[-1], (lambda v: slipped(v, rng)) if k == at else None))
        if chain[-1] != answer:
            return "=".join(chain) + f". \\boxed{{{chain[-1]}}}"
    raise ValueError(f"wrong_solution: no slip changes the answer of {expr!r}")  # unreachable for arith


def episode(tokenizer, kind: str, problem, other_answer: str, rng: random.Random) -> tuple[list[int], int]:
    """One pretraining episode of `kind` (see MIX) for an arith problem; the target is its correct solution."""
    q, sol = problem.text, problem.meta["solution"]
    if kind == "plain":
        return _encode(tokenizer, [{"role": "user", "content": q}], sol)
    if kind not in KINDS:
        raise ValueError(f"TinySpec.mix: unknown episode kind {kind!r} (known: {', '.join(KINDS)})")
    stated = {"answer": problem.gold, "unrelated": other_answer}.get(kind)
    feedback = feedback_text(kind, q, stated, rng)
    turns = [
        {"role": "user", "content": q},
        {"role": "assistant", "content": wrong_solution(sol, problem.gold, rng)},
        {"role": "user", "content": feedback},
    ]
    return _encode(tokenizer, turns, sol)


def train_tiny(spec: TinySpec, out_dir: Path, on_step=None, on_checkpoint=None, device: str = "cpu") -> Path:
    """Train from scratch on arith episodes (answer-only loss) with a plain AdamW loop; save model + tokenizer.

    Episodes are drawn fresh each step from the seeded RNG (kind by `spec.mix`, level by `spec.level_weights`,
    problem uniformly within the level), so the same spec gives the same weights (one torch thread: the order
    of floating-point reductions does not depend on the machine's core count)."""
    from formalpi.domains.math.arith import LEVELS, arith_problems

    torch.set_num_threads(1)
    torch.manual_seed(spec.seed)
    rng = random.Random(spec.seed)
    tok = build_tokenizer()
    model = build_model(spec, len(tok), tok.eos_token_id, tok.pad_token_id, tok.bos_token_id).to(device)
    problems = arith_problems("train", spec.train_per_level, seed=1000)
    by_level = [[p for p in problems if p.level == lv] for lv in LEVELS]
    kinds, kind_w = zip(*spec.mix)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.0)
    # linear warmup then constant: the model after S steps does not depend on the total budget
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100))
    model.train()
    for step in range(spec.steps):
        batch = []
        for _ in range(spec.batch_size):
            kind = rng.choices(kinds, kind_w)[0]
            level = rng.choices(by_level, spec.level_weights)[0]
            p = rng.choice(level)
            other = rng.choice(level)  # a plausible number: the model must weigh it, not judge its size
            if p.gold is None or other.gold is None:  # arith generates every problem with its answer
                raise ValueError(f"arith problem {(other if p.gold else p).id} has no gold answer")
            other_answer = other.gold if other.gold != p.gold else str(int(p.gold) + 1)
            batch.append(episode(tok, kind, p, other_answer, rng))
        # two padded micro-batches (short one-turn episodes, long two-turn ones) instead of one padded to the
        # longest: a third less compute; the loss is still the mean over every answer token of the batch
        batch.sort(key=lambda e: len(e[0]))
        n_tokens = sum(len(ids) - start for ids, start in batch)
        total = 0.0
        for part in (batch[: len(batch) // 2], batch[len(batch) // 2 :]):
            width = max(len(ids) for ids, _ in part)
            input_ids = torch.full((len(part), width), tok.pad_token_id)
            labels = torch.full((len(part), width), -100)
            attn = torch.zeros((len(part), width), dtype=torch.long)
            for i, (ids, start) in enumerate(part):  # right padding for training
                input_ids[i, : len(ids)] = torch.tensor(ids)
                labels[i, start : len(ids)] = torch.tensor(ids[start:])
                attn[i, : len(ids)] = 1
            part_tokens = sum(len(ids) - start for ids, start in part)  # = the causal-LM loss's target count
            loss = model(
                input_ids=input_ids.to(device), attention_mask=attn.to(device), labels=labels.to(device)
            ).loss * (part_tokens / n_tokens)
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if on_step:
            on_step(step, total)
        if on_checkpoint:
            on_checkpoint(step + 1, model, tok)
    model.eval().to("cpu")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


# The default spec's weights ship with the package (0.8 MB), trained by `formalpi tiny train --force` on 2 CPU
# cores in about 20 minutes (0.3 s per step): `make demo` needs no training; retraining from the seed reproduces them.
SHIPPED = Path(__file__).resolve().parent / "tiny_assets"


def shipped_path(spec: TinySpec) -> Path | None:
    key_file = SHIPPED / "spec_key"
    if key_file.exists() and key_file.read_text().strip() == spec.key() and (SHIPPED / "config.json").exists():
        return SHIPPED
    return None


def tiny_path(spec: TinySpec = TinySpec()) -> Path:
    return cache_dir() / f"tiny-{spec.key()}"


def ensure_tiny_model(spec: TinySpec = TinySpec(), on_step=None, use_shipped: bool = True) -> Path:
    """The tiny model's directory: the shipped weights for the default spec, else the cached one, training it
    first if absent (atomically: a kill leaves no half model)."""
    if use_shipped and (shipped := shipped_path(spec)) is not None:
        return shipped
    path = tiny_path(spec)
    if (path / "config.json").exists():
        return path
    tmp = path.with_name(path.name + f".tmp{int(time.time() * 1000)}")
    train_tiny(spec, tmp, on_step=on_step)
    try:
        tmp.rename(path)
    except OSError:  # another process finished first
        pass
    return path


def resolve_model_path(path: str) -> str:
    """`tiny` means the built-in tiny model; anything else is a local checkpoint path or hub id."""
    return str(ensure_tiny_model()) if path == "tiny" else path


def base_pass_at_1(
    path: str, n: int = 4, limit: int = 250, seed: int = 0, max_new_tokens: int = 48, temperature: float = 1.0
) -> dict[str, dict[str, float]]:
    """The model's pass@1 (%) on the held-out arith split (the demo's eval set), overall and per level."""
    import tempfile

    from formalpi.domains.math.domain import MathDomain
    from formalpi.engine.backends import HFGenerator
    from formalpi.engine.evaluate import evaluate, summarize
    from formalpi.runs import RunStore

    with MathDomain() as domain, tempfile.TemporaryDirectory() as d:
        problems = domain.problems("arith", "test", limit=limit)
        gen = HFGenerator.from_pretrained(path)
        records = evaluate(
            gen,
            domain,
            problems,
            n=n,
            temperature=temperature,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            seed=seed,
            condition="base",
            store=RunStore(Path(d)),
        )
    return summarize(records)
