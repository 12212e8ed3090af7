"""`formalpi …`: thin. Each command parses flags, builds a config, calls one function.

Sub-command groups live one per module (`data`, `lean`, `analysis`, `experiments`) so each layer owns its own.
"""

from __future__ import annotations

import os
import sys

# The CLI draws its own rich progress bars: silence the libraries' bars and chatter before they are imported.
for _var, _value in {
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRL_EXPERIMENTAL_SILENCE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_var, _value)

import typer  # noqa: E402
from rich.markup import escape  # noqa: E402

from formalpi.cli import analysis, data, experiments, lean, lean_experiments, table
from formalpi.cli._common import console
from formalpi.errors import EXTRA_OF_MODULE, FormalpiError, MissingExtra

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Privileged information in LLM post-training, with strict Lean 4 verification.",
)
app.add_typer(data.app, name="data")
app.add_typer(lean.app, name="lean")
experiments.register(app)
analysis.register(app)
lean_experiments.register(app)
table.register(app)


LIST_FLAGS = ("--seeds", "--gpus")  # comma-separated values: one shell word


def split_list_flag(argv: list[str]) -> str | None:
    """The error for a list flag whose value the shell split at a space (`--seeds 1, 2`), which click would report
    as an unexpected extra argument without naming the flag; None when there is none."""
    for i, arg in enumerate(argv[:-2]):
        if arg in LIST_FLAGS and argv[i + 1].endswith(",") and not argv[i + 2].startswith("-"):
            value = " ".join(argv[i + 1 : i + 3])
            return (
                f"{arg} {value!r}: the value was split at the space; write it as one word, "
                f"{arg} {value.replace(' ', '')} (or quote it: {arg} '{value}')"
            )
    return None


def main() -> None:
    split = split_list_flag(sys.argv[1:])
    if split:
        console.print(f"[bold red]error:[/] {escape(split)}", highlight=False)
        sys.exit(2)
    try:
        try:
            app()
        except ModuleNotFoundError as e:  # an optional part reached without its extra: one line, not a traceback
            top = (e.name or "").split(".")[0]
            if top not in EXTRA_OF_MODULE:
                raise
            raise MissingExtra(top, "this command") from None
    except PermissionError as e:  # an output the user cannot write (a read-only checkout, someone else's runs/)
        console.print(
            f"[bold red]error:[/] cannot write {escape(str(e.filename or ''))} ({escape(e.strerror or '')}); "
            "choose a writable output: --runs-dir, --out or --set runs_dir=...",
            highlight=False,
        )
        sys.exit(2)
    except FormalpiError as e:
        # escape: messages name extras such as 'formalpi[vllm]', which rich would read as a style tag and drop
        console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
