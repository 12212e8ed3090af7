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
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class RunStore:
    """One seed of one experiment on disk. Cheap to construct; all state lives in the files."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # ---- opening ----------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        runs_dir: str | Path,
        experiment: str,
        seed: int,
        config: dict[str, Any],
        fingerprint: str | None = None,
        resumes: Callable[[str], bool] | None = None,
    ) -> "RunStore":
        """Create or reopen `runs_dir/experiment/seed`. Refuses to resume a directory made by another config:
        one whose recorded fingerprint differs from `fingerprint` and that `resumes` (if given) does not accept.

        Reopening writes nothing until a stage does: a finished run re-read from a read-only directory works.
        """
        store = cls(Path(runs_dir) / experiment / str(seed))
        manifest = store.manifest()
        fp = fingerprint if fingerprint is not None else json.dumps(config, sort_keys=True)
        recorded = manifest.get("fingerprint")
        same = recorded == fp or (resumes is not None and isinstance(recorded, str) and resumes(recorded))
        if manifest and not same and not store.has_records():
            manifest = {}  # nothing was recorded under the old config (it failed at once): start afresh
        if manifest:
            if not same:
                raise RunStoreError(
                    f"{store.root}: this run directory was made with a different config "
                    f"({config_difference(manifest.get('fingerprint'), fp)}); remove it or choose another experiment "
                    f"name / runs_dir to start afresh"
                )
            store._pending_resume = _now()  # recorded with the first write of this session
            return store
        try:
            store.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunStoreError(
                f"{store.root}: cannot create the run directory ({e.strerror}); "
                f"choose a writable runs_dir (--runs-dir or --set runs_dir=...)"
            ) from None
        store._write_manifest(
            {
                "experiment": experiment,
                "seed": seed,
                "config": config,
                "fingerprint": fp,
                "versions": package_versions(),
                "git": git_revision(),
                "created_at": _now(),
                "stages": {},
            }
        )
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

    _pending_resume: str | None = None

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        if self._pending_resume is not None:
            manifest.setdefault("resumed_at", []).append(self._pending_resume)
            self._pending_resume = None
        tmp = self.manifest_path.with_suffix(".json.tmp")
        try:
            tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        except OSError as e:
            raise self._unwritable(e) from None
        os.replace(tmp, self.manifest_path)  # atomic: a kill never leaves half a manifest

    def _unwritable(self, e: OSError) -> RunStoreError:
        return RunStoreError(
            f"{self.root}: cannot write the run store ({e.strerror}); this run is not finished, so "
            f"it needs a writable runs_dir (--runs-dir or --set runs_dir=...; copy the directory "
            f"there to resume it)"
        )

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

    def annotate(self, **fields: Any) -> None:
        """Set top-level manifest fields that describe the run as a whole (e.g. `data`: formalpi/engine/stages.py)."""
        m = self.manifest()
        if all(k in m and m[k] == json.loads(json.dumps(v)) for k, v in fields.items()):
            return  # unchanged: a re-run of a finished run writes nothing (its directory may be read-only)
        m.update(fields)
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
            try:
                with open(p, "r+b") as f:
                    f.truncate(good_upto)
            except OSError as e:
                raise self._unwritable(e) from None
        return records

    def append(self, stage: str, records: Iterable[BaseModel]) -> int:
        lines = [r.model_dump_json() + "\n" for r in records]
        if not lines:
            return 0
        if self._pending_resume is not None:
            self._write_manifest(self.manifest())
        try:
            with open(self.path(stage), "a", encoding="utf-8") as f:
                f.write("".join(lines))
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise self._unwritable(e) from None
        return len(lines)

    def map_resumable(
        self,
        stage: str,
        model: type[R],
        items: Sequence[T],
        item_key: Callable[[T], str],
        record_key: Callable[[R], str],
        fn: Callable[[int, list[T]], list[R]],
        chunk_size: int = 64,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[R]:
        """Apply `fn(chunk_index, chunk)` over fixed chunks of `items`, appending the records as it goes.

        Chunk boundaries depend only on `items` and `chunk_size`, so `fn` (seeded by the chunk) recomputes exactly
        what a killed run computed; a chunk is redone when any of its keys is missing, and only the missing
        records are appended. `fn` may return several records per item (e.g. n samples), all with that item's
        key. Returns every record for `items` in their order.
        """
        existing = self.read(stage, model)
        have = {record_key(r) for r in existing}
        for ci, start in enumerate(range(0, len(items), chunk_size)):
            chunk = list(items[start : start + chunk_size])
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


def config_difference(old_fingerprint: str | None, new_fingerprint: str, limit: int = 3) -> str:
    """'train.lr: 0.001 -> 0.0001, ...': the dotted keys whose values differ between two config fingerprints."""
    try:
        old, new = json.loads(old_fingerprint or "{}"), json.loads(new_fingerprint)
    except ValueError:
        return "its fingerprint is not readable"
    diffs: list[str] = []

    def walk(a: Any, b: Any, key: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{key}.{k}" if key else k)
        elif a != b:
            diffs.append(f"{key}: {json.dumps(a)} there, {json.dumps(b)} now")

    walk(old, new, "")
    if not diffs:
        return "same values, different fingerprint format"
    more = f", and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Stopwatch:
    def __enter__(self) -> "Stopwatch":
        self.t0 = time.perf_counter()
        self.s = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self.t0
