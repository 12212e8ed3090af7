"""The core install: every CLI module imports and the entry commands start with every optional package absent.

Each case runs in a fresh interpreter whose `sys.meta_path` refuses the optional modules (what a plain
`pip install formalpi` lacks, plus statsmodels, which the CLI must not load at start-up), so a module-level import of
any of them anywhere under `formalpi.cli` fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from formalpi.errors import EXTRA_OF_MODULE

ROOT = Path(__file__).resolve().parent.parent
# what no core install has; statsmodels and matplotlib are core but must load only when a report is built
BLOCKED = sorted({*EXTRA_OF_MODULE, "pytest", "_pytest", "statsmodels", "matplotlib"})

_PRELUDE = f"""
import importlib.abc, sys
BLOCKED = {BLOCKED!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, Block())
"""


def _run(code: str, *, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", _PRELUDE + code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _cli(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return _run(f"import sys; sys.argv = ['formalpi', *{list(argv)!r}]\nfrom formalpi.cli import main\nmain()", cwd=cwd)


def test_every_cli_module_imports_without_optional_packages():
    code = """
import pkgutil, importlib, formalpi.cli
names = [m.name for m in pkgutil.iter_modules(formalpi.cli.__path__, "formalpi.cli.")]
for n in names:
    importlib.import_module(n)
print("imported", len(names), *names)
"""
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert "formalpi.cli.analysis" in r.stdout and "formalpi.cli.lean" in r.stdout


def test_blocker_works():
    """The blocker must really refuse: otherwise the tests above would pass vacuously."""
    r = _run("import statsmodels")
    assert r.returncode != 0 and "blocked by the test" in r.stderr


@pytest.mark.parametrize(
    "argv, expect",
    [
        (("--help",), "demo"),
        (("demo", "--help"), "--seeds"),
        (("run", "--help"), "--set"),
        (("report", "--help"), "--out"),
        (("minif2f", "eval", "--help"), "--samples"),
    ],
)
def test_help_starts_without_optional_packages(argv, expect):
    r = _cli(*argv)
    assert r.returncode == 0, r.stderr
    assert expect in r.stdout
    assert "Traceback" not in r.stderr


def test_lean_doctor_starts_without_optional_packages(tmp_path):
    r = _cli("lean", "doctor", "--project-dir", str(tmp_path / "no_project"))
    out = r.stdout + r.stderr
    assert "Traceback" not in out
    assert r.returncode == 1  # no Lean here: the checks fail and say how to fix them
    assert "lean_project" in out and "fix" in out


def test_missing_extra_is_one_line_naming_the_extra(tmp_path):
    """`[deepspeed]` must survive rich markup (an unescaped '[deepspeed]' is swallowed as a style tag)."""
    cfg = tmp_path / "x.toml"
    cfg.write_text('name = "x"\n')
    r = _cli("run", str(cfg), "--launcher", "accelerate", "--strategy", "zero3", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stdout
    assert "pip install 'formalpi[deepspeed]'" in lines[0]
    assert not (tmp_path / "runs").exists()  # refused before any work


def test_module_not_found_of_an_optional_package_names_its_extra():
    """The safety net in main(): an optional import reached deep inside a command becomes one line."""
    code = """
import sys
import formalpi.cli as cli
def boom():
    import vllm
cli.app.command("boom")(boom)
sys.argv = ["formalpi", "boom"]
cli.main()
"""
    r = _run(code)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "pip install 'formalpi[vllm]'" in r.stdout


def test_core_dependencies_have_no_optional_package():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {
        d.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().replace("-", "_").lower()
        for d in meta["dependencies"]
    }
    assert not core & set(EXTRA_OF_MODULE), core & set(EXTRA_OF_MODULE)
    extras = meta["optional-dependencies"]
    for module, extra in EXTRA_OF_MODULE.items():
        names = {d.split(">")[0].split("=")[0].strip().replace("-", "_") for d in extras[extra]}
        assert module in names, (module, extra, extras[extra])
    assert "ray" not in {d.split(">")[0] for d in extras["demo"]}  # make demo installs only what it uses
