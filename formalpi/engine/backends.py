"""Generation backends behind one protocol: `HFGenerator` (transformers) and `VLLMGenerator` (optional)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 32
    seed: int = 0


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


class Generator(Protocol):
    """prompts (already chat-formatted strings) -> for each prompt, `params.n` completions."""

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]: ...

    def chat_prompt(self, turns: Sequence[tuple[str, str]]) -> str:
        """Render (role, text) turns with the model's chat template (plain concatenation if it has none),
        ending with an open assistant turn."""
        ...
