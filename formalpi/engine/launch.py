"""Training as its own process: `accelerate launch … -m formalpi.engine.train_entry …`.

`accelerate_command` is a pure function (the argv, testable without GPUs); `launch_sft` writes the examples and the
train config beside the checkpoint, runs that command and reads back the `SFTResult` the entry point wrote.
The shipped accelerate configs live in `formalpi/configs/accelerate/` (package data): zero2, zero3, fsdp, ddp.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from formalpi.config import RetryExperiment, TrainConfig
from formalpi.engine.train import SFTResult, sft
from formalpi.errors import ConfigError, FormalpiError
from formalpi.records import Example

ACCELERATE_CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs" / "accelerate"
TRAIN_ENTRY_MODULE = "formalpi.engine.train_entry"


class Launcher(str, Enum):
    LOCAL = "local"  # sft() in this process (CPU, one GPU)
    ACCELERATE = "accelerate"  # `accelerate launch` of train_entry, one process per GPU


class Strategy(str, Enum):
    """Which shipped accelerate config the launch uses (formalpi/configs/accelerate/<value>.yaml)."""

    DDP = "ddp"
    ZERO2 = "zero2"
    ZERO3 = "zero3"
    FSDP = "fsdp"


class LaunchError(FormalpiError):
    """The launched training process failed; the message carries its command and the tail of its output."""


@dataclass(frozen=True)
class LaunchSpec:
    strategy: Strategy = Strategy.ZERO3
    num_processes: int = 1
    cpu: bool = False  # `--cpu`: accelerate's simple launcher on CPU (tests, machines without GPUs)
    main_process_port: int | None = None  # set when two launches share a host
    config_file: Path | None = None  # a user's own accelerate YAML instead of the shipped one

    def __post_init__(self) -> None:
        if self.num_processes < 1:
            raise LaunchError(f"--num-gpus {self.num_processes}: must be at least 1")
        if self.config_file is not None and not Path(self.config_file).is_file():
            raise LaunchError(
                f"accelerate config {self.config_file}: no such file (shipped ones: "
                f"{', '.join(s.value for s in Strategy)} in {ACCELERATE_CONFIG_DIR})"
            )


def accelerate_config_path(strategy: Strategy) -> Path:
    return ACCELERATE_CONFIG_DIR / f"{Strategy(strategy).value}.yaml"


@dataclass(frozen=True)
class EntryFiles:
    """The files one launched training reads and writes (all beside the checkpoint, so a rerun finds them)."""

    examples: Path
    config: Path
    result: Path

    @classmethod
    def beside(cls, out_dir: Path) -> "EntryFiles":
        base = Path(out_dir).with_name(Path(out_dir).name + ".launch")
        return cls(base / "examples.jsonl", base / "train_config.json", base / "result.json")


def train_entry_args(
    model_path: str,
    files: EntryFiles,
    out_dir: Path,
    seed: int,
    device: str = "auto",
    dtype: str = "auto",
    enable_thinking: bool | None = None,
) -> list[str]:
    thinking = [] if enable_thinking is None else ["--enable-thinking", str(enable_thinking).lower()]
    return [
        "--model",
        str(model_path),
        "--examples",
        str(files.examples),
        "--config",
        str(files.config),
        "--out",
        str(out_dir),
        "--seed",
        str(seed),
        "--device",
        device,
        "--dtype",
        dtype,
        "--result",
        str(files.result),
        *thinking,
    ]


def accelerate_command(spec: LaunchSpec, entry_args: Sequence[str], python: str = sys.executable) -> list[str]:
    """`python -m accelerate.commands.launch --config_file … --num_processes N [--cpu] -m train_entry ARGS`.

    The launcher is run as a module of this interpreter so it is the accelerate of formalpi's environment.
    """
    config = spec.config_file or accelerate_config_path(spec.strategy)
    cmd = [
        python,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "--num_processes",
        str(spec.num_processes),
        "--num_machines",
        "1",
    ]
    if spec.cpu:
        cmd.append("--cpu")
    if spec.main_process_port is not None:
        cmd += ["--main_process_port", str(spec.main_process_port)]
    return cmd + ["-m", TRAIN_ENTRY_MODULE, *entry_args]


def write_entry_inputs(files: EntryFiles, examples: Sequence[Example], cfg: TrainConfig) -> None:
    files.examples.parent.mkdir(parents=True, exist_ok=True)
    files.examples.write_text("".join(e.model_dump_json() + "\n" for e in examples))
    files.config.write_text(cfg.model_dump_json(indent=2))
    files.result.unlink(missing_ok=True)


def read_result(path: Path) -> SFTResult:
    d = json.loads(Path(path).read_text())
    return SFTResult(
        path=Path(d["path"]),
        examples=d["examples"],
        steps=d["steps"],
        train_tokens=d["train_tokens"],
        wall_s=d["wall_s"],
        final_loss=d["final_loss"],
    )


def launch_sft(
    spec: LaunchSpec,
    model_path: str,
    examples: Sequence[Example],
    cfg: TrainConfig,
    out_dir: Path,
    seed: int,
    device: str = "auto",
    dtype: str = "auto",
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
    enable_thinking: bool | None = None,
) -> SFTResult:
    """Run SFT through `accelerate launch` and return what the entry point reports. Same contract as `sft`."""
    out_dir = Path(out_dir)
    files = EntryFiles.beside(out_dir)
    write_entry_inputs(files, examples, cfg)
    cmd = accelerate_command(spec, train_entry_args(model_path, files, out_dir, seed, device, dtype, enable_thinking))
    log_path = files.result.parent / "launch.log"
    # the output goes to the log as it comes (not held in memory until the end): a launch that hangs, times out or
    # is killed leaves its log, with each rank's phase lines (and stack dumps under $FORMALPI_HANG_DUMP_S)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True
        )
        try:
            rc: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            stop_process_group(proc)  # every rank goes with the launcher: none keeps a GPU
    if rc != 0 or not files.result.exists():
        tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-25:])
        what = f"timed out after {timeout_s} s" if rc is None else f"exit {rc}"
        raise LaunchError(f"training launch failed ({what}): {' '.join(cmd)}\nfull log: {log_path}\n{tail}")
    return read_result(files.result)


def stop_process_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the launcher's whole process group (the launcher and its ranks), SIGKILL what is left after
    `grace_s`. A group already gone is fine."""
    import signal

    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if not _group_alive(proc.pid):
            break


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass(frozen=True)
class Placement:
    """Where a run's work goes: how training is launched and how many GPUs generation is spread over. Built by
    the caller (the CLI's --launcher/--num-gpus/--strategy) and handed to the engine; the default is everything in
    this process."""

    launcher: Launcher = Launcher.LOCAL
    num_gpus: int = 1  # training processes (accelerate) and generation workers (one engine per GPU)
    strategy: Strategy = Strategy.ZERO3

    def __post_init__(self) -> None:
        if self.num_gpus < 1:
            raise ConfigError(f"--num-gpus {self.num_gpus}: must be at least 1")

    @property
    def shards(self) -> int:
        return self.num_gpus

    def gpus(self) -> list[str] | None:
        """CUDA_VISIBLE_DEVICES per generation worker; None on a machine without CUDA (CPU workers)."""
        return [str(i) for i in range(self.num_gpus)] if visible_gpu_count() > 0 else None

    def train(
        self, model_path: str, examples: list[Example], cfg: RetryExperiment, out_dir: Path, seed: int, **sft_kwargs
    ) -> SFTResult:
        """SFT in this process, or through `accelerate launch` with the shipped config for `strategy`."""
        if self.launcher is Launcher.LOCAL:
            return sft(
                model_path,
                examples,
                cfg.train,
                out_dir,
                seed=seed,
                device=cfg.model.device,
                dtype=cfg.model.dtype,
                enable_thinking=cfg.model.enable_thinking,
                **sft_kwargs,
            )
        spec = LaunchSpec(strategy=self.strategy, num_processes=self.num_gpus, cpu=visible_gpu_count() == 0)
        return launch_sft(
            spec,
            model_path,
            examples,
            cfg.train,
            out_dir,
            seed=seed,
            device=cfg.model.device,
            dtype=cfg.model.dtype,
            enable_thinking=cfg.model.enable_thinking,
        )


@functools.cache
def visible_gpu_count() -> int:
    """How many GPUs this process would see, counted by a child process so that CUDA is never touched here.

    `torch.cuda.is_available()` asks the CUDA driver in the calling process, after which torch refuses CUDA in
    any forked child, while `torch.cuda.is_initialized()` stays False; vLLM decides by the latter, forks its
    engine core, and that core fails ("Cannot re-initialize CUDA in forked subprocess"). That is how the retry
    loop's own engine, started after the sharded first attempts, failed on two H200s. Cached: one child per
    process."""
    code = "import torch; print(torch.cuda.device_count())"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
        return int(out.stdout.split()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return 0  # no torch with CUDA here: CPU
