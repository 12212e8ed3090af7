"""`formalpi lean …`: setup, doctor, check, selftest, skeleton."""

import typer

from formalpi.cli import lean_skeleton

app = typer.Typer(no_args_is_help=True, help="The Lean 4 verifier: setup, doctor, check, selftest, skeleton.")
lean_skeleton.register(app)
