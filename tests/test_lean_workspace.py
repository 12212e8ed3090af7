"""`formalpi lean setup --dir DIR`: the Lake workspace a pip install lacks, written from package data that equals
the checkout's lean_project/ and its pinned manifest."""

from __future__ import annotations

import tomllib

import pytest
from typer.testing import CliRunner

from formalpi.errors import LeanUnavailable
from formalpi.lean.setup import doctor_checks, manifest_path, pinned_packages
from formalpi.lean.workspace import write_workspace
from tests.conftest import ROOT

PROJECT = ROOT / "lean_project"


def test_written_workspace_equals_the_checkouts_and_passes_the_doctor_file_checks(tmp_path):
    written = write_workspace(tmp_path / "lean")
    d = tmp_path / "lean"
    assert sorted(p.name for p in written) == ["lake-manifest.json", "lakefile.toml", "lean-toolchain"]
    assert (d / "lake-manifest.json").read_bytes() == (ROOT / "lake-manifest.json").read_bytes()
    assert (d / "lean-toolchain").read_bytes() == (PROJECT / "lean-toolchain").read_bytes()
    ours, theirs = (tomllib.loads((p / "lakefile.toml").read_text()) for p in (d, PROJECT))
    theirs.pop("manifestFile")  # the checkout keeps its manifest at the repository's top level
    assert ours == theirs
    assert manifest_path(d) == (d / "lake-manifest.json").resolve()
    assert pinned_packages(d) == pinned_packages(PROJECT)
    checks = {c.name: c for c in doctor_checks(d)}
    assert checks["lean_project"].ok and checks["lean-toolchain"].ok and checks["manifest"].ok


def test_setup_dir_writes_then_stops_at_the_missing_toolchain_and_never_overwrites(tmp_path, monkeypatch):
    from formalpi.cli import app

    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no elan, no lake
    res = CliRunner().invoke(app, ["lean", "setup", "--dir", str(tmp_path / "ws")], env={"COLUMNS": "300"})
    assert (tmp_path / "ws" / "lakefile.toml").is_file()
    assert isinstance(res.exception, LeanUnavailable) and "`elan` is not on PATH" in str(res.exception)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "lakefile.toml").write_text('name = "someone_else"\n')
    with pytest.raises(LeanUnavailable, match="exists and is not formalpi's"):
        write_workspace(tmp_path / "other")


def test_pip_install_ships_the_workspace_as_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["formalpi"]
    assert "lean/lake_workspace/*" in data
