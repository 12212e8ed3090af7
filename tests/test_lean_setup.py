"""The Lake workspace files and `formalpi lean setup/doctor`, with a scripted toolchain (no Lean here)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from formalpi.errors import LeanUnavailable
from formalpi.lean.setup import PINNED_TOOLCHAIN, REPL_BINARY, doctor_checks, manifest_path, pinned_packages, run_setup
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "lean_project"


def test_workspace_requires_mathlib_and_repl_at_the_pinned_tags():
    cfg = tomllib.loads((PROJECT / "lakefile.toml").read_text())
    assert cfg["manifestFile"] == "../lake-manifest.json"
    req = {r["name"]: r for r in cfg["require"]}
    assert req["mathlib"]["rev"] == "v4.24.0" and req["REPL"]["rev"] == "v4.24.0"
    assert (PROJECT / "lean-toolchain").read_text().strip() == PINNED_TOOLCHAIN
    assert manifest_path(PROJECT) == (ROOT / "lake-manifest.json").resolve()


def test_manifest_pins_the_shared_revisions():
    pins = json.loads(shared_path("lean", "pins.json").read_text())
    mathlib_manifest = json.loads(shared_path("lean", "mathlib-v4.24.0-lake-manifest.json").read_text())
    ours = {p.name: p for p in pinned_packages(PROJECT)}
    assert ours["mathlib"].rev == pins["mathlib"]["rev"]
    assert ours["REPL"].rev == pins["repl"]["rev"] and ours["REPL"].url == pins["repl"]["url"]
    for p in mathlib_manifest["packages"]:  # every Mathlib dependency at Mathlib's own revision
        assert ours[p["name"]].rev == p["rev"], p["name"]
    raw = json.loads((ROOT / "lake-manifest.json").read_text())
    direct = {p["name"] for p in raw["packages"] if not p["inherited"]}
    assert direct == {"mathlib", "REPL", "SafeVerify"} and raw["packagesDir"] == ".lake/packages"


def _workspace(tmp_path: Path) -> Path:
    project = tmp_path / "lean_project"
    project.mkdir()
    for name in ("lakefile.toml", "lean-toolchain"):
        (project / name).write_text((PROJECT / name).read_text())
    (tmp_path / "lake-manifest.json").write_text((ROOT / "lake-manifest.json").read_text())
    return project


def _tool(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    p = bin_dir / name
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(p.stat().st_mode | stat.S_IEXEC)


def test_doctor_says_what_is_missing_and_how_to_fix_it(tmp_path, monkeypatch):
    project = _workspace(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    checks = {c.name: c for c in doctor_checks(project)}
    assert checks["lean_project"].ok and checks["lean-toolchain"].ok and checks["manifest"].ok
    assert not checks["elan"].ok and "elan-init.sh" in checks["elan"].fix
    assert not checks["lake"].ok and "elan" in checks["lake"].fix
    assert not checks["package mathlib"].ok and checks["package mathlib"].fix.endswith("lake exe cache get")
    assert not checks["Mathlib build cache"].ok
    assert not checks["REPL binary"].ok and "lake build REPL/repl" in checks["REPL binary"].fix


def test_doctor_sees_a_package_at_the_wrong_revision_and_a_built_repl(tmp_path, monkeypatch):
    project = _workspace(tmp_path)
    pkg = project / ".lake" / "packages" / "mathlib"
    pkg.mkdir(parents=True)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "init", "-q", str(pkg)], check=True, env=env)
    subprocess.run(["git", "-C", str(pkg), "commit", "-q", "--allow-empty", "-m", "x"], check=True, env=env)
    repl = project / REPL_BINARY
    repl.parent.mkdir(parents=True)
    repl.write_text("#!/bin/sh\n")
    repl.chmod(0o755)
    _tool(tmp_path / "bin", "elan", f'echo "{PINNED_TOOLCHAIN} (default)"')
    _tool(tmp_path / "bin", "lake", "exit 0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    checks = {c.name: c for c in doctor_checks(project)}
    assert checks["elan"].ok and checks["lake"].ok and checks["toolchain installed"].ok
    assert not checks["package mathlib"].ok and "pinned f897ebcf72cd" in checks["package mathlib"].detail
    assert checks["REPL binary"].ok


def test_setup_runs_cache_get_then_builds_the_repl(tmp_path, monkeypatch):
    project = _workspace(tmp_path)
    log = tmp_path / "calls.log"
    _tool(tmp_path / "bin", "elan", "exit 0")
    _tool(tmp_path / "bin", "lake", f'echo "$PWD :: $*" >> {log}; echo "progress line for $*"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    lines = []
    steps = run_setup(project, on_line=lambda s, line: lines.append((s.name, line)))
    assert [s.name for s in steps] == ["fetch Mathlib cache", "build REPL", "build SafeVerify"]
    assert log.read_text().splitlines() == [
        f"{project} :: exe cache get",
        f"{project} :: build REPL/repl",
        f"{project} :: build SafeVerify/safe_verify",
    ]
    assert lines == [
        ("fetch Mathlib cache", "progress line for exe cache get"),
        ("build REPL", "progress line for build REPL/repl"),
        ("build SafeVerify", "progress line for build SafeVerify/safe_verify"),
    ]


def test_setup_failures_are_typed_and_name_the_command(tmp_path, monkeypatch):
    project = _workspace(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(LeanUnavailable, match="`elan` is not on PATH; install elan"):
        run_setup(project)
    _tool(tmp_path / "bin", "elan", "exit 0")
    _tool(tmp_path / "bin", "lake", 'echo "error: cache download failed"; exit 3')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    with pytest.raises(LeanUnavailable, match=r"(?s)fetch Mathlib cache.*exit 3.*lake exe cache get.*download failed"):
        run_setup(project)
    (tmp_path / "lake-manifest.json").write_text("{not json")
    with pytest.raises(LeanUnavailable, match="lake-manifest.json: not a Lake manifest"):
        pinned_packages(project)


def test_cli_doctor_exits_nonzero_with_the_fixes(tmp_path, monkeypatch):
    from formalpi.cli import app

    project = _workspace(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    res = CliRunner().invoke(app, ["lean", "doctor", "--project-dir", str(project)], env={"COLUMNS": "400"})
    assert res.exit_code == 1
    assert "MISSING" in res.output and "lake build REPL/repl" in res.output and "selftest is skipped" in res.output
    assert "formalpi lean setup" in res.output  # the rows that `lean setup` fixes are one row (test_lean_doctor_rows)
