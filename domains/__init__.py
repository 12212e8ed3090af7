"""Domains: thin adapters (math, code) and the deep one (lean) over the shared engine.

Each domain class implements `formalpi.domain.Domain` (subclassing `formalpi.domain.DomainBase`) and is opened by
name with its `[verify]` settings through `formalpi.domain.open_domain`; the engine never imports this package.
"""
