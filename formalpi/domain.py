"""The Domain protocol (what the engine needs from a domain) and the table that opens a domain by name.

The engine is written against this protocol only; it imports no domain module. Domains plug in by name through
`DOMAINS`, a table of "module:Class" strings (the entry-point pattern), so `formalpi.engine` depends on the
protocol and `domains` depends on `formalpi`, never the other way round (checked by `python -m
formalpi.devtools.imports`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from formalpi.errors import ConfigError
from formalpi.records import Problem, Verdict

DOMAINS: dict[str, str] = {"math": "domains.math:MathDomain", "code": "domains.code:CodeDomain",
                           "lean": "domains.lean:LeanDomain"}


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


def domain_class(name: str) -> type:
    """The class registered for a domain name in `DOMAINS` (imported on demand)."""
    if name not in DOMAINS:
        raise ConfigError(f"domain: unknown domain {name!r} (choose {', '.join(sorted(DOMAINS))})")
    module, _, attr = DOMAINS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def open_domain(name: str, **kwargs: Any) -> Domain:
    """A new domain object for `name` (the caller closes it when it has a `close()`)."""
    return domain_class(name)(**kwargs)


def domain_conditions(domain: "str | Domain") -> Sequence[Any]:
    """The PI conditions (formalpi.engine.conditions.Condition) a domain defines itself: its `conditions()`
    staticmethod; none if it has none. Typed loosely: this layer sits below the engine and imports none of it."""
    cls = domain_class(domain) if isinstance(domain, str) else domain
    fn = getattr(cls, "conditions", None)
    return tuple(fn()) if fn is not None else ()
