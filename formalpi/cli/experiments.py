"""Experiment commands: `demo`, `run`, `tiny train` (filled in by the foundation issue)."""

import typer


def register(root: typer.Typer) -> None:
    return None
