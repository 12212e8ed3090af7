"""Progress: plain lines (stage, done/total, rate, ETA) when stdout is not a terminal, bars with ETA on a terminal,
and SFT steps reported like every other stage."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from formalpi.cli import _common
from formalpi.cli._common import PlainProgress, RemainingColumn, progress, stage_progress

ROOT = Path(__file__).resolve().parent.parent


def test_plain_progress_prints_stage_done_total_rate_eta_and_the_end():
    out = io.StringIO()
    p = PlainProgress(Console(file=out, width=40), interval_s=0)
    advance = stage_progress(p)("first attempts (gold, seed 42)", 4)
    for _ in range(4):
        advance(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5, lines  # the start, three updates, the end; never wrapped at the console's 40 columns
    assert "first attempts (gold, seed 42): 0/4 (0%)" in lines[0]
    assert "2/4 (50%)" in lines[2] and "/s, elapsed" in lines[2] and ", ETA " in lines[2]
    assert "4/4 (100%) done in" in lines[4]


def test_plain_progress_is_throttled_but_always_prints_the_end():
    out = io.StringIO()
    p = PlainProgress(Console(file=out), interval_s=3600)
    advance = stage_progress(p)("evaluating (baseline, seed 42)", 100)
    for _ in range(100):
        advance(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "0/100" in lines[0] and "100/100 (100%) done in" in lines[1]


def test_terminal_gets_bars_with_the_remaining_time(monkeypatch):
    monkeypatch.delenv(_common.PROGRESS_MODE_ENV, raising=False)
    monkeypatch.setattr(_common, "console", Console(file=io.StringIO(), force_terminal=True))
    p = progress()
    assert not isinstance(p, PlainProgress)
    assert any(isinstance(c, RemainingColumn) for c in p.columns)
    monkeypatch.setattr(_common, "console", Console(file=io.StringIO(), force_terminal=False))
    assert isinstance(progress(), PlainProgress)


def test_remaining_time_is_known_after_the_first_item():
    p = PlainProgress(Console(file=io.StringIO()), interval_s=3600)
    t = p.add_task("x", total=10)
    p.advance(t, 1)
    task = p.tasks[0]
    assert "ETA -:--" not in str(RemainingColumn().render(task))


def test_run_piped_prints_progress_lines_while_it_runs_sft_included(tmp_path):
    """`formalpi run ... | tee log`: lines arrive while the run is going, one stage after another, SFT steps too."""
    cfg = tmp_path / "x.toml"
    cfg.write_text(f'''name = "x"
runs_dir = "{tmp_path / "runs"}"
condition = "rejection"  # trains on the verified first attempts: SFT has steps here
[data]
dataset = "arith"
train_limit = 12
eval_limit = 6
[sampling]
n = 2
max_new_tokens = 48
[eval]
n = 1
max_new_tokens = 48
[train]
batch_size = 2
lora_rank = 4
''')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "FORMALPI_PROGRESS_INTERVAL": "0"}
    env.pop(_common.PROGRESS_MODE_ENV, None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from formalpi.cli import main; main()", "run", str(cfg), "--seeds", "42"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines, seen_while_running = [], False
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if "first attempts (rejection, seed 42):" in line and proc.poll() is None:
            seen_while_running = True
    assert proc.wait(timeout=600) == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert seen_while_running, text
    order = [
        next(i for i, ln in enumerate(lines) if stage in ln)
        for stage in (
            "first attempts (rejection, seed 42): 0/12",
            "checking first attempts (rejection, seed 42)",
            "fine-tuning, SFT steps (rejection, seed 42): 0/",
            "evaluating (rejection, seed 42): 0/6",
            "x seed 42: ",
        )
    ]
    assert order == sorted(order), text
    assert any("fine-tuning, SFT steps (rejection, seed 42)" in ln and "done in" in ln for ln in lines), text
    assert "\x1b[" not in text  # no terminal escapes in a log


def test_line_progress_for_worker_processes_prints_start_updates_and_end():
    from formalpi.progress import line_progress

    lines: list[str] = []
    advance = line_progress("gold seed 42", say=lines.append, interval_s=0)("evaluating", 3)
    for _ in range(4):  # one more than the total: ignored
        advance(1)
    assert len(lines) == 4, lines
    assert "gold seed 42: evaluating: 0/3 (0%)" in lines[0] and ", ETA " in lines[1]
    assert "3/3 (100%) done in" in lines[3]
    quiet: list[str] = []
    advance = line_progress(say=quiet.append, interval_s=3600)("x", 50)
    for _ in range(50):
        advance(1)
    assert len(quiet) == 2 and quiet[0].endswith("ETA -:--") and "done in" in quiet[1]


def test_bad_interval_env_names_the_variable(monkeypatch):
    import pytest

    from formalpi.errors import ConfigError
    from formalpi.progress import interval_from_env

    monkeypatch.setenv("FORMALPI_PROGRESS_INTERVAL", "often")
    with pytest.raises(ConfigError, match=r"\$FORMALPI_PROGRESS_INTERVAL='often': expected seconds"):
        interval_from_env()
