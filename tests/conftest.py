"""Shared fixtures. `../shared` (benchmark data, Lean transcripts) is optional: tests needing it skip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the calling test with the reason."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent (../shared holds test data; the project fetches its own for users)")
    return p


@pytest.fixture
def shared() -> callable:
    return shared_path


def skip_unless_full_sandbox() -> None:
    """Skip the calling test, naming what is missing, where this machine cannot give the code sandbox every layer."""
    from formalpi.domains.code.host import weak_reasons
    from formalpi.domains.code.sandbox import layers

    missing = weak_reasons(layers())
    if missing:
        pytest.skip(
            "the code sandbox lacks: " + "; ".join(missing) + " (root and bubblewrap: scripts/install-system-deps.sh)"
        )


@pytest.fixture(scope="module")
def full_sandbox() -> None:
    skip_unless_full_sandbox()


def pytest_collection_modifyitems(config, items):
    if shutil.which("lake"):
        return
    skip = pytest.mark.skip(reason="needs a Lean 4 toolchain: `lake` is not on PATH (see `formalpi lean doctor`)")
    for item in items:
        if "lean" in item.keywords:
            item.add_marker(skip)
