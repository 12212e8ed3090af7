"""Where formalpi keeps fetched datasets and cached models, and how a dataset file is found."""

from __future__ import annotations

import os
from pathlib import Path

from formalpi.errors import DataError


def data_dir() -> Path:
    """`$FORMALPI_DATA`, else `./data` (what `formalpi data fetch` writes to)."""
    return Path(os.environ.get("FORMALPI_DATA", "data"))


def cache_dir() -> Path:
    """`$FORMALPI_CACHE`, else `~/.cache/formalpi` (the tiny model is trained once and cached here)."""
    return Path(os.environ.get("FORMALPI_CACHE", Path.home() / ".cache" / "formalpi"))


def resolve_data_file(dataset: str, path: str | None, default_names: tuple[str, ...]) -> Path:
    """The file to read for `dataset`: the configured `data.path`, else the first default name in data_dir()."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise DataError(
                f"data.path: {p} does not exist (set data.path to a local {dataset} file, "
                f"or run `formalpi data fetch {dataset}`)"
            )
        return p
    for name in default_names:
        p = data_dir() / name
        if p.is_file():
            return p
    raise DataError(
        f"dataset {dataset!r}: no local file {data_dir() / default_names[0]}; run "
        f"`formalpi data fetch {dataset}` (or set data.path / $FORMALPI_DATA)"
    )
