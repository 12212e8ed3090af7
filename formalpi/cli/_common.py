"""Shared CLI helpers: one rich console, progress (bars on a terminal, plain lines otherwise), seed lists."""

from __future__ import annotations

import os
import time
from datetime import datetime

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn,
                           TimeElapsedColumn)
from rich.text import Text

from formalpi.errors import ConfigError

console = Console()

PROGRESS_INTERVAL_ENV = "FORMALPI_PROGRESS_INTERVAL"  # seconds between plain progress lines of one stage (default 10)
PROGRESS_MODE_ENV = "FORMALPI_PROGRESS"  # "bars" | "plain"; default: bars on a terminal, plain lines otherwise


def remaining_s(task: Task) -> float | None:
    """Seconds left at the stage's average rate so far (steadier than rich's 30 s window for slow stages)."""
    if not task.total or not task.completed or task.elapsed is None or task.elapsed <= 0:
        return None
    return task.elapsed * (task.total - task.completed) / task.completed


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


class RemainingColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text("ETA " + _clock(0 if task.finished else remaining_s(task)), style="progress.remaining")


def _rate(per_s: float) -> str:
    return f"{per_s:.2f}/s" if per_s < 10 else f"{per_s:.1f}/s" if per_s < 100 else f"{per_s:.0f}/s"


def progress_line(task: Task) -> str:
    """`[12:03:41] first attempts (gold, seed 42): 64/500 (13%), 2.1/s, elapsed 0:30, ETA 3:27`."""
    total = int(task.total or 0)
    done = int(task.completed)
    rate = done / task.elapsed if task.elapsed else 0.0
    head = f"[{datetime.now():%H:%M:%S}] {task.description}: {done}/{total}"
    pct = f" ({100 * done / total:.0f}%)" if total else ""
    if task.finished:
        return f"{head}{pct} done in {_clock(task.elapsed)} ({_rate(rate)})"
    return f"{head}{pct}, {_rate(rate)}, elapsed {_clock(task.elapsed)}, ETA {_clock(remaining_s(task))}"


class PlainProgress(Progress):
    """rich's Progress bookkeeping without a live display: a line per stage at its start, at most every
    `interval_s` while it runs, and at its end. For logs (SLURM, CI, `| tee`), where a bar would print nothing
    until the end."""

    def __init__(self, console: Console, interval_s: float = 10.0):
        super().__init__(console=console, disable=True)
        self.interval_s = interval_s
        self._last_line: dict[TaskID, float] = {}
        self._ended: set[TaskID] = set()

    def add_task(self, description: str, start: bool = True, total: float | None = 100.0, completed: int = 0,
                 visible: bool = True, **fields) -> TaskID:
        task_id = super().add_task(description, start=start, total=total, completed=completed, visible=visible,
                                   **fields)
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
        self.console.print(progress_line(task), markup=False, highlight=False, soft_wrap=True)
        self.console.file.flush()


def progress() -> Progress:
    """Bars with the remaining time on a terminal; plain lines (stage, done/total, rate, ETA) otherwise."""
    mode = os.environ.get(PROGRESS_MODE_ENV, "").strip().lower()
    if mode not in ("", "bars", "plain"):
        raise ConfigError(f"${PROGRESS_MODE_ENV}={mode!r}: choose bars or plain (or leave it unset)")
    if mode == "plain" or (mode == "" and not console.is_terminal):
        raw = os.environ.get(PROGRESS_INTERVAL_ENV, "10")
        try:
            interval = float(raw)
        except ValueError:
            raise ConfigError(f"${PROGRESS_INTERVAL_ENV}={raw!r}: expected seconds, e.g. 10") from None
        return PlainProgress(console, interval)
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), RemainingColumn(), console=console, transient=False)


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
