"""Where OPSD's student samples come from: transformers `generate` on the trained model itself (CPU, tests), or a
vLLM engine in the training process on the same GPU (`model.backend = "vllm"`).

The colocated engine (`ColocatedVLLM`) follows TRL's own colocate mode (`trl/generation/vllm_generation.py`): an
in-process engine (`distributed_executor_backend="external_launcher"`) with sleep mode. Each step:
  1. `sync(student)`: the engine's weights are woken and overwritten with the student's current weights through the
     model's `load_weights` (a LoRA adapter is merged out of place, W + ΔW per layer, so the trainer's weights are
     never rounded by a merge/unmerge round trip);
  2. `sample(...)`: the KV cache is woken, the prompts are sent as token ids, each prompt with its own seed
     (`formalpi.engine.backends.request_seed`, as `VLLMGenerator`), and the completions come back as token ids;
  3. the engine sleeps at level 2 (weights and KV cache released) while the trainer runs.
One engine serves the whole process (`colocated_engine`): vLLM's sleep mode allows no second one, so runs one after
another (the rows and seeds of `formalpi skeleton-opsd`) share it.
Completions are returned exactly as the transformers path returns them: the ids up to and including EOS, or up to
(excluding) a sampled pad token, or `max_new_tokens` ids.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import torch

from formalpi.errors import ConfigError

log = logging.getLogger(__name__)


class Sampler(Protocol):
    def sample(
        self, model, tok, prompt_ids: Sequence[list[int]], *, n: int, max_new_tokens: int, temperature: float, seed: int
    ) -> list[list[list[int]]]: ...

    def close(self) -> None: ...


def cut_completion(ids: Sequence[int], eos: int, pad: int | None) -> list[int]:
    """The completion as OPSD keeps it: up to and including EOS; a sampled pad ends it (excluded)."""
    out = []
    for t in ids:
        if t == eos:
            out.append(t)
            break
        if t == pad:
            break
        out.append(t)
    return out


class HFSampler:
    """transformers `generate` on the student itself: the path for CPU and tests (temperature 0 = greedy)."""

    @torch.no_grad()
    def sample(
        self, model, tok, prompt_ids: Sequence[list[int]], *, n: int, max_new_tokens: int, temperature: float, seed: int
    ) -> list[list[list[int]]]:
        greedy = temperature == 0
        # greedy decoding refuses num_return_sequences > 1: then each prompt is sent n times (the same order)
        rows = [p for p in prompt_ids for _ in range(n)] if greedy else list(prompt_ids)
        width = max(len(p) for p in rows)
        pad = tok.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in rows], device=model.device)
        attn = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in rows], device=model.device)
        torch.manual_seed(seed)
        was_training = model.training
        model.eval()
        seqs = model.generate(
            input_ids=ids,
            attention_mask=attn,
            do_sample=not greedy,
            temperature=None if greedy else temperature,
            top_p=None,
            top_k=None,
            max_new_tokens=max_new_tokens,
            num_return_sequences=1 if greedy else n,
            pad_token_id=pad,
            eos_token_id=tok.eos_token_id,
            use_cache=True,
        )
        model.train(was_training)
        out = [cut_completion(row, tok.eos_token_id, pad) for row in seqs[:, width:].tolist()]
        return [out[i * n : (i + 1) * n] for i in range(len(prompt_ids))]

    def close(self) -> None:
        pass


def vllm_weights(model) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) in the checkpoint's naming for vLLM's `load_weights`: a LoRA layer's weight is W + ΔW,
    computed out of place; adapter tensors are skipped."""
    from peft.tuners.lora import LoraLayer

    if not (hasattr(model, "peft_config") and hasattr(model, "get_base_model")):
        for name, p in model.named_parameters():
            yield name, p.detach()
        return
    base = model.get_base_model()
    merged: dict[str, LoraLayer] = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer):
            merged[f"{name}.base_layer.weight"] = module
    for name, p in base.named_parameters():
        if "lora_" in name:
            continue
        w = p.detach()
        layer = merged.get(name)
        if layer is not None:
            with torch.no_grad():
                for adapter in layer.active_adapters:
                    if adapter in layer.lora_A:
                        # peft declares get_delta_weight on each concrete LoraLayer (Linear, Embedding, ...), not the base
                        w = w + layer.get_delta_weight(adapter).to(w.dtype)  # type: ignore[attr-defined]
        yield name.replace(".base_layer", ""), w


def _sdp(name: str) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    cuda = torch.backends.cuda
    return getattr(cuda, f"{name}_sdp_enabled"), getattr(cuda, f"enable_{name}_sdp")


def _attr(obj: Any, name: str) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    return (lambda: getattr(obj, name)), (lambda v: setattr(obj, name, v))


# torch's process-wide numeric switches: the trainer's arithmetic must not depend on whether an engine was built in
# its process (vLLM sets some of these while it starts)
NUMERIC_SETTINGS: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {
    "cuda.matmul.allow_tf32": _attr(torch.backends.cuda.matmul, "allow_tf32"),
    "cuda.matmul.allow_bf16_reduced_precision_reduction": _attr(
        torch.backends.cuda.matmul, "allow_bf16_reduced_precision_reduction"
    ),
    "cuda.matmul.allow_fp16_reduced_precision_reduction": _attr(
        torch.backends.cuda.matmul, "allow_fp16_reduced_precision_reduction"
    ),
    "float32_matmul_precision": (torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
    "cudnn.allow_tf32": _attr(torch.backends.cudnn, "allow_tf32"),
    "cudnn.benchmark": _attr(torch.backends.cudnn, "benchmark"),
    "cudnn.deterministic": _attr(torch.backends.cudnn, "deterministic"),
    "deterministic_algorithms": (torch.are_deterministic_algorithms_enabled, torch.use_deterministic_algorithms),
    "default_dtype": (torch.get_default_dtype, torch.set_default_dtype),
    "grad_enabled": (torch.is_grad_enabled, torch._C._set_grad_enabled),
    **{f"sdp.{k}": _sdp(k) for k in ("flash", "mem_efficient", "math", "cudnn")},
}


def numeric_settings() -> dict[str, Any]:
    return {k: get() for k, (get, _) in NUMERIC_SETTINGS.items()}


def restore_numeric_settings(before: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Sets every switch that changed since `before` back; returns {name: (changed to, restored to)}."""
    changed = {k: (v, before[k]) for k, v in numeric_settings().items() if v != before[k]}
    for k, (_, old) in changed.items():
        NUMERIC_SETTINGS[k][1](old)
    return changed


# what the in-process ("external_launcher") engine sets for the whole process: vllm/config/parallel.py sets
# VLLM_ENABLE_V1_MULTIPROCESSING=0, and the engine core then freezes vLLM's environment reads
# (vllm/v1/engine/core.py, `enable_envs_cache()`); left so, every later vLLM engine in the process (the run's eval,
# VLLMGenerator) is built in-process beside this one, and on an H100 that one failed at start with an illegal memory
# access (tests/test_colocate_gpu.py). Set back, a later engine gets its own engine-core process, as it does in a
# process that never held a colocated engine.
VLLM_PROCESS_ENV = ("VLLM_ENABLE_V1_MULTIPROCESSING",)


def restore_vllm_env(before: dict[str, str | None], envs: Any) -> dict[str, tuple[str | None, str | None]]:
    """Sets the variables of `before` back and lifts vLLM's environment cache (`envs`: the `vllm.envs` module);
    returns {name: (changed to, restored to)}."""
    changed = {k: (os.environ.get(k), v) for k, v in before.items() if os.environ.get(k) != v}
    for k, (_, v) in changed.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    disable = getattr(envs, "disable_envs_cache", None)  # vLLM >= 0.11
    if disable is not None:
        disable()
    return changed


@contextlib.contextmanager
def vllm_env_restored() -> Iterator[dict[str, tuple[str | None, str | None]]]:
    """Around building an in-process engine (ours, or TRL's for IPRS): vLLM's process-wide settings set back after;
    the dict yielded is filled with what was restored."""
    before = {k: os.environ.get(k) for k in VLLM_PROCESS_ENV}
    restored: dict[str, tuple[str | None, str | None]] = {}
    yield restored
    # vllm.envs imported by name: the package's attribute exists only once something imported the submodule
    restored.update(restore_vllm_env(before, importlib.import_module("vllm.envs")))


class ColocatedVLLM:
    """One vLLM engine in this process, sharing the trainer's GPU (see the module docstring)."""

    def __init__(
        self,
        path: str,
        *,
        dtype: str,
        gpu_memory_utilization: float,
        max_model_len: int | None,
        enforce_eager: bool = False,
        max_num_seqs: int | None = None,
    ):
        # before the import: importing vLLM's CUDA platform switches cuDNN attention off (vllm/platforms/cuda.py,
        # `torch.backends.cuda.enable_cudnn_sdp(False)`), which the GPU test saw as the one switch left changed
        before = numeric_settings()
        try:
            import vllm
        except ImportError:
            from formalpi.engine.backends import VLLM_MISSING

            raise ConfigError(VLLM_MISSING) from None
        self._vllm = vllm
        # the in-process ("external_launcher") executor reads a one-process torch.distributed world from these
        for k, v in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}.items():
            os.environ.setdefault(k, v)
        os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
        kw: dict[str, Any] = dict(
            model=path,
            tokenizer=path,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            enable_sleep_mode=True,
            enforce_eager=enforce_eager,
            distributed_executor_backend="external_launcher",
            seed=0,
            generation_config="vllm",
            enable_prefix_caching=True,
        )
        if max_model_len is not None:  # None: the checkpoint's max_position_embeddings
            kw["max_model_len"] = max_model_len
        if max_num_seqs is not None:
            kw["max_num_seqs"] = max_num_seqs
        with vllm_env_restored() as self.restored_env:
            self.llm = vllm.LLM(**kw)
        self.llm.sleep(level=2)
        self.asleep = True
        # what the engine's start changed in torch's process-wide switches, set back for the trainer
        self.restored_settings = restore_numeric_settings(before)
        if self.restored_settings:
            log.info("vLLM changed torch settings; restored for the trainer: %s", self.restored_settings)

    def _model(self):
        return self.llm.llm_engine.model_executor.driver_worker.model_runner.model

    def sync(self, model) -> None:
        """The engine's weights := the student's current weights (merged LoRA)."""
        torch.cuda.empty_cache()
        self.llm.wake_up(tags=["weights"])
        self.asleep = False
        target = self._model()
        for name, w in vllm_weights(model):
            target.load_weights([(name, w)])
        self.llm.reset_prefix_cache()

    def sample(
        self, model, tok, prompt_ids: Sequence[list[int]], *, n: int, max_new_tokens: int, temperature: float, seed: int
    ) -> list[list[list[int]]]:
        from formalpi.engine.backends import SamplingParams, vllm_sampling_kwargs

        self.sync(model)
        torch.cuda.empty_cache()
        self.llm.wake_up(tags=["kv_cache"])
        params = SamplingParams(n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        greedy = temperature == 0
        copies = n if greedy and n > 1 else 1  # vLLM refuses n > 1 with greedy decoding
        # stop at EOS only, as `generate(eos_token_id=eos)` does; a pad token is cut below, as the HF path does
        kws = [
            vllm_sampling_kwargs(params, [tok.eos_token_id], i) | ({"n": 1} if copies > 1 else {})
            for i in range(len(prompt_ids))
        ]
        requests = [
            ({"prompt_token_ids": list(p)}, self._vllm.SamplingParams(**k))
            for p, k in zip(prompt_ids, kws)
            for _ in range(copies)
        ]
        results = self.llm.generate([r[0] for r in requests], [r[1] for r in requests], use_tqdm=False)
        self.llm.sleep(level=2)
        self.asleep = True
        out = []
        for i in range(len(prompt_ids)):
            outs = [o for r in results[i * copies : (i + 1) * copies] for o in sorted(r.outputs, key=lambda o: o.index)]
            out.append([cut_completion(o.token_ids, tok.eos_token_id, tok.pad_token_id) for o in outs])
        return out

    def prompt_logprobs(self, model, ids: Sequence[int]) -> list[float]:
        """log p(ids[j] | ids[:j]) for j >= 1 under the engine's weights after `sync(model)` (the sync check)."""
        self.sync(model)
        self.llm.wake_up(tags=["kv_cache"])
        sp = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0, detokenize=False)
        res = self.llm.generate([{"prompt_token_ids": list(ids)}], sp, use_tqdm=False)[0]
        self.llm.sleep(level=2)
        self.asleep = True
        return [d[t].logprob for t, d in zip(ids[1:], res.prompt_logprobs[1:])]

    def ensure_asleep(self) -> None:
        """Level-2 sleep (weights and KV cache off the GPU), also after a run that stopped mid-sample."""
        if not self.asleep:
            self.llm.sleep(level=2)
            self.asleep = True

    def close(self) -> None:
        """The end of one run: the engine sleeps and stays for the next run in this process (`colocated_engine`)."""
        self.ensure_asleep()


# vLLM's sleep mode allocates through one CuMem allocator per process, and a second engine in the process fails
# ("CuMem allocator can only be used for one instance per process", vllm/v1/worker/gpu_worker.py), even after the
# first was shut down; `formalpi skeleton-opsd` runs its rows and seeds one after another in one process, so they
# share one engine: every step overwrites all of its weights with the student's (`ColocatedVLLM.sync`), and between
# runs it sleeps at level 2 (no weights, no KV cache on the GPU)
_ENGINE: tuple[tuple, ColocatedVLLM] | None = None
_TRL_ENGINE = False  # an IPRS run built TRL's colocated engine (sleep mode too) in this process

ONE_ENGINE = (
    "model.backend = 'vllm': vLLM's sleep mode allows one engine per process, and {held} already built one in this "
    "process; run {what} in its own `formalpi` command (one seed per command: --seeds 42, then --seeds 123, ...)"
)


def claim_engine_for_trl() -> None:
    """IPRS through TRL's colocate mode builds its own sleep-mode engine, which cannot be shared: refused (with the
    fix) where this process already built one, instead of vLLM's CuMem assertion mid-run."""
    global _TRL_ENGINE
    if _TRL_ENGINE or _ENGINE is not None:
        held = "an earlier IPRS run" if _TRL_ENGINE else "an OPSD run"
        raise ConfigError(ONE_ENGINE.format(held=held, what="each IPRS run"))
    _TRL_ENGINE = True


def engine_key(path: str, **settings: Any) -> tuple:
    """What a shared engine must agree on: the architecture (config.json without the fields that name or date a
    checkpoint: two checkpoints of one model share it) and the engine settings."""
    import json
    from pathlib import Path

    cfg = Path(path) / "config.json"
    arch: Any = path
    if cfg.is_file():
        drop = {"_name_or_path", "transformers_version", "torch_dtype", "dtype"}
        arch = json.dumps({k: v for k, v in json.loads(cfg.read_text()).items() if k not in drop}, sort_keys=True)
    return (arch, *sorted(settings.items()))


def colocated_engine(
    path: str,
    *,
    dtype: str,
    gpu_memory_utilization: float,
    max_model_len: int | None,
    enforce_eager: bool = False,
    max_num_seqs: int | None = None,
) -> ColocatedVLLM:
    """The process's colocated engine: built on first use, then shared by every run whose model architecture and
    engine settings are the same; a run that needs another engine in the same process is refused with the fix."""
    global _ENGINE
    settings: dict[str, Any] = dict(
        dtype=dtype,
        gpu_memory_utilization=gpu_memory_utilization,
        max_model_len=max_model_len,
        enforce_eager=enforce_eager,
        max_num_seqs=max_num_seqs,
    )
    key = engine_key(path, **settings)
    if _TRL_ENGINE:
        raise ConfigError(ONE_ENGINE.format(held="an IPRS run", what="this OPSD run"))
    if _ENGINE is not None:
        held, engine = _ENGINE
        if held != key:
            raise ConfigError(
                f"model.backend = 'vllm': this process already holds a colocated vLLM engine for another model "
                f"architecture or other engine settings (now asked for {path} with {settings}); vLLM's sleep mode "
                f"allows one engine per process. Run these rows in separate `formalpi` commands, or give them the "
                f"same model and the same opsd.vllm_gpu_memory_utilization / model.vllm settings"
            )
        engine.ensure_asleep()
        return engine
    engine = ColocatedVLLM(path, **settings)
    _ENGINE = (key, engine)
    return engine
