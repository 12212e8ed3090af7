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


def pytest_collection_modifyitems(config, items):
    if shutil.which("lake"):
        return
    skip = pytest.mark.skip(reason="needs a Lean 4 toolchain: `lake` is not on PATH (see `formalpi lean doctor`)")
    for item in items:
        if "lean" in item.keywords:
            item.add_marker(skip)
