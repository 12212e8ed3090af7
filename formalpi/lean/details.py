"""What a Lean verdict says beyond the shared `Verdict` fields: the REPL's messages and sorries for the proof, the
axioms it depends on, and where the proof body starts in the checked command.

Stored in `Verdict.details` as plain JSON, so the run records (formalpi/records.py) carry it without knowing the
REPL's wire types; the Lean side reads it back typed with `lean_details`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from formalpi.lean.protocol import Message, Sorry
from formalpi.records import Verdict


class LeanDetails(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(default_factory=list)  # the REPL's messages about the proof (not our checks')
    sorries: list[Sorry] = Field(default_factory=list)
    axioms: list[str] = Field(default_factory=list)  # what `#print axioms` named for the checked constant(s)
    body_line: int | None = None  # line of the checked command where the model's proof body starts

    def dump(self) -> dict[str, Any]:
        """The JSON form `Verdict.details` holds (the REPL's own field names, empty fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def lean_details(verdict: Verdict) -> LeanDetails:
    """The Lean details of a verdict (empty for a verdict decided before Lean ran: no proof, a crash)."""
    return LeanDetails.model_validate(verdict.details)
