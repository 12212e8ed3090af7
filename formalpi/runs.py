"""The run store: `runs/<experiment>/<seed>/` with one JSONL file per stage and a `manifest.json`.

Resumability rests on three rules:
1. every record is appended as one JSON line, flushed and fsynced per chunk, so a kill loses at most the chunk
   in flight; a half-written last line is discarded (and truncated away) when the file is next read;
2. every record has a key (attempt id, problem id, ...); a resumed stage skips the keys already present, so no
   record is written twice;
3. the work for a key depends only on the seed and the key (never on batch composition or on what ran before in
   the process), so the records a resumed run writes are the ones the killed run would have written.
A stage whose output is complete is marked in the manifest and skipped whole.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from formalpi.errors import RunStoreError

R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")

_PACKAGES = ("formalpi", "torch", "transformers", "peft", "trl", "accelerate", "math-verify", "vllm", "pexpect")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_revision(cwd: Path | None = None) -> str:
    """HEAD of the checkout formalpi runs from, with `+dirty` when it has uncommitted changes."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class RunStore:
    """One seed of one experiment on disk. Cheap to construct; all state lives in the files."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # ---- opening ----------------------------------------------------------------------------------------

    @classmethod
    def open(cls, runs_dir: str | Path, experiment: str, seed: int, config: dict[str, Any],
             fingerprint: str | None = None) -> "RunStore":
        """Create or reopen `runs_dir/experiment/seed`. Refuses to resume a directory made by another config."""
        store = cls(Path(runs_dir) / experiment / str(seed))
        store.root.mkdir(parents=True, exist_ok=True)
        manifest = store.manifest()
        fp = fingerprint if fingerprint is not None else json.dumps(config, sort_keys=True)
        if manifest and manifest.get("fingerprint") != fp and not store.has_records():
            manifest = {}  # nothing was recorded under the old config (it failed at once): start afresh
        if manifest:
            if manifest.get("fingerprint") != fp:
                raise RunStoreError(
                    f"{store.root}: this run directory was made with a different config; "
                    f"remove it or choose another experiment name / runs_dir to start afresh")
            manifest.setdefault("resumed_at", []).append(_now())
        else:
            manifest = {
                "experiment": experiment, "seed": seed, "config": config, "fingerprint": fp,
                "versions": package_versions(), "git": git_revision(), "created_at": _now(), "stages": {},
            }
        store._write_manifest(manifest)
        return store

    def has_records(self) -> bool:
        return any(p.stat().st_size for p in self.root.glob("*.jsonl")) or any(self.root.glob("checkpoint*"))

    # ---- manifest ---------------------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        return json.loads(self.manifest_path.read_text())

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        tmp = self.manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(tmp, self.manifest_path)  # atomic: a kill never leaves half a manifest

    def is_done(self, stage: str) -> bool:
        return bool(self.manifest().get("stages", {}).get(stage, {}).get("done"))

    def mark_done(self, stage: str, **budget: Any) -> None:
        """Mark a stage complete and record its budget (count, wall_s, tokens, samples, verifier calls...)."""
        m = self.manifest()
        entry = m.setdefault("stages", {}).setdefault(stage, {})
        entry.update(budget)
        entry["done"] = True
        entry["finished_at"] = _now()
        self._write_manifest(m)

    def annotate(self, key: str, value: Any) -> None:
        """Record a top-level manifest field (e.g. the code sandbox's isolation layers, `sandbox`)."""
        m = self.manifest()
        m[key] = value
        self._write_manifest(m)

    def add_budget(self, stage: str, **amounts: float) -> None:
        """Add to a stage's running budget counters (kept across resumes)."""
        m = self.manifest()
        entry = m.setdefault("stages", {}).setdefault(stage, {})
        for k, v in amounts.items():
            entry[k] = entry.get(k, 0) + v
        self._write_manifest(m)

    # ---- JSONL records ----------------------------------------------------------------------------------

    def path(self, stage: str) -> Path:
        return self.root / f"{stage}.jsonl"

    def read(self, stage: str, model: type[R]) -> list[R]:
        """All complete records of a stage. A torn last line (a kill mid-write) is dropped from the file."""
        p = self.path(stage)
        if not p.exists():
            return []
        raw = p.read_bytes()
        records: list[R] = []
        good_upto = 0
        pos = 0
        for line in raw.splitlines(keepends=True):
            end = pos + len(line)
            if not line.endswith(b"\n"):
                break  # torn write: the line never got its newline
            text = line.strip()
            if text:
                try:
                    records.append(model.model_validate_json(text))
                except ValueError:
                    break
            good_upto = end
            pos = end
        if good_upto < len(raw):
            with open(p, "r+b") as f:
                f.truncate(good_upto)
        return records

    def append(self, stage: str, records: Iterable[BaseModel]) -> int:
        lines = [r.model_dump_json() + "\n" for r in records]
        if not lines:
            return 0
        with open(self.path(stage), "a", encoding="utf-8") as f:
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())
        return len(lines)

    def map_resumable(self, stage: str, model: type[R], items: Sequence[T], item_key: Callable[[T], str],
                      record_key: Callable[[R], str], fn: Callable[[int, list[T]], list[R]], chunk_size: int = 64,
                      on_progress: Callable[[int], None] | None = None) -> list[R]:
        """Apply `fn(chunk_index, chunk)` over fixed chunks of `items`, appending the records as it goes.

        Chunk boundaries depend only on `items` and `chunk_size`, so `fn` (seeded by the chunk) recomputes exactly
        what a killed run computed; a chunk is redone when any of its keys is missing, and only the missing
        records are appended. `fn` may return several records per item (e.g. n samples), all with that item's
        key. Returns every record for `items` in their order.
        """
        existing = self.read(stage, model)
        have = {record_key(r) for r in existing}
        for ci, start in enumerate(range(0, len(items), chunk_size)):
            chunk = list(items[start:start + chunk_size])
            missing = {item_key(it) for it in chunk} - have
            if missing:
                new = [r for r in fn(ci, chunk) if record_key(r) in missing]
                self.append(stage, new)
                existing.extend(new)
                have |= missing
            if on_progress:
                on_progress(len(chunk))
        order = {item_key(it): i for i, it in enumerate(items)}
        return sorted((r for r in existing if record_key(r) in order), key=lambda r: order[record_key(r)])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Stopwatch:
    def __enter__(self) -> "Stopwatch":
        self.t0 = time.perf_counter()
        self.s = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self.t0
