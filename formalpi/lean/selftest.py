"""`formalpi lean selftest`: the canary suite through a real pool, one row per case, mismatches counted.

A row is OK when the verdict's status is the expected one. `decided_by` (which layer caught it) is reported next
to the layer the suite expects; a different layer with the right status is shown but is not a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

from formalpi.lean.canary import Canary, DecidedBy, VerifyMany, decided_by, load_suite
from formalpi.records import Status, Verdict


@dataclass(frozen=True)
class SelftestRow:
    name: str
    expected: Status
    got: Status
    time_s: float
    decided_by: DecidedBy
    expected_decided_by: DecidedBy
    reason: str

    @property
    def ok(self) -> bool:
        return self.got is self.expected


def select(suite: Sequence[Canary], quick: bool) -> list[Canary]:
    return [c for c in suite if c.quick] if quick else list(suite)


def run_selftest(
    verify_many: VerifyMany, quick: bool = False, suite: Sequence[Canary] | None = None
) -> list[SelftestRow]:
    """Verify every case (one batch, so the pool runs them in parallel) and compare with the expectations."""
    cases = select(suite if suite is not None else load_suite(), quick)
    verdicts: list[Verdict] = verify_many([c.item() for c in cases])
    return [
        SelftestRow(c.name, c.expected, v.status, v.time_s, decided_by(v), c.decided_by, v.reason)
        for c, v in zip(cases, verdicts, strict=True)
    ]


def run_selftest_with_pool(config, quick: bool = False, suite: Sequence[Canary] | None = None) -> list[SelftestRow]:
    """The suite through a fresh `LeanPool(config)` (closed afterwards)."""
    from formalpi.lean.pool import LeanPool

    with LeanPool(config) as pool:
        return run_selftest(pool.verify_many, quick, suite)


def selftest_table(rows: Sequence[SelftestRow]) -> Table:
    table = Table(title="Lean verifier canaries")
    for col in ("case", "expected", "got", "time", "decided-by", "ok"):
        table.add_column(col, justify="right" if col == "time" else "left")
    for r in rows:
        by = (
            r.decided_by.value
            if r.decided_by is r.expected_decided_by
            else f"{r.decided_by.value} (suite says {r.expected_decided_by.value})"
        )
        table.add_row(
            r.name,
            r.expected.value,
            r.got.value if r.ok else f"[bold red]{r.got.value}[/]",
            f"{r.time_s:.2f}s",
            by,
            "ok" if r.ok else "[bold red]MISMATCH[/]",
        )
    return table


def mismatches(rows: Sequence[SelftestRow]) -> list[SelftestRow]:
    return [r for r in rows if not r.ok]
