"""Placeholder sub-command group; filled by its layer's issue."""

import typer

app = typer.Typer(no_args_is_help=True, help="(not built yet)")


def register(root: typer.Typer) -> None:
    return None
