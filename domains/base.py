"""The Domain protocol lives in `formalpi.domain` (the engine's side of the seam); re-exported here for domains."""

from __future__ import annotations

from formalpi.domain import Domain

__all__ = ["Domain"]
