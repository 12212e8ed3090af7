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


class CanaryError(FormalpiError):
    """A canary theorem got the wrong verdict: the verifier can no longer be trusted."""
