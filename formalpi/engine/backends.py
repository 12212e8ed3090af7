"""Generation backends behind one protocol: `HFGenerator` (transformers) and `VLLMGenerator` (optional)."""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, Sequence

if TYPE_CHECKING:
    from formalpi.config import ModelConfig, VLLMConfig


@dataclass(frozen=True)
class SamplingParams:
    """What both backends sample with: no top-k, no min-p, no repetition penalty (the checkpoint's
    generation_config defaults are NOT applied: a run is defined by its config alone)."""

    n: int = 1
    temperature: float = 1.0  # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 32
    seed: int = 0
    min_new_tokens: int = 0  # stop tokens suppressed until this many are generated (benchmarks: full length)


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

    def close(self) -> None:
        """Give the accelerator memory back (before training starts in the same process)."""
        ...


def greedy_writer(gen: Generator) -> Callable[[Sequence[tuple[str, str]], int, int], str]:
    """`gen` as a `formalpi.pi_condition.TextWriter`: (chat turns, max_new_tokens, seed) -> one greedy
    completion's text. What a condition that asks a model (the Lean diagnosis) is given in its extras."""

    def write(turns: Sequence[tuple[str, str]], max_new_tokens: int, seed: int) -> str:
        params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed)
        return gen.generate([gen.chat_prompt(turns)], params)[0][0].text

    return write


def render_chat(tokenizer, turns: Sequence[tuple[str, str]], enable_thinking: bool | None = None) -> str:
    """Chat-template rendering with an open assistant turn; plain "role: text" lines when there is none.

    `enable_thinking` is handed to the template (Qwen3's switch: False renders an empty think block, so the model
    answers at once); None leaves the template's default. Templates without the variable ignore it."""
    messages = [{"role": r, "content": t} for r, t in turns]
    if getattr(tokenizer, "chat_template", None):
        extra = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)
    return "".join(f"{r}: {t}\n" for r, t in turns) + "assistant: "


def stop_token_ids(tokenizer) -> list[int]:
    """The tokens that end a completion in both backends: the tokenizer's EOS and its pad token."""
    ids = [tokenizer.eos_token_id, tokenizer.pad_token_id]
    return sorted({i for i in ids if i is not None})


def until_stop(ids: Sequence[int], stops: Sequence[int]) -> list[int]:
    """The completion's tokens before the first stop token (the stop token itself is not counted)."""
    stop = set(stops)
    for j, t in enumerate(ids):
        if t in stop:
            return list(ids[:j])
    return list(ids)


def release(generator) -> None:
    """`generator.close()` when it has one (any Generator may be passed)."""
    close = getattr(generator, "close", None)
    if close is not None:
        close()


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

    def __init__(self, model, tokenizer, batch_size: int = 256, enable_thinking: bool | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.enable_thinking = enable_thinking
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = 256,
        enable_thinking: bool | None = None,
    ) -> "HFGenerator":
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = resolve_device(device)
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        tok = AutoTokenizer.from_pretrained(path)
        model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)  # transformers' stubs: untyped .to
        model = model.to(device).eval()
        return cls(model, tok, batch_size=batch_size, enable_thinking=enable_thinking)

    def chat_prompt(self, turns: Sequence[tuple[str, str]]) -> str:
        return render_chat(self.tokenizer, turns, self.enable_thinking)

    def close(self) -> None:
        import gc

        import torch

        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

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
            chunk = flat[start : start + self.batch_size]
            enc = self.tokenizer([p for _, p in chunk], return_tensors="pt", padding=True, add_special_tokens=False).to(
                device
            )
            # a fresh seed per batch drawn from the call's generator: batches are reproducible one by one
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            greedy = params.temperature == 0
            stops = stop_token_ids(self.tokenizer)
            extra = {"min_new_tokens": params.min_new_tokens} if params.min_new_tokens else {}
            with torch.no_grad():
                seqs = self.model.generate(
                    **enc,
                    do_sample=not greedy,
                    temperature=None if greedy else params.temperature,
                    top_p=None if greedy else params.top_p,
                    top_k=None,
                    max_new_tokens=params.max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=stops,
                    use_cache=True,
                    **extra,
                )
            new = seqs[:, enc["input_ids"].shape[1] :].tolist()  # one device-to-host copy per batch
            for (i, _), row, n_prompt in zip(chunk, new, enc["attention_mask"].sum(1).tolist()):
                # pad fills the rows that stopped early; a sampled pad ends a completion like EOS
                full = params.min_new_tokens >= params.max_new_tokens  # benchmarks: every token counts
                ids = row if full else until_stop(row, stops)
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                out[i].append(Completion(text=text, prompt_tokens=n_prompt, completion_tokens=len(ids)))
        return out


def request_seed(seed: int, index: int) -> int:
    """The vLLM request seed of the `index`-th prompt of a call seeded `seed`: each prompt has its own stream, so
    its samples do not depend on what else is in the batch (vLLM gives the k-th of n samples `seed + k`)."""
    digest = hashlib.sha256(f"formalpi|{seed}|{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x3FFFFFFF


def vllm_sampling_kwargs(params: SamplingParams, stops: Sequence[int] = (), index: int = 0) -> dict:
    """Our SamplingParams as vllm.SamplingParams keyword arguments for the `index`-th prompt of a call.

    Every knob is explicit so that the checkpoint's generation_config (e.g. Qwen3's top_k=20) changes nothing;
    vLLM detokenizes nothing (the text is decoded here, as HFGenerator does, from the same kept tokens)."""
    greedy = params.temperature == 0
    return {
        "n": params.n,
        "temperature": 0.0 if greedy else params.temperature,
        "top_p": 1.0 if greedy else params.top_p,
        "top_k": 0,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "max_tokens": params.max_new_tokens,
        "min_tokens": params.min_new_tokens,
        "stop_token_ids": list(stops),
        "seed": request_seed(params.seed, index),
        "detokenize": False,
    }


def vllm_engine_kwargs(path: str, opts: "VLLMConfig | None", dtype: str = "auto") -> dict:
    """vllm.LLM keyword arguments from the config's `model.vllm` section."""
    from formalpi.config import VLLMConfig

    o = opts or VLLMConfig()
    kw = {
        "model": path,
        "tokenizer": path,
        "dtype": dtype,
        "tensor_parallel_size": o.tensor_parallel_size,
        "gpu_memory_utilization": o.gpu_memory_utilization,
        # a prompt read from the cache is computed differently from one prefilled, and which of a call's requests
        # hits the cache depends on scheduling: deterministic runs go without it
        "enable_prefix_caching": o.enable_prefix_caching and not o.deterministic,
        "enforce_eager": o.enforce_eager,
        "seed": 0,
        # sampling defaults come from our SamplingParams, never from the checkpoint's generation_config
        "generation_config": "vllm",
    }
    if o.max_model_len is not None:
        kw["max_model_len"] = o.max_model_len
    if o.max_num_seqs is not None:
        kw["max_num_seqs"] = o.max_num_seqs
    if o.attention_backend is not None:
        kw["attention_backend"] = o.attention_backend
    return kw


BATCH_INVARIANT_ENV = "VLLM_BATCH_INVARIANT"  # vLLM's switch for batch-invariant kernels (model.vllm.deterministic)

# vLLM is "bring your own": any release from 0.26 on is accepted. Run-tested: what the GPU machine carries (its
# torch 2.11 caps vLLM at 0.26). Newer releases (0.27-0.32 pin torch 2.13, 0.33 torch 2.14) are untested; the calls
# made here were checked against vLLM's current source and docs (main, December 2026): LLM(model, tokenizer, dtype,
# tensor_parallel_size, gpu_memory_utilization, enable_prefix_caching, enforce_eager, seed, generation_config,
# max_model_len, max_num_seqs, attention_backend), LLM.generate([{"prompt_token_ids": ...}], [SamplingParams],
# use_tqdm=False), LLM.get_tokenizer(), and every SamplingParams field vllm_sampling_kwargs sets.
VLLM_RUN_TESTED = ("0.26",)
_vllm_warned: set[str] = set()


class VLLMVersionWarning(UserWarning):
    """The installed vLLM is outside the run-tested releases (a warning, never a refusal)."""


def vllm_version_note(version: str) -> str | None:
    """None for a run-tested release; otherwise one line saying what is known about it."""
    minor = ".".join(version.split("+")[0].split(".")[:2])
    if minor in VLLM_RUN_TESTED:
        return None
    tested = ", ".join(f"{v}.x" for v in VLLM_RUN_TESTED)
    try:
        newer = tuple(int(x) for x in minor.split(".")) > tuple(int(x) for x in VLLM_RUN_TESTED[-1].split("."))
    except ValueError:
        newer = False
    how = (
        "the calls formalpi makes were checked against vLLM's current documented API, not run"
        if newer
        else "older than the supported range (>= 0.26)"
    )
    return (
        f"vLLM {version} is untested with formalpi (run-tested: {tested}; {how}); compare a few records with "
        "model.backend = 'hf' (bench/gpu_retry_round.py) before a long run"
    )


def warn_vllm_version(version: str) -> None:
    """Warn once per process and release when the installed vLLM is outside the run-tested range."""
    note = vllm_version_note(version)
    if note and version not in _vllm_warned:
        _vllm_warned.add(version)
        warnings.warn(note, VLLMVersionWarning, stacklevel=3)


VLLM_MISSING = (
    "model.backend = 'vllm' needs vLLM (GPU only): pip install 'formalpi[vllm]' "
    "(bring your own vLLM >= 0.26; see docs/performance.md for the tested versions and an offline recipe)"
)


class VLLMGenerator:
    """vLLM generation (GPU; `pip install 'formalpi[vllm]'`): one engine per process, tensor parallel over
    `model.vllm.tensor_parallel_size` GPUs (data parallel = one engine per GPU: formalpi/engine/shard.py).

    Same contract as HFGenerator: prompts are tokenized here without special tokens (the chat template already
    holds them), completions end before the tokenizer's EOS or pad token, text is decoded here from the kept
    tokens, and each prompt samples from its own seed. A LoRA round's checkpoint is a merged model directory
    (formalpi/engine/train.py), so vLLM loads it as a plain model. `close()` shuts the engine down and returns
    its GPU memory (vLLM keeps it otherwise, even after the object is dropped).
    """

    def __init__(
        self, path: str, dtype: str = "auto", opts: "VLLMConfig | None" = None, enable_thinking: bool | None = None
    ):
        try:
            import vllm
        except ImportError:
            from formalpi.errors import ConfigError

            raise ConfigError(VLLM_MISSING) from None
        self._vllm = vllm
        warn_vllm_version(getattr(vllm, "__version__", "unknown"))
        self.enable_thinking = enable_thinking
        if opts is not None and opts.deterministic:
            # read by the engine-core process this starts (it inherits the environment): kernels whose results do
            # not depend on the batch a request shares, so a chunk samples the same on one engine or on N
            os.environ[BATCH_INVARIANT_ENV] = "1"
        import torch.distributed as dist

        # a colocated OPSD engine earlier in this process (formalpi.engine.colocate) set up torch.distributed and
        # vLLM's groups in this process; close() must leave those to it (skeleton-opsd: eval, then the next seed)
        self._owns_distributed = not (dist.is_available() and dist.is_initialized())
        self.llm = vllm.LLM(**vllm_engine_kwargs(path, opts, dtype))
        self.tokenizer = self.llm.get_tokenizer()
        self.stops = stop_token_ids(self.tokenizer)

    def chat_prompt(self, turns: Sequence[tuple[str, str]]) -> str:
        return render_chat(self.tokenizer, turns, self.enable_thinking)

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        if not prompts:
            return []
        ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        # vLLM refuses n > 1 with greedy decoding: then n requests of n=1 each (the prompt's KV cache is shared)
        copies = params.n if params.temperature == 0 and params.n > 1 else 1
        kw = [vllm_sampling_kwargs(params, self.stops, i) | ({"n": 1} if copies > 1 else {}) for i in range(len(ids))]
        requests = [
            ({"prompt_token_ids": x}, self._vllm.SamplingParams(**k)) for x, k in zip(ids, kw) for _ in range(copies)
        ]
        results = self.llm.generate([r[0] for r in requests], [r[1] for r in requests], use_tqdm=False)
        grouped = [
            [o for r in results[i * copies : (i + 1) * copies] for o in sorted(r.outputs, key=lambda o: o.index)]
            for i in range(len(ids))
        ]
        out = []
        for prompt_ids, outputs in zip(ids, grouped):
            comps = []
            for o in outputs:
                full = params.min_new_tokens >= params.max_new_tokens  # benchmarks: every token counts
                kept = list(o.token_ids) if full else until_stop(o.token_ids, self.stops)
                comps.append(
                    Completion(
                        text=self.tokenizer.decode(kept, skip_special_tokens=True),
                        prompt_tokens=len(prompt_ids),
                        completion_tokens=len(kept),
                    )
                )
            out.append(comps)
        return out

    def close(self) -> None:
        """Shut the engine down. Not vLLM's sleep mode (`LLM(enable_sleep_mode=True)`, `sleep(level)`, `wake_up()`):
        level 1 keeps the weights in CPU memory to wake the same model, level 2 discards them but keeps the engine
        for weights loaded into it again; a retry round's next engine loads a different checkpoint directory (the
        round's merged model), so nothing of the old engine is reused and shutting it down frees the most."""
        import contextlib
        import gc

        llm, self.llm = getattr(self, "llm", None), None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        with contextlib.suppress(Exception):  # the engine-core process goes, and its GPU memory with it
            if core is not None:
                core.shutdown()
        if getattr(self, "_owns_distributed", True):
            with contextlib.suppress(Exception):
                from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

                destroy_model_parallel()
                destroy_distributed_environment()
        del llm, engine, core
        gc.collect()
        with contextlib.suppress(Exception):
            import torch

            torch.cuda.empty_cache()


def load_generator(
    path: str,
    backend: str = "hf",
    dtype: str = "auto",
    device: str = "auto",
    batch_size: int = 256,
    *,
    enable_thinking: bool | None = None,
    vllm: "VLLMConfig | None" = None,
) -> Generator:
    """`path`: a model directory or hub id ("tiny" is resolved by the caller: formalpi.tiny.resolve_model_path,
    which this layer must not import: tiny imports the engine)."""
    if backend == "vllm":
        return VLLMGenerator(path, dtype=dtype, opts=vllm, enable_thinking=enable_thinking)
    return HFGenerator.from_pretrained(
        path, dtype=dtype, device=device, batch_size=batch_size, enable_thinking=enable_thinking
    )


def generator_for(model: "ModelConfig", path: str, batch_size: int = 256) -> Generator:
    """The generator a config's `model` section asks for, loaded from `path` (a round's checkpoint or the base)."""
    return load_generator(
        path,
        backend=model.backend,
        dtype=model.dtype,
        device=model.device,
        batch_size=batch_size,
        enable_thinking=model.enable_thinking,
        vllm=model.vllm,
    )
