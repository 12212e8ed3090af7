"""`formalpi lean skeleton FILE` (filled by the skeleton issue)."""

import typer


def register(app: typer.Typer) -> None:
    return None
