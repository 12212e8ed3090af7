"""Domains: thin adapters (math, code) and the deep one (lean) over the shared engine.

`get_domain(name)` returns the domain object the engine drives; see `domains.base.Domain`.
"""

from __future__ import annotations

from domains.base import Domain


def get_domain(name: str, **kwargs) -> Domain:
    if name == "math":
        from domains.math import MathDomain
        return MathDomain(**kwargs)
    if name == "code":
        from domains.code import CodeDomain
        return CodeDomain(**kwargs)
    if name == "lean":
        from domains.lean import LeanDomain
        return LeanDomain(**kwargs)
    from formalpi.errors import ConfigError
    raise ConfigError(f"domain: unknown domain {name!r} (choose math, code or lean)")
