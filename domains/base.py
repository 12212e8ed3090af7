"""The Domain protocol: what the engine needs from a domain, nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from formalpi.records import Problem, Verdict


@runtime_checkable
class Domain(Protocol):
    name: str

    def problems(self, dataset: str, split: str, path: str | None = None, limit: int | None = None,
                 seed: int = 0) -> list[Problem]:
        """Load a split of a dataset (local file or procedural), in a stable order."""
        ...

    def prompt(self, problem: Problem) -> str:
        """The user-turn text the model is asked (without chat template)."""
        ...

    def extract(self, completion: str) -> str | None:
        """What to check from a completion (boxed answer, program, proof body); None if there is nothing."""
        ...

    def verify_many(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[Verdict]:
        """One Verdict per (problem, completion), in order; `score` is the graded verifier's value."""
        ...

    def signature(self, completion: str) -> str:
        """Canonical form of a completion for path diversity (exact-match clustering)."""
        ...
