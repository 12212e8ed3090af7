"""The built-in tiny model: reproducible from its seed, shipped weights match the default spec."""

import torch

from formalpi.tiny import SHIPPED, TinySpec, build_tokenizer, ensure_tiny_model, shipped_path, train_tiny


def test_training_is_reproducible_from_the_seed(tmp_path):
    spec = TinySpec(steps=5, train_per_level=20)
    a = train_tiny(spec, tmp_path / "a")
    b = train_tiny(spec, tmp_path / "b")
    from safetensors.torch import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_shipped_weights_are_the_default_spec_and_small():
    assert shipped_path(TinySpec()) == SHIPPED == ensure_tiny_model()
    assert shipped_path(TinySpec(steps=1)) is None  # another spec never gets the shipped weights
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) < 20 * 2**20


def test_tokenizer_is_character_level_with_chatml_template():
    tok = build_tokenizer()
    ids = tok("What is 12*3?", add_special_tokens=False)["input_ids"]
    assert len(ids) == len("What is 12*3?") and tok.decode(ids) == "What is 12*3?"
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert len(tok(text, add_special_tokens=False)["input_ids"]) == 1 + 5 + 2 + 1 + 1 + 1 + 10
