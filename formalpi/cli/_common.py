"""Shared CLI helpers: one rich console, progress (bars on a terminal, plain lines otherwise), seed lists."""

from __future__ import annotations

import os
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from formalpi.errors import ConfigError
from formalpi.progress import clock, interval_from_env, progress_line, remaining_s

# soft_wrap: long result lines stay one line in a log (rich would break them at 80 columns when stdout is a file)
console = Console(soft_wrap=True)

PROGRESS_MODE_ENV = "FORMALPI_PROGRESS"  # "bars" | "plain"; default: bars on a terminal, plain lines otherwise


class RemainingColumn(ProgressColumn):
    """ETA at the stage's average rate (rich's own column waits for a 30 s window and shows nothing before)."""

    def render(self, task: Task) -> Text:
        left = 0 if task.finished else remaining_s(task.completed, task.total, task.elapsed)
        return Text("ETA " + clock(left), style="progress.remaining")


class PlainProgress(Progress):
    """rich's Progress bookkeeping without a live display: a line per stage at its start, at most every
    `interval_s` while it runs, and at its end. For logs (SLURM, CI, `| tee`), where a bar would print nothing
    until the end."""

    def __init__(self, console: Console, interval_s: float = 10.0):
        super().__init__(console=console, disable=True)
        self.interval_s = interval_s
        self._last_line: dict[TaskID, float] = {}
        self._ended: set[TaskID] = set()

    def add_task(
        self,
        description: str,
        start: bool = True,
        total: float | None = 100.0,
        completed: int = 0,
        visible: bool = True,
        **fields,
    ) -> TaskID:
        task_id = super().add_task(
            description, start=start, total=total, completed=completed, visible=visible, **fields
        )
        self._report(task_id, force=True)
        return task_id

    def update(self, task_id: TaskID, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._report(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._report(task_id)

    def _report(self, task_id: TaskID, force: bool = False) -> None:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None or task_id in self._ended:
            return
        now = time.monotonic()
        if task.finished:
            self._ended.add(task_id)
        elif not force and now - self._last_line.get(task_id, now - self.interval_s) < self.interval_s:
            return
        self._last_line[task_id] = now
        line = progress_line(task.description, task.completed, task.total, task.elapsed, finished=task.finished)
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        self.console.file.flush()


def progress() -> Progress:
    """Bars with the remaining time on a terminal; plain lines (stage, done/total, rate, ETA) otherwise."""
    mode = os.environ.get(PROGRESS_MODE_ENV, "").strip().lower()
    if mode not in ("", "bars", "plain"):
        raise ConfigError(f"${PROGRESS_MODE_ENV}={mode!r}: choose bars or plain (or leave it unset)")
    if mode == "plain" or (mode == "" and not console.is_terminal):
        interval = interval_from_env()
        return PlainProgress(console, interval)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        RemainingColumn(),
        console=console,
        transient=False,
    )


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
    """A ProgressFactory for the engine: one bar (or line series) per stage, removed when the stage completes."""

    def factory(description: str, total: int):
        if total == 0:
            return lambda _n: None
        task = p.add_task(description, total=total)
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            p.advance(task, n)
            done += n
            if done >= total:
                p.remove_task(task)

        return advance

    return factory
