"""The Lake workspace for an installed formalpi: `formalpi lean setup --dir DIR` writes it.

A source checkout has `lean_project/` (with the pinned `lake-manifest.json` at the repository's top level); a pip
install has neither, so the same three files ship as package data (`formalpi/lean/lake_workspace/`, kept equal to
the checkout's by tests/test_lean_workspace.py) and are written into a directory of the user's choice.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from formalpi.errors import LeanUnavailable

WORKSPACE_FILES = ("lakefile.toml", "lean-toolchain", "lake-manifest.json")


def write_workspace(dest: Path) -> list[Path]:
    """Write the workspace files into `dest` (created if needed); refuses to overwrite a different lakefile."""
    dest = Path(dest)
    src = resources.files("formalpi.lean").joinpath("lake_workspace")
    existing = dest / "lakefile.toml"
    if existing.is_file() and existing.read_text() != src.joinpath("lakefile.toml").read_text():
        raise LeanUnavailable(
            f"{existing} exists and is not formalpi's; choose an empty --dir, or pass this one "
            f"as --project-dir to use it as it is"
        )
    try:
        dest.mkdir(parents=True, exist_ok=True)
        out = []
        for name in WORKSPACE_FILES:
            (dest / name).write_text(src.joinpath(name).read_text())
            out.append(dest / name)
    except OSError as e:
        raise LeanUnavailable(
            f"--dir {dest}: cannot write the Lean workspace ({e.strerror or e}); choose a writable directory"
        ) from None
    return out
