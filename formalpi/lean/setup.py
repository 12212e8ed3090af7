"""The Lake workspace (`lean_project/`): what `formalpi lean setup` runs and what `formalpi lean doctor` checks.

The workspace requires Mathlib, the leanprover-community REPL and SafeVerify (the replay of accepted proofs,
formalpi/lean/replay.py), pinned by the top-level `lake-manifest.json`. Setup = `lake exe cache get` (downloads
Mathlib's prebuilt .olean files instead of a multi-hour build), `lake build REPL/repl`, then
`lake build SafeVerify/safe_verify`. Doctor = a list of `Check`s, each saying what is missing and the exact command that fixes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from formalpi.errors import LeanUnavailable

PINNED_TOOLCHAIN = "leanprover/lean4:v4.24.0"
REPL_BINARY = Path(".lake/packages/REPL/.lake/build/bin/repl")  # relative to the workspace
SAFE_VERIFY_BINARY = Path(".lake/packages/SafeVerify/.lake/build/bin/safe_verify")
SAFE_VERIFY_BUILD = "lake build SafeVerify/safe_verify"
# What the pinned SafeVerify commit (a271595, lake-manifest.json) declares: no SafeVerify commit declares v4.24.0
# (v4.23.0 -> v4.26.0, whose bump changed no .lean file), so Lake builds it with PINNED_TOOLCHAIN; docs/lean.md.
SAFE_VERIFY_TOOLCHAIN = "leanprover/lean4:v4.23.0"
MATHLIB_OLEAN = Path(".lake/packages/mathlib/.lake/build/lib/lean/Mathlib.olean")
ELAN_INSTALL = (
    "curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf | sh "
    "-s -- -y --default-toolchain none"
)


def default_project_dir() -> Path:
    """`$FORMALPI_LEAN_PROJECT`, else `lean_project/` of the source checkout, else `./lean_project`."""
    env = os.environ.get("FORMALPI_LEAN_PROJECT")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2] / "lean_project"
    return checkout if checkout.is_dir() else Path("lean_project")


@dataclass(frozen=True)
class Check:
    """One doctor check: `ok`, what was found (`detail`) and, when not ok, the command that fixes it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class SetupStep:
    name: str
    argv: list[str]
    cwd: Path


@dataclass(frozen=True)
class PinnedPackage:
    name: str
    rev: str
    url: str


def manifest_path(project: Path) -> Path:
    """Where the workspace's lakefile points its manifest (`manifestFile`), default `lake-manifest.json`."""
    lakefile = project / "lakefile.toml"
    if lakefile.is_file():
        import tomllib

        try:
            rel = tomllib.loads(lakefile.read_text()).get("manifestFile", "lake-manifest.json")
        except tomllib.TOMLDecodeError as e:
            raise LeanUnavailable(f"{lakefile}: not valid TOML ({e}); restore it with `git checkout {lakefile}`")
        return (project / rel).resolve()
    return project / "lake-manifest.json"


def pinned_packages(project: Path) -> list[PinnedPackage]:
    """The packages and revisions the manifest pins, or LeanUnavailable naming the file and what is wrong."""
    path = manifest_path(project)
    try:
        data = json.loads(path.read_text())
        return [PinnedPackage(p["name"], p["rev"], p["url"]) for p in data["packages"]]
    except FileNotFoundError:
        raise LeanUnavailable(
            f"{path}: the Lake manifest is missing; restore it with `git checkout lake-manifest.json`"
        )
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise LeanUnavailable(
            f"{path}: not a Lake manifest ({type(e).__name__}: {e}); restore it with `git checkout lake-manifest.json`"
        ) from None


def _git_head(repo: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _toolchain_installed(toolchain: str) -> bool | None:
    """Whether elan has the toolchain (None when elan cannot tell)."""
    try:
        out = subprocess.run(["elan", "toolchain", "list"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    # elan lists e.g. "leanprover/lean4:v4.24.0" (possibly with " (default)"); older elan prints "v4.24.0"
    short = toolchain.split(":")[-1]
    return any(line.split()[0] in (toolchain, short) for line in out.stdout.splitlines() if line.strip())


def doctor_checks(project: Path | None = None) -> list[Check]:
    """Every check in order; later checks still run when earlier ones fail, so one run lists everything missing."""
    project = project or default_project_dir()
    cd = f"cd {project} && "
    checks: list[Check] = []
    checks.append(
        Check(
            "lean_project",
            (project / "lakefile.toml").is_file(),
            str(project),
            f"formalpi lean setup --dir DIR (writes the workspace; a pip install has none), or "
            f"run from the formalpi checkout or set FORMALPI_LEAN_PROJECT to its lean_project/ "
            f"(missing {project / 'lakefile.toml'})",
        )
    )
    elan = shutil.which("elan")
    checks.append(Check("elan", elan is not None, elan or "not on PATH", ELAN_INSTALL))
    lake = shutil.which("lake")
    checks.append(
        Check(
            "lake",
            lake is not None,
            lake or "not on PATH",
            ELAN_INSTALL + "  (elan provides lake; then open a new shell or `source ~/.elan/env`)",
        )
    )
    tc_file = project / "lean-toolchain"
    toolchain = tc_file.read_text().strip() if tc_file.is_file() else ""
    checks.append(
        Check(
            "lean-toolchain",
            toolchain == PINNED_TOOLCHAIN,
            toolchain or f"{tc_file} missing",
            f"echo {PINNED_TOOLCHAIN} > {tc_file}",
        )
    )
    if elan:
        have = _toolchain_installed(PINNED_TOOLCHAIN)
        checks.append(
            Check(
                "toolchain installed",
                bool(have),
                PINNED_TOOLCHAIN if have else f"{PINNED_TOOLCHAIN} not installed",
                f"elan toolchain install {PINNED_TOOLCHAIN}",
            )
        )
    try:
        pins = pinned_packages(project)
        checks.append(Check("manifest", True, f"{manifest_path(project)}: {len(pins)} packages"))
    except LeanUnavailable as e:
        pins = []
        checks.append(Check("manifest", False, str(e), "git checkout lake-manifest.json"))
    for pkg in pins:
        where = project / ".lake" / "packages" / pkg.name
        head = _git_head(where) if where.is_dir() else None
        if head is None:
            checks.append(Check(f"package {pkg.name}", False, f"{where} not checked out", cd + "lake exe cache get"))
        else:
            checks.append(
                Check(
                    f"package {pkg.name}",
                    head == pkg.rev,
                    f"at {head[:12]} (pinned {pkg.rev[:12]})",
                    cd + "lake exe cache get  (after `git checkout lake-manifest.json` if you edited it)",
                )
            )
    sv_tc = project / ".lake" / "packages" / "SafeVerify" / "lean-toolchain"
    if sv_tc.is_file():  # read what the checked-out SafeVerify declares, so the mismatch is printed, not hidden
        declared = sv_tc.read_text().strip()
        checks.append(
            Check(
                "SafeVerify toolchain",
                declared in (PINNED_TOOLCHAIN, SAFE_VERIFY_TOOLCHAIN),
                f"SafeVerify declares {declared}, built with this workspace's {PINNED_TOOLCHAIN}"
                + (
                    " (no SafeVerify commit declares v4.24.0; docs/lean.md, The replay)"
                    if declared == SAFE_VERIFY_TOOLCHAIN
                    else ""
                    if declared == PINNED_TOOLCHAIN
                    else f" (not the pinned commit's {SAFE_VERIFY_TOOLCHAIN})"
                ),
                cd + "lake exe cache get  (after `git checkout lake-manifest.json` if you edited it)",
            )
        )
    olean = project / MATHLIB_OLEAN
    checks.append(
        Check(
            "Mathlib build cache",
            olean.is_file(),
            str(olean) if olean.is_file() else f"{olean} missing",
            cd + "lake exe cache get",
        )
    )
    repl = project / REPL_BINARY
    checks.append(
        Check(
            "REPL binary",
            repl.is_file() and os.access(repl, os.X_OK),
            str(repl) if repl.is_file() else f"{repl} missing",
            cd + "lake build REPL/repl",
        )
    )
    sv = project / SAFE_VERIFY_BINARY  # without it every VALID verdict would be a CRASH (LeanConfig.replay)
    checks.append(
        Check(
            "SafeVerify binary (replay)",
            sv.is_file() and os.access(sv, os.X_OK),
            str(sv) if sv.is_file() else f"{sv} missing",
            cd + SAFE_VERIFY_BUILD,
        )
    )
    return checks


SETUP_COMMAND = "formalpi lean setup"


@dataclass(frozen=True)
class DoctorRow:
    """One printed row of `formalpi lean doctor`: the checks that share one fix (or several passing ones)."""

    checks: str
    ok: bool
    found: str
    fix: str


def _shown_fix(fix: str) -> str:
    """The fix a user should type: `formalpi lean setup` for everything it does; elan's installer once."""
    if "lake exe cache get" in fix or "lake build REPL/repl" in fix or SAFE_VERIFY_BUILD in fix:
        return (
            f"{SETUP_COMMAND}  (it runs `lake exe cache get`, `lake build REPL/repl` and "
            f"`{SAFE_VERIFY_BUILD}` in the workspace)"
        )
    if ELAN_INSTALL in fix:
        return f"{ELAN_INSTALL}; then `source ~/.elan/env` (elan provides lean and lake), then {SETUP_COMMAND}"
    return fix


def _names(checks: list[Check]) -> str:
    packages = [c.name.removeprefix("package ") for c in checks if c.name.startswith("package ")]
    others = [c.name for c in checks if not c.name.startswith("package ")]
    if len(packages) > 1:
        head = ", ".join(packages[:3]) + (", ..." if len(packages) > 3 else "")
        others.insert(0, f"{len(packages)} packages ({head})")
    elif packages:
        others.insert(0, f"package {packages[0]}")
    return ", ".join(others)


def _short(detail: str) -> str:
    """`/long/path/x not checked out` -> `not checked out` (the path is in the check's name or the fix)."""
    first, _, rest = detail.partition(" ")
    return rest if "/" in first and rest else detail


def doctor_rows(checks: list[Check]) -> list[DoctorRow]:
    """Failing checks grouped by the fix they need (first-seen order: the order to fix them), then passing ones
    with the pinned packages folded into one row."""
    groups: dict[str, list[Check]] = {}
    for c in checks:
        if not c.ok:
            groups.setdefault(_shown_fix(c.fix), []).append(c)
    rows = [
        DoctorRow(
            _names(cs),
            False,
            cs[0].detail if len(cs) == 1 else "; ".join(dict.fromkeys(_short(c.detail) for c in cs)),
            fix,
        )
        for fix, cs in groups.items()
    ]
    passing = [c for c in checks if c.ok]
    packages = [c for c in passing if c.name.startswith("package ")]
    for c in passing:
        if c.name.startswith("package ") and len(packages) > 1:
            if c is packages[0]:
                rows.append(DoctorRow(_names(packages), True, "at the pinned revisions", ""))
            continue
        rows.append(DoctorRow(c.name, True, c.detail, ""))
    return rows


def setup_steps(project: Path | None = None) -> list[SetupStep]:
    project = project or default_project_dir()
    return [
        SetupStep("fetch Mathlib cache", ["lake", "exe", "cache", "get"], project),
        SetupStep("build REPL", ["lake", "build", "REPL/repl"], project),
        SetupStep("build SafeVerify", SAFE_VERIFY_BUILD.split(), project),
    ]


def run_setup(
    project: Path | None = None,
    on_line: Callable[[SetupStep, str], None] = lambda s, line: None,
    on_step: Callable[[SetupStep], None] = lambda s: None,
) -> list[SetupStep]:
    """Run every setup step, streaming each output line to `on_line`. LeanUnavailable on a missing tool or a
    failed step (with the step's last output lines and the command to rerun by hand)."""
    project = project or default_project_dir()
    if not (project / "lakefile.toml").is_file():
        raise LeanUnavailable(
            f"{project}: no lakefile.toml; write the workspace with `formalpi lean setup --dir DIR`, "
            f"or run from the formalpi checkout or set FORMALPI_LEAN_PROJECT to its lean_project/"
        )
    for tool in ("elan", "lake"):
        if shutil.which(tool) is None:
            raise LeanUnavailable(f"`{tool}` is not on PATH; install elan with: {ELAN_INSTALL}")
    steps = setup_steps(project)
    for step in steps:
        on_step(step)
        tail: list[str] = []
        proc = subprocess.Popen(
            step.argv, cwd=step.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail = (tail + [line])[-20:]
            on_line(step, line)
        if proc.wait() != 0:
            raise LeanUnavailable(
                f"setup step {step.name!r} failed (exit {proc.returncode}): "
                f"`cd {step.cwd} && {' '.join(step.argv)}`; last output:\n" + "\n".join(tail)
            )
    return steps
