"""Domains: thin adapters (math, code) and the deep one (lean) over the shared engine.

`get_domain(name)` returns the domain object the engine drives; see `formalpi.domain.Domain`. The engine itself
opens domains through `formalpi.domain.open_domain` (the same table), never by importing this package.
"""

from __future__ import annotations

from formalpi.domain import Domain, open_domain


def get_domain(name: str, **kwargs) -> Domain:
    return open_domain(name, **kwargs)
