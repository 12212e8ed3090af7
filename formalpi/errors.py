"""Typed errors. Each says what is wrong, where (file, field or flag) and how to fix it."""


class FormalpiError(Exception):
    """Base of every error formalpi raises on purpose; the CLI prints these without a traceback."""


class ConfigError(FormalpiError):
    """A bad experiment config: unknown key, bad value, unreadable TOML."""


class DataError(FormalpiError):
    """A dataset file is missing or malformed."""


class RunStoreError(FormalpiError):
    """A run directory is inconsistent (e.g. its manifest belongs to another config)."""


class LeanUnavailable(FormalpiError):
    """No usable Lean toolchain / REPL; the message carries what `formalpi lean doctor` says."""


class SandboxError(FormalpiError):
    """The code sandbox cannot run candidates as configured (missing layers without allow_weak, or it failed)."""


class CanaryError(FormalpiError):
    """A canary theorem got the wrong verdict: the verifier can no longer be trusted."""


# Optional modules -> the extra that installs them (`pip install 'formalpi[EXTRA]'`); the core install has none.
EXTRA_OF_MODULE = {
    "vllm": "vllm",
    "ray": "ray",
    "deepspeed": "deepspeed",
    "liger_kernel": "gpu",
    "tensorboard": "tensorboard",
}


class MissingExtra(FormalpiError):
    """An optional dependency is not installed; the message names the extra that installs it."""

    def __init__(self, module: str, needed_for: str):
        extra = EXTRA_OF_MODULE.get(module, module)
        super().__init__(
            f"{needed_for} needs `{module}`, which the core install leaves out: pip install 'formalpi[{extra}]'"
        )
        self.module, self.extra = module, extra


def require_module(module: str, needed_for: str) -> None:
    """Raise MissingExtra now, before any work, when an optional module is not importable."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtra(module, needed_for)
