"""`formalpi lean …`: setup, doctor, check (a .lean file, stdin or a jsonl of proofs), selftest, skeleton."""

from __future__ import annotations

import json
import shlex
import time
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from formalpi.cli import lean_skeleton
from formalpi.cli._common import console, progress
from formalpi.errors import DataError, LeanUnavailable
from formalpi.lean.details import lean_details

if TYPE_CHECKING:
    from formalpi.lean.pool import LeanConfig
    from formalpi.lean.setup import Check

app = typer.Typer(no_args_is_help=True, help="The Lean 4 verifier: setup, doctor, check, selftest, skeleton.")
lean_skeleton.register(app)


class ReplayMode(str, Enum):
    """`--replay`: how VALID verdicts are replayed in a fresh process (LeanConfig.replay*)."""

    safeverify = "safeverify"  # the pinned SafeVerify on compiled .olean files (LeanConfig's default commands)
    standin = "standin"  # its scripted stand-in (formalpi/lean/replay_double.py): no Lean needed
    off = "off"  # no replay: the run records it and every report table says so


def verify_flags(
    *,
    workers: Optional[int] = None,
    timeout: Optional[float] = None,
    replay: Optional[ReplayMode] = None,
    repl_command: Optional[str] = None,
    project_dir: Optional[Path] = None,
) -> dict[str, Any]:
    """The LeanConfig fields (a row's `[verify]` keys) that the pool flags passed set; a flag left out sets none."""
    from formalpi.lean.replay import DEFAULT_COMPILE_COMMAND, DEFAULT_REPLAY_COMMAND, replay_mode_kwargs

    out: dict[str, Any] = {}
    if workers is not None:
        out["workers"] = workers
    if timeout is not None:
        out["timeout_s"] = timeout
    if replay is not None:  # each mode sets every replay key, so no other replay setting leaks into it
        out.update(
            {
                "replay": True,
                "replay_compile_command": list(DEFAULT_COMPILE_COMMAND),
                "replay_command": list(DEFAULT_REPLAY_COMMAND),
                **replay_mode_kwargs(replay.value),
            }
        )
    if repl_command is not None:
        argv = shlex.split(repl_command)
        if not argv:
            raise LeanUnavailable(
                "--repl-command is empty: give the REPL argv, e.g. "
                "--repl-command 'lake env .lake/packages/REPL/.lake/build/bin/repl'"
            )
        out["repl_command"] = argv
    if project_dir is not None:
        out["project_dir"] = str(project_dir)
    return out


_PROJECT = typer.Option(
    None, "--project-dir", help="the Lake workspace (default: lean_project/ of the checkout, or $FORMALPI_LEAN_PROJECT)"
)
_REPL = typer.Option(
    None,
    "--repl-command",
    help="REPL argv as one shell-quoted string, run in the project dir "
    "(default: lake env .lake/packages/REPL/.lake/build/bin/repl)",
)
_REPLAY = typer.Option(
    ReplayMode.safeverify,
    "--replay",
    help="replay of VALID verdicts in a fresh process: "
    "safeverify (the pinned SafeVerify, default), "
    "standin (its scripted stand-in, no Lean needed) or "
    "off (every report says so)",
)
_WORKERS = typer.Option(4, "--workers", min=1, help="REPL processes")
_TIMEOUT = typer.Option(60.0, "--timeout", min=0.1, help="wall-clock seconds per proof")


def _config(
    project_dir: Optional[Path],
    repl_command: Optional[str],
    workers: int,
    timeout: float,
    replay: ReplayMode = ReplayMode.safeverify,
) -> LeanConfig:
    from formalpi.lean.pool import LeanConfig
    from formalpi.lean.setup import default_project_dir

    return LeanConfig(
        **verify_flags(
            project_dir=project_dir or default_project_dir(),
            repl_command=repl_command,
            workers=workers,
            timeout=timeout,
            replay=replay,
        )
    )


@app.command()
def setup(
    project_dir: Optional[Path] = _PROJECT,
    dir_: Optional[Path] = typer.Option(
        None,
        "--dir",
        help="write the Lake workspace into DIR first (a pip "
        "install has no lean_project/), then set it up "
        "there; use it with FORMALPI_LEAN_PROJECT=DIR",
    ),
) -> None:
    """Fetch Mathlib's build cache and build the REPL in the Lake workspace (needs elan/lake)."""
    from formalpi.lean.setup import run_setup

    if dir_ is not None:
        if project_dir is not None:
            raise LeanUnavailable(
                "--dir and --project-dir: give one (--dir writes a new workspace, --project-dir uses an existing one)"
            )
        from formalpi.lean.workspace import write_workspace

        written = write_workspace(dir_)
        console.print(
            f"wrote {', '.join(p.name for p in written)} into {dir_}; later commands find it with "
            f"FORMALPI_LEAN_PROJECT={dir_.resolve()} (or --project-dir {dir_})",
            highlight=False,
        )
        project_dir = dir_

    with console.status("starting") as status:

        def on_step(step):
            console.print(f"[bold]{step.name}[/]: `{' '.join(step.argv)}` in {step.cwd}")

        def on_line(step, line):
            status.update(f"{step.name}: {line[-100:]}")

        run_setup(project_dir, on_line=on_line, on_step=on_step)
    console.print("[green]setup done[/]; check with `formalpi lean doctor`")


def _replay_note(config: LeanConfig) -> None:
    from formalpi.lean.replay import REPLAY_OFF_NOTE

    if not config.replay:
        console.print(f"[bold yellow]{REPLAY_OFF_NOTE}[/]")


def _checks_table(checks: list[Check]) -> Table:
    from rich.markup import escape

    from formalpi.lean.setup import doctor_rows

    table = Table(title="formalpi lean doctor")
    for col in ("checks", "ok", "found", "fix (in this order)"):
        table.add_column(col, overflow="fold")
    for r in doctor_rows(checks):  # checks that share one fix print once
        table.add_row(escape(r.checks), "ok" if r.ok else "[bold red]MISSING[/]", escape(r.found), escape(r.fix))
    return table


@app.command()
def doctor(
    project_dir: Optional[Path] = _PROJECT,
    repl_command: Optional[str] = _REPL,
    workers: int = typer.Option(2, "--workers", min=1),
    timeout: float = _TIMEOUT,
    replay: ReplayMode = _REPLAY,
) -> None:
    """Say exactly what is missing and the command that fixes it; then run the quick canary suite."""
    from formalpi.lean.selftest import mismatches, run_selftest_with_pool, selftest_table
    from formalpi.lean.setup import doctor_checks, doctor_rows

    checks = doctor_checks(project_dir)
    if repl_command is not None:  # a custom REPL (e.g. the double) does not need the toolchain checks
        checks = [
            c
            for c in checks
            if c.name == "lean_project" or (replay is ReplayMode.safeverify and c.name.startswith("SafeVerify"))
        ]
    console.print(_checks_table(checks))
    failed = [c for c in checks if not c.ok]
    if failed:
        missing = [r for r in doctor_rows(checks) if not r.ok]  # the table's MISSING rows: one fix each
        console.print(
            f"[bold red]{len(missing)} of the table's rows MISSING[/] ({len(failed)} checks; checks that "
            "share one fix share a row): run their fixes in order, then rerun `formalpi lean doctor` "
            "(the canary selftest is skipped until then)"
        )
        raise typer.Exit(1)
    config = _config(project_dir, repl_command, workers, timeout, replay)
    rows = run_selftest_with_pool(config, quick=True)
    console.print(selftest_table(rows))
    _replay_note(config)
    bad = mismatches(rows)
    if bad:
        console.print(f"[bold red]{len(bad)} canary mismatch(es)[/]: the verifier cannot be trusted")
        raise typer.Exit(1)
    console.print("[green]Lean verifier ready[/]")


@app.command()
def selftest(
    quick: bool = typer.Option(False, "--quick", help="only the quick cases (no timeout case)"),
    project_dir: Optional[Path] = _PROJECT,
    repl_command: Optional[str] = _REPL,
    workers: int = _WORKERS,
    timeout: float = typer.Option(20.0, "--timeout", min=0.1),
    replay: ReplayMode = _REPLAY,
) -> None:
    """Run the canary suite through the real pool; exit 1 on any mismatch."""
    from formalpi.lean.selftest import mismatches, run_selftest_with_pool, selftest_table

    config = _config(project_dir, repl_command, workers, timeout, replay)
    rows = run_selftest_with_pool(config, quick=quick)
    console.print(selftest_table(rows))
    _replay_note(config)
    bad = mismatches(rows)
    if bad:
        console.print(f"[bold red]{len(bad)} mismatch(es)[/]: " + ", ".join(r.name for r in bad))
        raise typer.Exit(1)
    console.print(f"[green]all {len(rows)} canaries judged as expected[/]")


@app.command()
def check(
    file: str = typer.Argument(
        ..., help="a .lean file, `-` for Lean code on stdin, or a jsonl of {name, proof} (name = a MiniF2F problem)"
    ),
    minif2f: Optional[Path] = typer.Option(None, "--minif2f", help="MiniF2F jsonl (default: the data dir)"),
    out: Optional[Path] = typer.Option(None, "--out", help="write one {name, verdict} line per proof"),
    header: Optional[str] = typer.Option(
        None,
        "--header",
        help="header for a .lean file or stdin (default: its own leading imports, else import Mathlib)",
    ),
    project_dir: Optional[Path] = _PROJECT,
    repl_command: Optional[str] = _REPL,
    workers: int = _WORKERS,
    timeout: float = _TIMEOUT,
    replay: ReplayMode = _REPLAY,
) -> None:
    """Verify Lean code strictly: a .lean file or stdin (its own theorems; exit 1 unless valid), or a jsonl of
    proofs of MiniF2F problems (progress bar, then counts per status and proofs/s)."""
    if file == "-" or file.endswith(".lean"):
        _check_code(file, header, out, _config(project_dir, repl_command, workers, timeout, replay))
        return
    _check_jsonl(Path(file), minif2f, out, _config(project_dir, repl_command, workers, timeout, replay))


def _check_code(file: str, header: Optional[str], out: Optional[Path], config: LeanConfig) -> None:
    import sys

    from formalpi.lean.pool import LeanPool

    if file == "-":
        code, where = sys.stdin.read(), "<stdin>"
    else:
        try:
            code, where = Path(file).read_text(encoding="utf-8"), file
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{file}: cannot read a Lean file ({e})") from None
    with LeanPool(config) as pool:
        v = pool.check(code, header=header)
    if out is not None:
        out.write_text(json.dumps({"name": where, "verdict": v.model_dump(mode="json")}, ensure_ascii=False) + "\n")
    table = Table(title=f"{where}: {v.status.value}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("status", Text(v.status.value, style="" if v.passed else "bold red"))
    if v.reason:  # Text: Lean's messages hold `[...]`, which rich would read as markup
        table.add_row("reason", Text(v.reason))
    if v.feedback:
        table.add_row("first error", Text(v.feedback))
    table.add_row("axioms", Text(", ".join(lean_details(v).axioms) or "none"))
    table.add_row("time", f"{v.time_s:.2f}s")
    console.print(table)
    _replay_note(config)
    if not v.passed:
        raise typer.Exit(1)


def _check_jsonl(file: Path, minif2f: Optional[Path], out: Optional[Path], config: LeanConfig) -> None:
    from formalpi.domains.lean.domain import MINIF2F_FILE, load_minif2f
    from formalpi.domains.lean.conditions import read_proof_rows
    from formalpi.lean.pool import LeanPool
    from formalpi.paths import resolve_data_file

    stmts = {
        r.name: r
        for r in load_minif2f(resolve_data_file("minif2f", str(minif2f) if minif2f else None, (MINIF2F_FILE,)))
    }
    rows = read_proof_rows(file)
    unknown = [r["name"] for r in rows if r["name"] not in stmts]
    if unknown:
        raise DataError(
            f"{file}: {len(unknown)} name(s) not in MiniF2F, e.g. {unknown[0]!r} "
            f"(names are MiniF2F theorem names such as 'mathd_algebra_10')"
        )
    items = [
        {"statement": stmts[r["name"]].formal_statement, "proof": r["proof"], "header": stmts[r["name"]].header}
        for r in rows
    ]
    verdicts = []
    t0 = time.monotonic()
    chunk = max(1, config.workers * 4)  # small batches keep the bar moving while every worker stays busy
    with LeanPool(config) as pool, progress() as bar:
        task = bar.add_task("verifying", total=len(items))
        for k in range(0, len(items), chunk):
            verdicts += pool.verify_many(items[k : k + chunk])
            bar.update(task, advance=len(items[k : k + chunk]))
    elapsed = time.monotonic() - t0
    if out is not None:
        out.write_text(
            "".join(
                json.dumps({"name": r["name"], "verdict": v.model_dump(mode="json")}, ensure_ascii=False) + "\n"
                for r, v in zip(rows, verdicts)
            )
        )
    counts = Counter(v.status.value for v in verdicts)
    table = Table(
        title=f"{file}: {len(verdicts)} proofs in {elapsed:.1f}s "
        f"({len(verdicts) / elapsed if elapsed else 0:.2f} proofs/s)"
    )
    table.add_column("status")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    for status, n in counts.most_common():
        table.add_row(status, str(n), f"{n / len(verdicts):.1%}")
    console.print(table)
    _replay_note(config)
