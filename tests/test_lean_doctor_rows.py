"""`formalpi lean doctor`: checks that share one fix print as one row, and the row says `formalpi lean setup`."""


def test_doctor_prints_rows_sharing_one_fix_once_and_names_formalpi_lean_setup(tmp_path, monkeypatch):
    """Without Lean: 14 failing checks, 2 distinct fixes (elan's installer; `formalpi lean setup`)."""
    from formalpi.lean.setup import SETUP_COMMAND, doctor_checks, doctor_rows

    monkeypatch.setenv("PATH", str(tmp_path))  # no elan, no lake
    checks = doctor_checks()
    rows = doctor_rows(checks)
    failing = [r for r in rows if not r.ok]
    assert len([c for c in checks if not c.ok]) > len(failing) == 2
    assert "elan-init.sh" in failing[0].fix and failing[0].checks == "elan, lake"
    assert failing[1].fix.startswith(SETUP_COMMAND)
    assert "packages (" in failing[1].checks and "REPL binary" in failing[1].checks
    assert "Mathlib build cache" in failing[1].checks
    assert failing[1].found == "not checked out; missing"  # paths are in the fix's workspace, not repeated


def test_doctor_rows_shorten_relative_paths_too(tmp_path, monkeypatch):
    from formalpi.lean.setup import doctor_checks, doctor_rows

    (tmp_path / "lean_project").symlink_to(doctor_checks.__globals__["default_project_dir"]())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    from pathlib import Path

    rows = doctor_rows(doctor_checks(Path("lean_project")))
    assert [r.found for r in rows if not r.ok][1] == "not checked out; missing"


def test_cli_doctor_output_mentions_setup_once(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from formalpi.cli.lean import app

    monkeypatch.setenv("PATH", str(tmp_path))
    res = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "400"})  # wide: no fix is wrapped
    assert res.exit_code == 1
    assert res.output.count("formalpi lean setup") == 2  # the setup row's fix + the elan row's "then ..."
    assert res.output.count("lake exe cache get") == 1
    table_missing = sum("MISSING" in line and "of the table's rows" not in line for line in res.output.splitlines())
    assert table_missing >= 2 and f"{table_missing} of the table's rows MISSING" in res.output
