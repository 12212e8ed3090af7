"""The Domain protocol (every hook the engine calls on a domain), the base class that gives the optional hooks
their defaults, and the table that opens a domain by name with its settings.

The engine is written against this protocol only; it imports no domain module. Domains plug in by name through
`DOMAINS`, a table of "module:Class" strings (the entry-point pattern), so `formalpi.engine` depends on the
protocol and `formalpi.domains` depends on it, never the other way round (`lint-imports`).

A domain's settings are the run config's `[verify]` table, validated by the domain's own settings type
(`Settings`: a pydantic model or a dataclass) when the config is loaded (`domain_settings`), and handed to the
domain when it is built (`open_domain(name, settings)`). Every place that builds the run's domain (the run
itself, a shard worker, the Ray executor) builds it from the same validated table.
"""

from __future__ import annotations

import dataclasses
import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, Self, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from formalpi.errors import ConfigError
from formalpi.pi_condition import Condition
from formalpi.records import Problem, Verdict

DOMAINS: dict[str, str] = {
    "math": "formalpi.domains.math.domain:MathDomain",
    "code": "formalpi.domains.code.domain:CodeDomain",
    "lean": "formalpi.domains.lean.domain:LeanDomain",
}


@runtime_checkable
class Domain(Protocol):
    name: str

    def problems(
        self, dataset: str, split: str, path: str | None = None, limit: int | None = None, seed: int = 0
    ) -> list[Problem]:
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

    def reference_completion(self, problem: Problem) -> str | None:
        """A completion that must pass (the run's verifier canary); None where the domain has none to give."""
        ...

    def isolation(self) -> dict[str, Any]:
        """What the run's manifest records about where candidates ran (code: the sandbox layers); {} if nothing."""
        ...

    def verifier_settings(self) -> dict[str, Any]:
        """What the run's manifest records about how verdicts were checked (Lean: whether VALID verdicts were
        replayed in a fresh process); {} if nothing."""
        ...

    def proof_corpus(self, path: str) -> dict[str, list[str]]:
        """`data.proof_corpus`: problem id -> its reference solutions (Lean: verified proofs for skeleton PI);
        a ConfigError where the domain reads none."""
        ...

    @classmethod
    def conditions(cls) -> Sequence[Condition]:
        """The PI conditions this domain defines itself (formalpi.pi_condition.define)."""
        ...

    def close(self) -> None:
        """End the verifier's processes (pools, sandboxes); the domain may not be used afterwards."""
        ...


class SettingsSection(BaseModel):
    """Base of a domain's settings model: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DomainBase(ABC):
    """The optional hooks' defaults and the settings plumbing; a domain subclasses it, sets `name` and
    `Settings`, implements the five required hooks and builds itself from its typed settings in `from_settings`."""

    name: str  # set by each domain class
    Settings: ClassVar[type] = SettingsSection  # a pydantic model or a dataclass: the `[verify]` table's type

    @abstractmethod
    def problems(
        self, dataset: str, split: str, path: str | None = None, limit: int | None = None, seed: int = 0
    ) -> list[Problem]: ...

    @abstractmethod
    def prompt(self, problem: Problem) -> str: ...

    @abstractmethod
    def extract(self, completion: str) -> str | None: ...

    @abstractmethod
    def verify_many(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[Verdict]: ...

    @abstractmethod
    def signature(self, completion: str) -> str: ...

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Domain:
        """The domain built with `settings` (an instance of `Settings`, the constructor's first argument)."""
        return cls(settings, **kwargs)  # type: ignore[call-arg]

    @classmethod
    def conditions(cls) -> Sequence[Condition]:
        return ()

    def reference_completion(self, problem: Problem) -> str | None:
        return None

    def isolation(self) -> dict[str, Any]:
        return {}

    def verifier_settings(self) -> dict[str, Any]:
        return {}

    def proof_corpus(self, path: str) -> dict[str, list[str]]:
        raise ConfigError(
            f"data.proof_corpus = {path!r}: the {self.name} domain reads no proof corpus (it is for "
            f"Lean rows whose PI shows reference proofs); remove the key"
        )

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def domain_class(name: str) -> type[DomainBase]:
    """The class registered for a domain name in `DOMAINS` (imported on demand)."""
    if name not in DOMAINS:
        raise ConfigError(f"domain: unknown domain {name!r} (choose {', '.join(sorted(DOMAINS))})")
    module, _, attr = DOMAINS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def parse_settings(name: str, raw: Mapping[str, Any]) -> Any:
    """The `[verify]` table as domain `name`'s typed settings; ConfigError naming the key and the known keys."""
    settings_type = domain_class(name).Settings
    if dataclasses.is_dataclass(settings_type):  # pydantic ignores unknown keys of a plain dataclass: refuse them
        known = {f.name for f in dataclasses.fields(settings_type)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(
                f"verify.{unknown[0]}: not a setting of the {name} domain (known keys here: {', '.join(sorted(known))})"
            )
    try:
        return TypeAdapter(settings_type).validate_python(dict(raw))
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(["verify", *(str(p) for p in first["loc"])])
        if first["type"] == "extra_forbidden":
            names = ", ".join(sorted(cast(type[BaseModel], settings_type).model_fields))
            raise ConfigError(f"{key}: not a setting of the {name} domain (known keys here: {names})") from None
        raise ConfigError(f"{key}: {first['msg'].removeprefix('Value error, ')} (got {first.get('input')!r})") from None


def domain_settings(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The `[verify]` table validated by domain `name`'s settings type, as JSON with every default filled in
    (what the run config keeps, fingerprints and hands to shard workers)."""
    settings_type = domain_class(name).Settings
    return TypeAdapter(settings_type).dump_python(parse_settings(name, raw), mode="json")


def open_domain(name: str, settings: Mapping[str, Any] | None = None, **kwargs: Any) -> Domain:
    """A new domain object for `name`, built with its `[verify]` settings (None: the domain's defaults, for
    callers without a run config); the caller closes it."""
    return domain_class(name).from_settings(parse_settings(name, settings or {}), **kwargs)


def domain_conditions(domain: str | Domain) -> Sequence[Condition]:
    """The PI conditions a domain (a name or a domain object) defines itself."""
    owner = domain_class(domain) if isinstance(domain, str) else domain
    return tuple(owner.conditions())
