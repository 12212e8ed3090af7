"""The domains, one package each: math, code, lean. Each holds its adapter (`domain.py`: the Domain class and its
typed `[verify]` settings), its checker and its own PI conditions.

Each domain class implements `formalpi.domain.Domain` (subclassing `formalpi.domain.DomainBase`) and is opened by
name with its `[verify]` settings through `formalpi.domain.open_domain`; the engine never imports this package.
"""
