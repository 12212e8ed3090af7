"""Typed experiment config: one TOML file per experiment (`experiments/*.toml`), one section per stage.

Unknown keys and bad values raise `ConfigError` naming the file and the dotted key, e.g.
`experiments/x.toml: train.lr: must be > 0 (got -0.1)`. `--set key=value` overrides use the same dotted keys.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from formalpi.domain import DOMAINS, domain_settings
from formalpi.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class VLLMConfig(_Section):
    """vLLM engine settings (`model.backend = "vllm"`; ignored by the hf backend)."""

    tensor_parallel_size: int = Field(default=1, gt=0)  # GPUs per engine (data parallel: --num-gpus / shards)
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1)  # fraction of each GPU for weights + KV cache
    max_model_len: int | None = Field(default=None, gt=0)  # None: the checkpoint's max_position_embeddings
    max_num_seqs: int | None = Field(default=None, gt=0)  # sequences decoded at once; None: vLLM's default
    enable_prefix_caching: bool = True  # n samples and retries share their prompt's KV cache
    enforce_eager: bool = False  # True: no CUDA graphs / torch.compile (faster start, slower decoding)
    attention_backend: str | None = None  # e.g. "TRITON_ATTN"; None: vLLM's choice (FlashAttention 3 on Hopper)
    # True: batch-invariant kernels (VLLM_BATCH_INVARIANT=1) and no prefix cache, so a prompt's samples (almost) do
    # not depend on what else the engine runs: sharded runs match one engine's records (measured: docs/scaleout.md)
    deterministic: bool = False


class ModelConfig(_Section):
    path: str = "tiny"  # "tiny" = the built-in tiny model (trained on first use); else a local HF checkpoint
    backend: Literal["hf", "vllm"] = "hf"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"  # "auto" = cuda if available, else cpu
    enable_thinking: bool | None = (
        None  # chat-template switch (Qwen3: False = answer without a think block); None = template default
    )
    vllm: VLLMConfig = Field(default_factory=VLLMConfig)


class DataConfig(_Section):
    dataset: str = "arith"  # arith | math500 | humaneval | mbpp | minif2f
    path: str | None = None  # local file; None = the default data dir (see `formalpi data fetch`)
    train_split: str = "train"
    eval_split: str = "test"
    train_limit: int | None = Field(default=None, gt=0)
    eval_limit: int | None = Field(default=None, gt=0)
    # a run whose train and eval problems overlap (same id or same text) refuses to start unless this is true;
    # then the manifest records the overlap (`train_on_eval`) and every table made from the run warns
    allow_train_on_eval: bool = False
    # false: every seed trains/evaluates on the same problems (a seed varies sampling and LoRA init only);
    # true: each seed also redraws its problems (a seeded subset of `*_limit` problems, or arith's seeded draw)
    redraw_per_seed: bool = False
    # Lean skeleton PI: a JSONL of {name, proof} verified reference proofs; None = the verified proofs of the base
    # model's own first attempts on the training split (retry rows: each round's; OPSD/IPRS: one sampling pass)
    proof_corpus: str | None = None


class SamplingConfig(_Section):
    n: int = Field(default=4, gt=0)  # first-attempt samples per training problem
    temperature: float = Field(default=1.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_new_tokens: int = Field(default=32, gt=0)
    batch_size: int = Field(default=256, gt=0)  # prompts x samples per generate() call


class RetryConfig(_Section):
    """retry-STaR's loop (method = "retry"): each round samples first attempts, retries the failed ones with the
    condition's PI, keeps the verified retries as SFT examples and fine-tunes on them (`[train]`)."""

    k: int = Field(default=1, ge=0)  # retries per failed attempt
    filter: Literal["binary", "graded"] = "binary"  # keep verified retries (binary) or retries scoring >= threshold
    threshold: float = Field(default=1.0, ge=0, le=1)  # graded filter keeps retries with score >= threshold
    rounds: int = Field(default=1, gt=0)  # iterative retry: each round starts from the last checkpoint
    # compute-matched controls: the retry row (a run name in the same runs_dir) whose realised budget at the same
    # seed this row's first attempts match (formalpi/engine/matching.py); None = the worst case, sampling.n × 2
    match_budget_of: str | None = None
    match_unit: Literal["samples", "tokens"] = "samples"  # match its samples drawn, or its generated tokens


class FinetuneConfig(_Section):
    """What training updates: the whole model, or a fresh LoRA adapter (peft, every linear layer) merged into the
    checkpoint at the end, and whether activations are recomputed. OPSD and IPRS rows' `[train]` holds only these
    keys: they are all those methods read from it (formalpi/engine/opsd.py `load_student`); their optimizer
    settings are in `[opsd]` / `[iprs]`."""

    finetune: Literal["lora", "full"] = "lora"
    lora_rank: int = Field(default=8, gt=0)  # the adapter's rank r
    lora_alpha: int = Field(default=16, gt=0)  # LoRA's scale is lora_alpha / lora_rank
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    # each layer's activations recomputed in the backward pass: ~1/3 more compute, long sequences fit (8B full FT,
    # Lean's 4,096-token OPSD)
    gradient_checkpointing: bool = False


class TrainConfig(FinetuneConfig):
    """The SFT of each retry round (method = "retry"; TRL SFTTrainer, formalpi/engine/train.py): what is trained
    (FinetuneConfig's keys) and how."""

    lr: float = Field(default=1e-3, gt=0)  # peak learning rate
    epochs: float = Field(default=1.0, gt=0)  # passes over the round's examples (unless max_steps is set)
    # a fixed number of optimizer steps whatever the number of examples (the data is cycled; epochs is ignored):
    # conditions that yield different numbers of examples then get the same amount of training
    max_steps: int | None = Field(default=None, gt=0)
    batch_size: int = Field(default=16, gt=0)  # examples per optimizer step (per grad_accum micro-step)
    grad_accum: int = Field(default=1, gt=0)  # micro-batches accumulated per optimizer step
    max_length: int = Field(default=256, gt=0)  # tokens per example (prompt + completion); longer ones are cut
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)  # fraction of the steps the learning rate warms up over
    weight_decay: float = Field(default=0.0, ge=0)  # AdamW's
    liger_kernel: bool | None = (
        None  # Liger's fused RMSNorm/SwiGLU/RoPE/linear-CE kernels; None = on for CUDA if installed
    )
    lr_scheduler: Literal[
        "linear",
        "cosine",
        "cosine_with_restarts",
        "polynomial",
        "constant",
        "constant_with_warmup",
        "inverse_sqrt",
        "cosine_with_min_lr",
        "warmup_stable_decay",
    ] = "cosine"  # transformers' names
    # logging integrations of the trainer (transformers' names: "tensorboard", "wandb", "mlflow", ...); TensorBoard
    # event files go to <run>/<seed>/tensorboard/checkpoint_r<round>/. Not part of the fingerprint.
    report_to: list[str] = Field(default_factory=list)
    # any further SFTConfig field (TRL), e.g. {max_grad_norm = 0.5, logging_steps = 1}; checked against SFTConfig
    # before the run starts; fields that have a key above are refused (use that key)
    sft_args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("report_to", mode="before")
    @classmethod
    def _report_to_list(cls, v: Any) -> Any:
        if v in ("none", None):
            return []
        return [v] if isinstance(v, str) else v


class EvalConfig(_Section):
    n: int = Field(default=4, gt=0)
    temperature: float = Field(default=1.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_new_tokens: int = Field(default=32, gt=0)
    ks: list[int] = Field(default_factory=lambda: [1])

    @field_validator("ks")
    @classmethod
    def _ks_positive(cls, v: list[int]) -> list[int]:
        if not v or any(k <= 0 for k in v):
            raise ValueError("must be a non-empty list of positive integers")
        return v


class OPSDConfig(_Section):
    """On-policy self-distillation (formalpi/engine/opsd.py): the student samples from the problem alone, the
    teacher (same model, see `teacher`) scores the student's tokens with the PI in its context."""

    divergence: Literal["reverse_kl", "jsd"] = "reverse_kl"  # per-token D(student || teacher) on the student's tokens
    beta: float = Field(default=0.5, gt=0, lt=1)  # generalized JSD mixture weight of the teacher (divergence = "jsd")
    top_k: int | None = Field(default=None, gt=0)  # None: full vocabulary; k: student's top-k support + a tail bucket
    teacher: Literal["base", "frozen", "ema"] = "base"  # base: LoRA adapter disabled (full FT: a frozen copy)
    ema_decay: float = Field(default=0.99, gt=0, lt=1)
    teacher_context: Literal["auto", "retry", "prompt"] = "auto"  # how the PI enters the teacher (see opsd.py)
    on_passed: Literal["skip", "plain"] = "skip"  # retry-style PI on a passed sample: no loss, or the teacher w/o PI
    # the seed's scale (experiments/README.md, "OPSD / IPRS / PCCG"): 200 steps x 32 problems = 6,400 problem draws
    steps: int = Field(default=200, gt=0)
    lr: float = Field(default=1e-4, gt=0)
    batch_size: int = Field(default=32, gt=0)  # problems per step
    samples_per_problem: int = Field(default=1, gt=0)
    # None = the row's sampling length (`sampling.max_new_tokens`): the student must be able to finish a solution
    max_new_tokens: int | None = Field(default=None, gt=0)
    temperature: float = Field(default=1.0, gt=0)
    grad_clip: float = Field(default=1.0, gt=0)
    save_every: int = Field(default=20, gt=0)  # steps between resumable state snapshots
    # samples per forward/backward (gradients accumulate over the step's samples). Measured on one H100 80GB with
    # the Qwen3-1.7B architecture (docs/performance.md, "OPSD and IPRS"): 4 x 2,048 tokens peaks at 43 GiB; 4 x 4,096
    # runs out of memory, so the 4,096-token Lean rows set 2 (or turn on train.gradient_checkpointing: 10 GiB)
    micro_batch_size: int = Field(default=4, gt=0)
    loss_chunk_tokens: int = Field(default=1024, gt=0)  # completion tokens per LM-head chunk of the loss
    # model.backend = "vllm": the fraction of the GPU the colocated engine takes while it samples (it sleeps,
    # memory released, while the trainer runs)
    vllm_gpu_memory_utilization: float = Field(default=0.35, gt=0, lt=1)
    frontier: bool = False  # gate training problems by the base model's solve rate ("PCCG")
    frontier_low: float = Field(default=0.30, ge=0, le=1)  # keep problems with low <= base solve rate <= high
    frontier_high: float = Field(default=0.50, ge=0, le=1)  # the seed's PCCG band: 30-50 %
    frontier_n: int = Field(default=16, gt=0)  # base samples per problem (full length) for the solve-rate estimate
    frontier_seed_offset: int = 10_000  # estimate with seed + offset: never the evaluation's samples

    @model_validator(mode="after")
    def _band_ordered(self) -> "OPSDConfig":
        if self.frontier_low > self.frontier_high:
            raise ValueError(f"frontier_low ({self.frontier_low}) must be <= frontier_high ({self.frontier_high})")
        return self


class IPRSConfig(_Section):
    """IPRS, PI reward shaping (method = "iprs", formalpi/engine/iprs.py): GRPO (TRL's GRPOTrainer) on the
    verifier's reward plus a shaping term, the clipped log-ratio of the model's likelihood of its completion with
    and without the PI in context."""

    num_generations: int = Field(default=8, ge=2)  # completions per prompt (GRPO's group)
    batch_size: int = Field(default=16, gt=0)  # prompts per step (x num_generations completions)
    shaping_lambda: float = Field(default=0.1, ge=0)  # 0 = plain GRPO on the verifier's reward
    clip: float = Field(default=1.0, gt=0)  # the shaping term is clipped to [-clip, clip] before scaling
    reward: Literal["binary", "graded"] = "binary"  # verifier part: 1/0 on VALID, or the graded score
    steps: int = Field(default=200, gt=0)  # the seed's scale: 200 steps x 16 prompts = 3,200 problem draws
    lr: float = Field(default=1e-5, gt=0)  # constant learning rate
    beta: float = Field(default=0.0, ge=0)  # TRL's KL-to-reference coefficient
    max_new_tokens: int | None = Field(default=None, gt=0)  # None = the row's `sampling.max_new_tokens`
    temperature: float = Field(default=1.0, gt=0)  # sampling temperature of the completions
    save_every: int = Field(default=20, gt=0)  # steps between trainer checkpoints (resume point)
    # completions per forward/backward (TRL accumulates over batch_size x num_generations / this); must divide it.
    # None: the largest divisor of batch_size x num_generations up to 8 (fits one 80 GB GPU at 16 x 8 x 2,048)
    per_device_train_batch_size: int | None = Field(default=None, gt=0)
    # model.backend = "vllm": TRL's colocated vLLM engine (vllm_mode="colocate", sleep mode) takes this fraction
    vllm_gpu_memory_utilization: float = Field(default=0.35, gt=0, lt=1)

    @model_validator(mode="after")
    def _micro_batches_divide(self) -> "IPRSConfig":
        total = self.batch_size * self.num_generations
        if self.per_device_train_batch_size is not None and total % self.per_device_train_batch_size:
            raise ValueError(
                f"per_device_train_batch_size ({self.per_device_train_batch_size}) must divide "
                f"batch_size x num_generations ({total})"
            )
        return self


MethodName = Literal["baseline", "retry", "opsd", "iprs"]
DEFAULT_METHOD: MethodName = "retry"  # a row that names no method
RENAMED_METHODS = {"grpo": "iprs"}  # old name -> new name, refused with a pointer to the new one


class ExperimentBase(_Section):
    """What every experiment has, whatever its method. One class per method adds that method's own sections
    (BaselineExperiment, RetryExperiment, OPSDExperiment, IPRSExperiment); a toml's `method` picks the class."""

    name: str  # the run's name: its records go to <runs_dir>/<name>/<seed>/ (a row is named after its file)
    domain: Literal["math", "code", "lean"] = "math"
    method: MethodName = DEFAULT_METHOD  # each method's class narrows it to its own name
    condition: str = "try_again"  # the PI condition: a name in formalpi.engine.conditions.REGISTRY
    seeds: list[Annotated[int, Field(ge=0, le=2**32 - 1)]] = Field(default_factory=lambda: [42])  # numpy/TRL: uint32
    runs_dir: str = "runs"  # where run directories are written
    model: ModelConfig = Field(default_factory=ModelConfig)  # the starting model and how it generates
    data: DataConfig = Field(default_factory=DataConfig)  # training and evaluation problems
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)  # first attempts on the training problems
    eval: EvalConfig = Field(default_factory=EvalConfig)  # evaluation of the final model: pass@k
    # the domain's own settings (formalpi/domain.py: its `Settings` type; math: timeout_s, workers; code: also
    # memory_mb, allow_weak_sandbox; lean: the fields of formalpi.lean.pool.LeanConfig), validated at load and
    # kept with every default filled in
    verify: dict[str, Any] = Field(default_factory=dict)
    variant: str | None = None  # the sibling setting this run uses (VARIANTS), None = the row's own (the seed's)

    trains: ClassVar[bool] = True  # False: the base model is evaluated as it is (no training split is read)

    @model_validator(mode="before")
    @classmethod
    def _domain_settings(cls, data: Any) -> Any:
        """`[verify]` checked by the chosen domain's settings type: a key that domain does not read is an error."""
        if (
            isinstance(data, dict)
            and isinstance(data.get("verify", {}), dict)
            and data.get("domain", "math") in DOMAINS
        ):
            data = {**data, "verify": domain_settings(data.get("domain", "math"), data.get("verify", {}))}
        return data

    @property
    def label(self) -> str:
        """What the run's eval records are labelled: its condition, or "baseline" for an untrained model."""
        return self.condition if self.trains else "baseline"

    def fingerprint(self) -> str:
        """What must match for a run directory to be resumed (seeds and output dir excluded)."""
        d = self.model_dump(mode="json", exclude={"seeds", "runs_dir"})
        # settings left at "not used" do not count: run directories made before they existed still resume
        if self.model.backend != "vllm":
            d["model"].pop("vllm")
        if self.model.enable_thinking is None:
            d["model"].pop("enable_thinking")
        if self.variant is None:
            d.pop("variant")
        return json.dumps(self._own_fingerprint(d), sort_keys=True)

    def _own_fingerprint(self, d: dict[str, Any]) -> dict[str, Any]:
        """A method's own exclusions from the fingerprint dict."""
        return d

    def resumes(self, recorded: str) -> bool:
        """Whether a run directory whose manifest holds fingerprint `recorded` was made by this config: the same
        fingerprint, or one written before each method had its own class, which also held the sections this
        method does not read (a baseline's [retry] and [train], an OPSD row's [retry] and SFT keys)."""
        mine = self.fingerprint()
        if recorded == mine:
            return True
        try:
            old = json.loads(recorded)
        except ValueError:
            return False
        return (
            isinstance(old, dict)
            and old.get("method") == self.method
            and json.dumps(for_method(old, self.method), sort_keys=True) == mine
        )


class BaselineExperiment(ExperimentBase):
    """method = "baseline": the starting model evaluated as it is, no post-training (the rows' reference)."""

    method: Literal["baseline"] = "baseline"

    trains: ClassVar[bool] = False


class RetryExperiment(ExperimentBase):
    """method = "retry": retry-STaR, rounds of sample -> verify -> retry with PI -> SFT on the verified retries."""

    method: Literal["retry"] = "retry"
    retry: RetryConfig = Field(default_factory=RetryConfig)  # the sample/retry/filter loop of each round
    train: TrainConfig = Field(default_factory=TrainConfig)  # the SFT of each round

    def _own_fingerprint(self, d: dict[str, Any]) -> dict[str, Any]:
        # where training logs are sent does not change a result: switching TensorBoard on may resume a run
        d["train"].pop("report_to")
        if self.retry.match_budget_of is None and self.retry.match_unit == "samples":
            d["retry"].pop("match_budget_of")
            d["retry"].pop("match_unit")
        return d


class OPSDExperiment(ExperimentBase):
    """method = "opsd": on-policy self-distillation (formalpi/engine/opsd.py)."""

    method: Literal["opsd"] = "opsd"
    opsd: OPSDConfig = Field(default_factory=OPSDConfig)  # the distillation: teacher, divergence, steps, optimizer
    train: FinetuneConfig = Field(default_factory=FinetuneConfig)  # full fine-tune or LoRA (and its shape)

    @model_validator(mode="after")
    def _generation_length(self) -> "OPSDExperiment":
        """The student generates as long as the row samples unless a length is set: a short default would distil
        truncated prefixes that never reach an answer."""
        if self.opsd.max_new_tokens is None:
            self.opsd.max_new_tokens = self.sampling.max_new_tokens
        return self


class IPRSExperiment(ExperimentBase):
    """method = "iprs": GRPO with PI reward shaping (formalpi/engine/iprs.py)."""

    method: Literal["iprs"] = "iprs"
    iprs: IPRSConfig = Field(default_factory=IPRSConfig)  # GRPO's group, reward, shaping, steps, optimizer
    train: FinetuneConfig = Field(default_factory=FinetuneConfig)  # full fine-tune or LoRA (and its shape)

    @model_validator(mode="after")
    def _generation_length(self) -> "IPRSExperiment":
        """Completions as long as the row samples unless a length is set: a short default would give a constant
        zero reward (no truncated completion reaches an answer)."""
        if self.iprs.max_new_tokens is None:
            self.iprs.max_new_tokens = self.sampling.max_new_tokens
        return self


EXPERIMENTS: dict[str, type[ExperimentBase]] = {
    "baseline": BaselineExperiment,
    "retry": RetryExperiment,
    "opsd": OPSDExperiment,
    "iprs": IPRSExperiment,
}
TrainedExperiment = RetryExperiment | OPSDExperiment | IPRSExperiment  # the methods that post-train
TRAINED = (RetryExperiment, OPSDExperiment, IPRSExperiment)  # the same, for isinstance


def _method_tag(data: Any) -> Any:
    if isinstance(data, dict):
        return data.get("method", DEFAULT_METHOD)
    return getattr(data, "method", None)


# one experiment's config: the class of its `method` (a pydantic discriminated union)
ExperimentConfig: TypeAlias = Annotated[
    Annotated[BaselineExperiment, Tag("baseline")]
    | Annotated[RetryExperiment, Tag("retry")]
    | Annotated[OPSDExperiment, Tag("opsd")]
    | Annotated[IPRSExperiment, Tag("iprs")],
    Discriminator(_method_tag),
]
_EXPERIMENT = TypeAdapter(ExperimentConfig)


def _section_owners() -> dict[str, list[str]]:
    """Each method section (a field no ExperimentBase has) -> the methods that have it, in registry order."""
    owners: dict[str, list[str]] = {}
    for method, cls in EXPERIMENTS.items():
        for key in cls.model_fields.keys() - ExperimentBase.model_fields.keys():
            owners.setdefault(key, []).append(method)
    return owners


METHOD_SECTIONS = _section_owners()


def _section_fields(key: str) -> set[str]:
    """Every key any method's `[key]` section has (train: the SFT keys too)."""
    out: set[str] = set()
    for cls in EXPERIMENTS.values():
        field = cls.model_fields.get(key)
        if field is not None and isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out |= field.annotation.model_fields.keys()
    return out


def for_method(data: dict[str, Any], method: str) -> dict[str, Any]:
    """`data` (a raw config table) without what `method` does not read but another method does: the sections of
    other methods, and the keys of a shared section only another method's version has (`train.lr` for OPSD).
    What no method knows (a typo) stays, to be refused by validation."""
    cls = EXPERIMENTS.get(method)
    if cls is None:
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in METHOD_SECTIONS and key not in cls.model_fields:
            continue
        if key in METHOD_SECTIONS and isinstance(value, dict):
            own = _section_model(cls, (key,))
            if own is not None:
                value = {k: v for k, v in value.items() if k in own.model_fields or k not in _section_fields(key)}
        out[key] = value
    return out


@dataclass(frozen=True)
class Variant:
    """A sibling setting a row can also run at (`formalpi run ROW.toml --variant NAME`): `--set` items applied
    before the command line's own, and a run named `<row>@<name>`, so the report shows both side by side."""

    name: str
    why: str
    sets: Mapping[str, tuple[str, ...]]  # by method: the items for a row of that method (absent: not for it)
    applies: Callable[[dict[str, Any]], bool]  # on the row's raw toml: may this row run this variant?


VARIANTS = {
    v.name: v
    for v in (
        Variant(
            "lora_lr",
            "LoRA at lr 1e-4 (SFT, OPSD and IPRS alike) instead of the seed's 5e-7: LoRA's low-rank "
            "update starts at B = 0 and needs about 10-100x a full fine-tune's lr to move a model in a few hundred "
            "steps (experiments/README.md)",
            {"retry": ("train.lr=1e-4",), "opsd": ("opsd.lr=1e-4",), "iprs": ("iprs.lr=1e-4",)},
            lambda d: (d.get("train") or {}).get("finetune", "lora") == "lora",
        ),
    )
}


def apply_variant(data: dict[str, Any], name: str, source: str) -> dict[str, Any]:
    variant = VARIANTS.get(name)
    if variant is None:
        raise ConfigError(f"--variant {name!r}: no such variant (known: {', '.join(VARIANTS)})")
    sets = variant.sets.get(data.get("method", DEFAULT_METHOD))
    if sets is None or not variant.applies(data):
        raise ConfigError(f"--variant {name}: does not apply to {source} ({variant.why})")
    data = apply_overrides(data, list(sets))
    data["name"] = f"{data['name']}@{name}"
    data["variant"] = name
    return data


def _blame(key: str, source: str, overrides: Sequence[str]) -> str:
    """The `--set` item that set `key` (or a key inside it, or the section around it), else `source`."""
    for item in overrides:
        k = item.split("=", 1)[0].strip()
        if key == k or key.startswith(k + ".") or k.startswith(key + "."):
            return f"--set {item}"
    return source


def _method_errors(data: dict[str, Any], source: str, overrides: Sequence[str]) -> list[str]:
    """An unknown or renamed method, and sections of another method: each a line naming the key and the fix."""
    method = data.get("method", DEFAULT_METHOD)
    if isinstance(method, str) and method in RENAMED_METHODS:
        new = RENAMED_METHODS[method]
        return [
            f"{_blame('method', source, overrides)}: method: {method!r} was renamed to {new!r}: set "
            f'method = "{new}" (and rename the [{method}] section to [{new}])'
        ]
    if not isinstance(method, str) or method not in EXPERIMENTS:
        return [
            f"{_blame('method', source, overrides)}: method: {method!r} is not a method (known: "
            f"{', '.join(EXPERIMENTS)})"
        ]
    lines = []
    for key in data:
        if key in RENAMED_METHODS:
            new = RENAMED_METHODS[key]
            lines.append(
                f"{_blame(key, source, overrides)}: {key}: the [{key}] section was renamed to [{new}] "
                f'(method = "{new}"); rename it'
            )
        elif key in METHOD_SECTIONS and key not in EXPERIMENTS[method].model_fields:
            fix = " or ".join(f'method = "{m}"' for m in METHOD_SECTIONS[key])
            lines.append(
                f"{_blame(key, source, overrides)}: {key}: method {method!r} has no [{key}] section "
                f"(remove it, or set {fix})"
            )
    return lines


def _fmt_errors(err: ValidationError, source_of_file: str, overrides: Sequence[str] = ()) -> str:
    lines = []
    for e in err.errors():
        # the union's errors start with the method's tag: the class that validated the data
        tag, loc = str(e["loc"][0]) if e["loc"] else "", tuple(e["loc"][1:])
        model: type[BaseModel] = EXPERIMENTS.get(tag, ExperimentBase)
        key = ".".join(str(p) for p in loc) or "(top level)"
        # a key set (or a section replaced) by --set is blamed on the flag, not on the file it overrides
        source = _blame(key, source_of_file, overrides) if loc else source_of_file
        if e["type"] == "extra_forbidden":
            parent = _section_model(model, loc[:-1])
            known = ", ".join(sorted(parent.model_fields)) if parent else "?"
            others = [
                m
                for m, cls in EXPERIMENTS.items()
                if m != tag
                and len(loc) == 2
                and (other := _section_model(cls, loc[:1])) is not None
                and str(loc[-1]) in other.model_fields
            ]
            if others:  # train.lr in an OPSD row: a key of another method's [train]
                own = (
                    [
                        f"{sec}.{loc[-1]}"
                        for sec in EXPERIMENTS[tag].model_fields.keys() & METHOD_SECTIONS.keys()
                        if (m := _section_model(model, (sec,))) is not None
                        and str(loc[-1]) in m.model_fields
                        and sec != loc[0]
                    ]
                    if tag in EXPERIMENTS
                    else []
                )
                instead = f"; {tag}'s own setting is {own[0]}" if own else ""
                lines.append(
                    f"{source}: {key}: method {tag!r} does not read it (its [{loc[0]}] has only: {known}"
                    f'{instead}); remove it, or set method = "{others[0]}"'
                )
            else:
                lines.append(f"{source}: unknown key '{key}' (known keys here: {known})")
        elif e["type"] == "missing":
            lines.append(f"{source}: missing required key '{key}'")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {key}: {msg} (got {e.get('input')!r})")
    return "\n".join(lines)


def _section_model(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def _parse_value(raw: str) -> Any:
    """`--set` values are TOML scalars/arrays (`1e-4`, `true`, `[1, 8]`, `"x"`); bare words are strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.lr=1e-4")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: '{p}' is not a section")
        node[parts[-1]] = _parse_value(raw.strip())
    return data


def config_from_dict(data: dict[str, Any], source: str = "<config>", overrides: Sequence[str] = ()) -> ExperimentConfig:
    """The config class of `data`'s method (ExperimentConfig: BaselineExperiment, RetryExperiment, ...).
    `overrides`: the `--set` items already applied to `data`; errors in their keys name the flag, not `source`."""
    if isinstance(data, dict):
        lines = _method_errors(data, source, overrides)
        if lines:
            raise ConfigError("\n".join(lines))
    try:
        return _EXPERIMENT.validate_python(data)
    except ConfigError as e:  # a domain's settings (`[verify]`), checked by the domain's own type
        flag = next((f"--set {item}" for item in overrides if str(e).startswith(item.split("=", 1)[0].strip())), None)
        raise ConfigError(f"{flag or source}: {e}") from None
    except ValidationError as e:
        raise ConfigError(_fmt_errors(e, source, overrides)) from None


def with_method(cfg: ExperimentBase, method: str, **updates: Any) -> ExperimentConfig:
    """`cfg` as a row of `method` (validated like a toml, so the result is that method's class): the settings
    every method has and the sections both methods have are kept (less the keys the new method does not read:
    `train.lr` going to OPSD), the new method's own sections start at their defaults; `updates` (top-level
    keys: name, condition, a whole section) are applied last."""
    data = {**for_method(cfg.model_dump(mode="json"), method), "method": method, **updates}
    return config_from_dict(data, f"{cfg.name} as method {method!r}")


def recorded_config(data: dict[str, Any], source: str) -> ExperimentConfig:
    """A run manifest's config. Runs recorded before each method had its own class kept every method's section,
    and IPRS was method "grpo" with a `[grpo]` section: such a config is read as the class it is now."""
    data = dict(data)
    legacy = data.pop("grpo", None)
    if data.get("method") == "grpo":
        data["method"] = "iprs"
        data.setdefault("iprs", legacy or {})
    return config_from_dict(for_method(data, data.get("method", DEFAULT_METHOD)), source)


def merge_tables(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """`child` over `base`, table by table: a key the child sets wins; tables (sections) merge key by key."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = value
    return out


def _read_toml(path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the file's own table, its `base` chain merged, or None without a base)."""
    if not path.is_file():
        where = f" (the base of {chain[-1]})" if chain else " (experiments live in experiments/*.toml)"
        raise ConfigError(f"{path}: no such config file{where}")
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(resolved) :], resolved))
        raise ConfigError(f"{path}: `base` chain loops back to itself: {cycle}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    base = data.pop("base", None)
    if base is None:
        return data, None
    if not isinstance(base, str):
        raise ConfigError(f'{path}: base: must be a file name, e.g. base = "math_try_again.toml" (got {base!r})')
    own, inherited = _read_toml(path.parent / base, (*chain, resolved))
    return data, own if inherited is None else merge_tables(inherited, own)


def read_toml_with_bases(path: Path) -> dict[str, Any]:
    """One experiment file's raw table with its `base = "other.toml"` chain resolved (paths relative to the file
    that names them; the child's keys win, tables merge key by key). `name` is never inherited: a row is named
    after its own file unless it says otherwise. A base holds defaults for rows of any method: what the row's
    method does not read (another method's section, `train.lr` for OPSD) is not inherited (`for_method`); in
    the row's own file it is an error."""
    own, inherited = _read_toml(path, ())
    if inherited is None:
        return own
    inherited.pop("name", None)
    method = own.get("method", inherited.get("method", DEFAULT_METHOD))
    return merge_tables(for_method(inherited, method) if isinstance(method, str) else inherited, own)


def load_config(path: str | Path, overrides: list[str] | None = None, variant: str | None = None) -> ExperimentConfig:
    """A row's config; `variant`: one of VARIANTS applied before `overrides` (the run is named `<row>@<variant>`)."""
    path = Path(path)
    data = read_toml_with_bases(path)
    data.setdefault("name", path.stem)
    if variant is not None:
        data = apply_variant(data, variant, str(path))
    return config_from_dict(apply_overrides(data, overrides or []), str(path), overrides or [])
