"""`formalpi data fetch NAME`: download a benchmark for users who are online, into the data dir."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional

import typer

from formalpi.cli._common import console
from formalpi.errors import ConfigError
from formalpi.paths import data_dir

app = typer.Typer(no_args_is_help=True, help="Fetch benchmark datasets (MATH-500, HumanEval, MBPP, MiniF2F).")

# name -> "module:function"; each fetcher takes the destination dir and returns the file it wrote
FETCHERS = {
    "math": "formalpi.domains.math.domain:fetch_math",  # MATH train (7,500) + MATH-500 as its test split
    "math500": "formalpi.domains.math.domain:fetch_math500",
    "humaneval": "formalpi.domains.code.domain:fetch_humaneval",
    "mbpp": "formalpi.domains.code.domain:fetch_mbpp",
    "minif2f": "formalpi.domains.lean.domain:fetch_minif2f",
}


@app.command()
def fetch(
    name: str = typer.Argument(..., help=f"one of: {', '.join(FETCHERS)}"),
    dest: Optional[Path] = typer.Option(None, help="directory to write to (default: $FORMALPI_DATA or ./data)"),
):
    """Download a dataset and convert it to the local format formalpi reads."""
    if name not in FETCHERS:
        raise ConfigError(f"data fetch: unknown dataset {name!r}; choose one of {', '.join(FETCHERS)}")
    module, fn = FETCHERS[name].split(":")
    out_dir = dest or data_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = getattr(importlib.import_module(module), fn)(out_dir)
    console.print(f"[green]wrote[/] {path}")
