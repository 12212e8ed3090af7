"""Generation backends: the vLLM mapping is checked without vLLM; chat rendering with and without a template."""

import importlib.util

import pytest

from formalpi.engine.backends import SamplingParams, VLLMGenerator, _render_chat, vllm_sampling_kwargs
from formalpi.errors import ConfigError


def test_sampling_params_map_onto_vllm_names():
    p = SamplingParams(n=8, temperature=0.7, top_p=0.95, max_new_tokens=512, seed=123)
    assert vllm_sampling_kwargs(p) == {"n": 8, "temperature": 0.7, "top_p": 0.95, "max_tokens": 512, "seed": 123}


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_generator_without_vllm_says_how_to_install_it():
    with pytest.raises(ConfigError, match=r"pip install 'formalpi\[vllm\]'"):
        VLLMGenerator("/some/checkpoint")


class _NoTemplate:
    chat_template = None


def test_chat_rendering_without_a_template_is_plain_turns():
    text = _render_chat(_NoTemplate(), [("user", "What is 1+1?"), ("assistant", "3"), ("user", "Try again.")])
    assert text == "user: What is 1+1?\nassistant: 3\nuser: Try again.\nassistant: "
