"""Typed wire models of the leanprover-community/repl protocol (v4.24.0 and later).

Mirrors the REPL's own JSON: requests are one JSON object followed by a blank line; replies are JSON (possibly
pretty-printed over several lines) followed by a blank line. Empty lists are omitted by the REPL, so every list
field defaults to empty. Unknown fields (e.g. `infotree`) are kept, not rejected: newer REPLs add fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Pos(_Wire):
    line: int
    column: int


class Message(_Wire):
    severity: Literal["error", "warning", "info", "trace"]
    pos: Pos | None = None
    end_pos: Pos | None = Field(default=None, alias="endPos")
    data: str


class Sorry(_Wire):
    goal: str
    proof_state: int | None = Field(default=None, alias="proofState")
    pos: Pos | None = None
    end_pos: Pos | None = Field(default=None, alias="endPos")


class Tactic(_Wire):
    tactic: str
    goals: str
    proof_state: int | None = Field(default=None, alias="proofState")
    pos: Pos | None = None
    end_pos: Pos | None = Field(default=None, alias="endPos")
    used_constants: list[str] = Field(default_factory=list, alias="usedConstants")


# ---- requests ---------------------------------------------------------------------------------------------


class CommandRequest(_Wire):
    """`{"cmd": ..., "env": N}`; `env` omitted only for the header (imports must run without an env)."""

    cmd: str
    env: int | None = None
    all_tactics: bool | None = Field(default=None, alias="allTactics")

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class TacticRequest(_Wire):
    tactic: str
    proof_state: int = Field(alias="proofState")

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


# ---- replies ----------------------------------------------------------------------------------------------


class CommandReply(_Wire):
    env: int | None = None
    messages: list[Message] = Field(default_factory=list)
    sorries: list[Sorry] = Field(default_factory=list)
    tactics: list[Tactic] = Field(default_factory=list)

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.messages if m.severity == "error"]


class TacticReply(_Wire):
    proof_state: int | None = Field(default=None, alias="proofState")
    goals: list[str] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    sorries: list[Sorry] = Field(default_factory=list)
    proof_status: str | None = Field(default=None, alias="proofStatus")


class ReplError(_Wire):
    """An error of the REPL itself (unknown env, bad JSON, ...): `{"message": "..."}`."""

    message: str


Reply = CommandReply | TacticReply | ReplError


def parse_reply(obj: dict[str, Any]) -> Reply:
    """Turn one decoded JSON reply into its typed model, by the keys the REPL uses for each kind."""
    if "message" in obj and "messages" not in obj and "env" not in obj:
        return ReplError.model_validate(obj)
    if "proofStatus" in obj or ("goals" in obj and "env" not in obj) or ("proofState" in obj and "env" not in obj):
        return TacticReply.model_validate(obj)
    return CommandReply.model_validate(obj)
