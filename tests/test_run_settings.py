"""Settings that must reach every part of a run: the SFT LoRA init seeded in-process, `model.enable_thinking` in
the SFT / OPSD / IPRS chat templates, and prompt-context PI placed outside the prompt's open code block."""

from __future__ import annotations

import pytest
import torch

from formalpi.config import TrainConfig
from formalpi.records import Example
from formalpi.tiny import ensure_tiny_model

# a Qwen3-style switch: enable_thinking = false renders an empty think block after the assistant tag (no newlines
# inside: the tiny model's character vocabulary has none)
THINK_TEMPLATE = (
    "{% set off = enable_thinking is defined and not enable_thinking %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' and off %}"
    "<think></think>{% endif %}{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% if off %}<think></think>{% endif %}"
    "{% endif %}"
)
EMPTY_THINK = "<think></think>"


@pytest.fixture(scope="module")
def tiny_model() -> str:
    return str(ensure_tiny_model())


def _examples() -> list[Example]:
    return [
        Example(
            prompt=f"What is {a}+{a}?",
            completion=f"{a}+{a}={2 * a}. \\boxed{{{2 * a}}}",
            problem_id=str(a),
            attempt_id=str(a),
            condition="x",
        )
        for a in (3, 4)
    ]


def test_sft_lora_init_is_seeded_in_process(tiny_model, tmp_path):
    # a regression guard, not a fix: TRL's SFTTrainer seeds before it wraps the model in LoRA (it passes on f346383)
    from safetensors.torch import load_file

    from formalpi.engine.train import sft

    cfg = TrainConfig(lora_rank=4, lora_alpha=8, lr=1e-2, max_steps=1, batch_size=2, max_length=64)
    weights = []
    for i in range(2):
        torch.manual_seed(100 + i)  # whatever this process drew before: the same seed must give the same model
        sft(tiny_model, _examples(), cfg, tmp_path / f"m{i}", seed=7, device="cpu", dtype="float32")
        weights.append(load_file(tmp_path / f"m{i}" / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_enable_thinking_reaches_the_sft_chat_template(tiny_model, tmp_path):
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    from formalpi.engine.train import sft_args, to_dataset

    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.chat_template = THINK_TEMPLATE
    args = sft_args(TrainConfig(max_length=128), tmp_path, 0, False, torch.float32, 2)
    for flag, want in ((False, True), (None, False)):
        trainer = SFTTrainer(
            model=tiny_model, args=args, train_dataset=to_dataset(_examples(), flag), processing_class=tok
        )
        assert (EMPTY_THINK in tok.decode(trainer.train_dataset[0]["input_ids"])) is want


def test_enable_thinking_reaches_the_multi_process_sft_template(tiny_model, tmp_path, monkeypatch):
    # the accelerate path: launch.py writes the flag on the entry point's command line, train_entry parses it and
    # builds the sharded trainer's dataset with it (rendered here by TRL's own tokenisation)
    import shutil

    from transformers import AutoTokenizer

    from formalpi.engine import train_entry
    from formalpi.engine.launch import EntryFiles, train_entry_args, write_entry_inputs

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    tok = AutoTokenizer.from_pretrained(model)
    tok.chat_template = THINK_TEMPLATE
    tok.save_pretrained(model)
    out = tmp_path / "out"
    cfg = TrainConfig(max_length=128)
    for flag, want in ((False, True), (True, False), (None, False)):
        a = train_entry.parse_args(
            train_entry_args(str(model), EntryFiles.beside(out), out, 0, "cpu", "float32", enable_thinking=flag)
        )
        assert a.enable_thinking is flag
        trainer, tok, _ = train_entry.sharded_trainer(
            a.model, _examples(), cfg, tmp_path / "t", a.seed, False, torch.float32, a.enable_thinking
        )
        assert (EMPTY_THINK in tok.decode(trainer.train_dataset[0]["input_ids"])) is want
    # main hands the parsed flag to the training function it picks (one process: `sft`)
    seen = {}

    def record(*args, **kw):
        seen.update(kw)
        raise SystemExit  # the handoff is what is checked; the training itself is the in-process `sft`

    monkeypatch.setattr(train_entry, "sft", record)
    files = EntryFiles.beside(out)
    write_entry_inputs(files, _examples(), cfg)
    with pytest.raises(SystemExit):
        train_entry.main(train_entry_args(str(model), files, out, 0, "cpu", "float32", enable_thinking=False))
    assert seen["enable_thinking"] is False


def test_enable_thinking_reaches_the_opsd_and_iprs_templates(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    from formalpi.config import config_from_dict
    from formalpi.engine.opsd import render_text

    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.chat_template = THINK_TEMPLATE
    assert render_text(tok, [("user", "q")], False).endswith(EMPTY_THINK)
    assert EMPTY_THINK not in render_text(tok, [("user", "q")])
    # IPRS hands model.enable_thinking to TRL's GRPOTrainer and to its teacher (the OPSD stage: the test below)
    from formalpi.domains.math.domain import MathDomain
    from formalpi.engine import iprs

    cfg = config_from_dict(
        {
            "name": "g",
            "method": "iprs",
            "condition": "gold",
            "model": {"path": tiny_model, "enable_thinking": False},
            "iprs": {"steps": 1, "batch_size": 1, "num_generations": 2, "max_new_tokens": 4},
            "train": {"lora_rank": 4},
        }
    )
    with MathDomain() as domain:
        problems = domain.problems("arith", "train", limit=2)
        trainer, rewards = iprs.build_trainer(cfg, 0, domain, tiny_model, problems, tmp_path / "t")
    assert trainer.chat_template_kwargs == {"enable_thinking": False} and rewards.enable_thinking is False


@pytest.mark.parametrize("flag", [False, None])
def test_the_opsd_stage_renders_with_model_enable_thinking(tiny_model, tmp_path, monkeypatch, flag):
    # one real OPSD step of the `opsd` stage on a model with a Qwen3-style template: the prompts the student
    # samples from carry the empty think block exactly when model.enable_thinking is false
    import shutil

    from transformers import AutoTokenizer

    from formalpi.domains.math.domain import MathDomain
    from formalpi.config import config_from_dict
    from formalpi.engine import opsd
    from formalpi.engine.context import TrainContext
    from formalpi.runs import RunStore

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    tok = AutoTokenizer.from_pretrained(model)
    tok.chat_template = THINK_TEMPLATE
    tok.save_pretrained(model)
    cfg = config_from_dict(
        {
            "name": "o",
            "method": "opsd",
            "condition": "try_again",
            "runs_dir": str(tmp_path),
            "model": {"path": str(model), "device": "cpu", "dtype": "float32", "enable_thinking": flag},
            "data": {"dataset": "arith", "train_split": "train", "train_limit": 2},
            "opsd": {"steps": 1, "batch_size": 2, "samples_per_problem": 1, "max_new_tokens": 4},
            "train": {"lora_rank": 4, "lora_alpha": 8},
        }
    )
    seen: list[str] = []
    real = opsd.OPSDSession.sample

    def sample(self, texts, **kw):  # the real sampler; the prompts it is given are recorded
        seen.extend(texts)
        return real(self, texts, **kw)

    monkeypatch.setattr(opsd.OPSDSession, "sample", sample)
    store = RunStore.open(tmp_path, cfg.name, 0, cfg.model_dump(mode="json"), cfg.fingerprint())
    with MathDomain() as domain:
        opsd.train_opsd(TrainContext(cfg, 0, store, domain, str(model)))
    assert len(seen) == 2 and all(t.endswith("<|im_start|>assistant\n" + EMPTY_THINK * (flag is False)) for t in seen)


def test_prompt_context_pi_is_not_inside_the_prompts_open_code_block():
    from formalpi.engine.opsd import with_pi

    lean = "Complete the proof.\n\n```lean4\ntheorem t (x : Nat) : x = x := by"
    got = with_pi(lean, "Here is the structure of a correct proof.")
    assert got == (
        "Complete the proof.\n\nHere is the structure of a correct proof.\n\n"
        "```lean4\ntheorem t (x : Nat) : x = x := by"
    )
    assert got.endswith(":= by")  # the answer still continues the statement
    closed = "Solve.\n```python\nx = 1\n```"
    assert with_pi(closed, "PI") == closed + "\n\nPI"  # no open block: after the prompt, as before
