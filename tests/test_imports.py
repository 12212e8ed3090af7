"""The import graph: no cycles between modules or packages, the layers point one way, the engine imports no domain
module and no private name."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from formalpi.devtools.imports import find_components, find_cycles, package_edges, private_imports

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_the_import_check_command_passes():
    res = _run(sys.executable, "-m", "formalpi.devtools.imports")
    print(res.stdout)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no import cycles" in res.stdout


def test_the_layer_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is a dev dependency (pip install 'formalpi[dev]')"
    res = _run(exe, str(ROOT / "pyproject.toml"))
    assert res.returncode == 0 and "0 broken" in res.stdout, res.stdout + res.stderr


def test_the_checks_can_fail():
    edges = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert find_cycles(edges) == [["a.x", "a.y", "a.z"]]
    assert find_cycles({"a.x": {"a.y"}, "a.y": set()}) == []


def test_package_cycles_are_found():
    """Modules without a cycle between them can still make their packages import each other round a cycle (records
    importing the Lean wire types while the Lean PI imported the engine's conditions did)."""
    edges = {
        "formalpi.records": {"formalpi.lean.protocol"},
        "formalpi.lean.protocol": set(),
        "formalpi.lean.pi": {"formalpi.engine.conditions"},
        "formalpi.engine.conditions": {"formalpi.records"},
        "formalpi.domains.code.domain": {"formalpi.records"},
    }
    assert find_cycles(edges) == []
    packages = package_edges(edges)
    assert packages["formalpi.records"] == {"formalpi.lean"} and packages["formalpi.domains"] == {"formalpi.records"}
    assert find_components(packages) == [["formalpi.engine", "formalpi.lean", "formalpi.records"]]


def test_private_names_are_found(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "from formalpi.engine.experiment import _generator, stage\nfrom formalpi.x import __version__\n"
        "from formalpi.engine.opsd import _helper as h\n"
    )
    found = private_imports("formalpi.engine.other", src)
    assert found == [
        ("formalpi.engine.other", "formalpi.engine.experiment", "_generator"),
        ("formalpi.engine.other", "formalpi.engine.opsd", "_helper"),
    ]
