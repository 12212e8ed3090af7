"""Shared CLI helpers: one rich console, progress bars, seed lists."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from formalpi.errors import ConfigError

console = Console()


def progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected comma-separated integers, e.g. {flag} 42,123,456") from None
    if not seeds:
        raise ConfigError(f"{flag}: no seeds given, e.g. {flag} 42,123,456")
    from formalpi.engine.preflight import check_seed

    for seed in seeds:
        check_seed(seed, flag)
    return seeds


def stage_progress(p: Progress):
    """A ProgressFactory for the engine: one bar per stage, removed when the stage completes."""

    def factory(description: str, total: int):
        task = p.add_task(description, total=total)

        def advance(n: int) -> None:
            p.advance(task, n)
            if p.tasks[[t.id for t in p.tasks].index(task)].finished:
                p.remove_task(task)

        if total == 0:
            p.remove_task(task)
            return lambda _n: None
        return advance

    return factory
