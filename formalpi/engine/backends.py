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


def render_chat(tokenizer, turns: Sequence[tuple[str, str]]) -> str:
    """Chat-template rendering with an open assistant turn; plain "role: text" lines when there is none."""
    messages = [{"role": r, "content": t} for r, t in turns]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "".join(f"{r}: {t}\n" for r, t in turns) + "assistant: "


_render_chat = render_chat  # the old private name, for callers not yet moved to `render_chat`


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class HFGenerator:
    """transformers generation, CPU or GPU: batched (left padding), seeded, `n` samples per prompt, KV cache on.

    Determinism: one `generate` call is seeded by `params.seed`; the engine calls it on fixed chunks of work so
    that a resumed run reproduces the samples of the run it resumes.
    """

    def __init__(self, model, tokenizer, batch_size: int = 256):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @classmethod
    def from_pretrained(cls, path: str, dtype: str = "auto", device: str = "auto",
                        batch_size: int = 256) -> "HFGenerator":
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = resolve_device(device)
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(device).eval()
        return cls(model, tok, batch_size=batch_size)

    def chat_prompt(self, turns: Sequence[tuple[str, str]]) -> str:
        return _render_chat(self.tokenizer, turns)

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        import torch

        out: list[list[Completion]] = [[] for _ in prompts]
        flat = [(i, p) for i, p in enumerate(prompts) for _ in range(params.n)]
        # batch prompts of similar length together: less left padding computed and cached when a call spans
        # several batches (stable sort: the order, hence the seeded samples, depends only on the inputs)
        flat.sort(key=lambda ip: len(ip[1]))
        gen = torch.Generator(device="cpu").manual_seed(params.seed)
        device = self.model.device
        for start in range(0, len(flat), self.batch_size):
            chunk = flat[start:start + self.batch_size]
            enc = self.tokenizer([p for _, p in chunk], return_tensors="pt", padding=True,
                                 add_special_tokens=False).to(device)
            # a fresh seed per batch drawn from the call's generator: batches are reproducible one by one
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            greedy = params.temperature == 0
            with torch.no_grad():
                seqs = self.model.generate(
                    **enc, do_sample=not greedy, temperature=None if greedy else params.temperature,
                    top_p=None if greedy else params.top_p, top_k=None, max_new_tokens=params.max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id,
                    use_cache=True)
            new = seqs[:, enc["input_ids"].shape[1]:].tolist()  # one device-to-host copy per batch
            for (i, _), row, n_prompt in zip(chunk, new, enc["attention_mask"].sum(1).tolist()):
                ids = _until_eos(row, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id)
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                out[i].append(Completion(text=text, prompt_tokens=n_prompt, completion_tokens=len(ids)))
        return out


def _until_eos(ids: list[int], eos: int, pad: int) -> list[int]:
    for j, t in enumerate(ids):
        if t == eos or t == pad:
            return ids[:j]
    return ids


def vllm_sampling_kwargs(params: SamplingParams) -> dict:
    """The mapping from our SamplingParams to vllm.SamplingParams keyword arguments (unit-tested without vLLM)."""
    return {"n": params.n, "temperature": params.temperature, "top_p": params.top_p,
            "max_tokens": params.max_new_tokens, "seed": params.seed}


class VLLMGenerator:
    """vLLM generation (GPU; `pip install formalpi[vllm]`). One engine per process; tensor parallel via `tp`."""

    def __init__(self, path: str, tp: int = 1, dtype: str = "auto", gpu_memory_utilization: float = 0.85):
        try:
            import vllm
        except ImportError:
            from formalpi.errors import ConfigError
            raise ConfigError("model.backend = 'vllm' needs vLLM: pip install 'formalpi[vllm]' (GPU only)") from None
        self._vllm = vllm
        self.llm = vllm.LLM(model=path, tensor_parallel_size=tp, dtype=dtype,
                            gpu_memory_utilization=gpu_memory_utilization)
        self.tokenizer = self.llm.get_tokenizer()

    def chat_prompt(self, turns: Sequence[tuple[str, str]]) -> str:
        return _render_chat(self.tokenizer, turns)

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        sp = self._vllm.SamplingParams(**vllm_sampling_kwargs(params))
        results = self.llm.generate(list(prompts), sp, use_tqdm=False)
        return [[Completion(text=o.text, prompt_tokens=len(r.prompt_token_ids), completion_tokens=len(o.token_ids))
                 for o in r.outputs] for r in results]


def load_generator(path: str, backend: str = "hf", dtype: str = "auto", device: str = "auto",
                   batch_size: int = 256) -> Generator:
    """`path`: a model directory or hub id ("tiny" is resolved by the caller: formalpi.tiny.resolve_model_path,
    which this layer must not import: tiny imports the engine)."""
    if backend == "vllm":
        return VLLMGenerator(path, dtype=dtype)
    return HFGenerator.from_pretrained(path, dtype=dtype, device=device, batch_size=batch_size)
