"""Progress as plain lines, for logs (SLURM, CI, `| tee`) and worker processes: no terminal, no rich.

One line when a stage starts, at most one every `interval_s` while it runs, and one when it ends:
`[12:03:41] first attempts (gold, seed 42): 64/500 (13%), 2.10/s, elapsed 0:30, ETA 3:27`.
`line_progress(...)` is a ProgressFactory (description, total) -> advance(n), the engine's progress protocol;
the CLI's terminal bars (formalpi/cli/_common.py) show the same numbers.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import datetime

INTERVAL_ENV = "FORMALPI_PROGRESS_INTERVAL"  # seconds between the lines of one stage (default 10)


def interval_from_env(default: float = 10.0) -> float:
    from formalpi.errors import ConfigError

    raw = os.environ.get(INTERVAL_ENV)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"${INTERVAL_ENV}={raw!r}: expected seconds, e.g. 10") from None
    if value < 0:
        raise ConfigError(f"${INTERVAL_ENV}={raw!r}: must be >= 0")
    return value


def remaining_s(done: float, total: float | None, elapsed_s: float | None) -> float | None:
    """Seconds left at the stage's average rate so far (steadier than a short window for slow stages)."""
    if not total or not done or not elapsed_s or elapsed_s <= 0:
        return None
    return max(0.0, elapsed_s * (total - done) / done)


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def rate_text(per_s: float) -> str:
    return f"{per_s:.2f}/s" if per_s < 10 else f"{per_s:.1f}/s" if per_s < 100 else f"{per_s:.0f}/s"


def progress_line(
    description: str, done: float, total: float | None, elapsed_s: float | None, finished: bool = False
) -> str:
    tot = int(total or 0)
    rate = done / elapsed_s if elapsed_s else 0.0
    head = f"[{datetime.now():%H:%M:%S}] {description}: {int(done)}/{tot}"
    pct = f" ({100 * done / tot:.0f}%)" if tot else ""
    if finished:
        return f"{head}{pct} done in {clock(elapsed_s)} ({rate_text(rate)})"
    return (
        f"{head}{pct}, {rate_text(rate)}, elapsed {clock(elapsed_s)}, ETA {clock(remaining_s(done, total, elapsed_s))}"
    )


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # a pipe is block-buffered: without this a log shows nothing until the end


def line_progress(
    prefix: str = "", say: Callable[[str], None] = _say, interval_s: float | None = None
) -> Callable[[str, int], Callable[[int], None]]:
    """A ProgressFactory printing plain lines; `prefix` (e.g. "gold seed 42") is put before each description."""
    interval = interval_from_env() if interval_s is None else interval_s

    def factory(description: str, total: int) -> Callable[[int], None]:
        if total == 0:
            return lambda _n: None
        title = f"{prefix}: {description}" if prefix else description
        t0 = last = time.monotonic()
        done = 0
        say(progress_line(title, 0, total, 0.0))

        def advance(n: int) -> None:
            nonlocal done, last
            if done >= total:
                return
            done += n
            now = time.monotonic()
            if done >= total:
                say(progress_line(title, done, total, now - t0, finished=True))
            elif now - last >= interval:
                last = now
                say(progress_line(title, done, total, now - t0))

        return advance

    return factory
