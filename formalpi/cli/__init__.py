"""`formalpi …`: thin. Each command parses flags, builds a config, calls one function.

Sub-command groups live one per module (`data`, `lean`, `analysis`, `experiments`) so each layer owns its own.
"""

from __future__ import annotations

import sys

import typer

from formalpi.cli import analysis, data, experiments, lean, lean_experiments
from formalpi.cli._common import console
from formalpi.errors import FormalpiError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Privileged information in LLM post-training, with strict Lean 4 verification.")
app.add_typer(data.app, name="data")
app.add_typer(lean.app, name="lean")
experiments.register(app)
analysis.register(app)
lean_experiments.register(app)


def main() -> None:
    try:
        app()
    except FormalpiError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
