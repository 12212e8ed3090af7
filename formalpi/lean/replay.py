"""Replay of accepted proofs in a process the model's text never ran in (SafeVerify, pinned in lean_project/).

Why: the REPL check runs our `example` and `#print axioms` in the environment the proof built, so a proof that
slips one command past the pre-check can redefine the commands that judge it. Here, per proof:

1. the TARGET file (the trusted header + the trusted statement `:= sorry`, text we write) is compiled to .olean
   by `lean -o` (once per (header, statement) and runner; its bytes are kept in memory);
2. the SUBMISSION file (the trusted header + exactly the text the REPL accepted, without our checks) is compiled
   the same way, in its own process and directory;
3. the target's bytes are written beside the submission's .olean (after that compile ended and its process
   group was killed, so code the proof ran at compile time cannot swap the trusted file), and
   `safe_verify TARGET.olean SUBMISSION.olean` reads both files as data (`readModuleData`: nothing of the
   submission is elaborated or run), replays every submission declaration through the kernel
   (`Environment.replay`), checks that each target theorem exists in the submission with the same name, kind and
   type (`Expr` equality), and that every submission theorem/def uses only propext, Quot.sound and
   Classical.choice (`CollectAxioms.collect`); it refuses `unsafe` constants.

Outcomes: PASSED (exit 0 and "Finished."); FINDING (the submission does not compile in a fresh process, the
kernel rejects one of its declarations, a type differs from the trusted statement's, a non-standard axiom, an
unsafe constant) -> REJECTED upstream; TOOL_FAILURE
(missing binary, timeout, memory bound, nonzero exit with no finding, our target not compiling) -> CRASH.
Each process gets a wall-clock and a process-tree RSS bound, and at most `max_output_bytes` of its output is
read. The output format parsed here is SafeVerify's Main.lean at the pinned commit (a271595): stdout "Replaying
FILE" / "Finished replay. Found N declarations." / "Finished."; stderr "Found a problem in FILE with declaration
NAME: WHAT" and Lean's "uncaught exception: MSG" for a thrown IO error (exit 1).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import psutil

from formalpi.errors import ConfigError
from formalpi.lean.repl import rss_mb
from formalpi.lean.setup import SAFE_VERIFY_BINARY
from formalpi.lean.verdict import PreparedProof, StatementError, parse_statement

DEFAULT_COMPILE_COMMAND = ("lake", "env", "lean")  # + ["-o", OLEAN, SOURCE]
DEFAULT_REPLAY_COMMAND = ("lake", "env", str(SAFE_VERIFY_BINARY))  # + [TARGET_OLEAN, SUBMISSION_OLEAN]
STANDIN = (sys.executable, "-m", "formalpi.lean.replay_double")


def standin_commands() -> dict[str, list[str]]:
    """LeanConfig keyword arguments that run the scripted stand-in (formalpi/lean/replay_double.py) instead of
    `lake env lean` and SafeVerify: for tests and benchmarks on machines without Lean."""
    return {"replay_compile_command": [*STANDIN, "lean"], "replay_command": [*STANDIN, "safe_verify"]}


REPLAY_MODES = ("safeverify", "standin", "off")
REPLAY_OFF_NOTE = (
    "LEAN REPLAY OFF (LeanConfig.replay = false): VALID verdicts were not replayed through the "
    "kernel in a fresh process; they rest on the pre-check and on checks run in the proof's own "
    "environment"
)


def replay_mode_kwargs(mode: str) -> dict:
    """LeanConfig keyword arguments for a command line's `--replay MODE`."""
    if mode == "safeverify":
        return {}
    if mode == "standin":
        return standin_commands()
    if mode == "off":
        return {"replay": False}
    raise ConfigError(f"--replay {mode!r}: must be one of {', '.join(REPLAY_MODES)}")


@dataclass(frozen=True)
class ReplayRequest:
    header: str  # the trusted header (imports, options, opens), written first in both files
    statement: str | None  # the trusted statement; None: only the kernel replay and the axiom check (pool.check)
    name: str  # the constant the submission must define with the statement's type
    submission: str  # the Lean text the REPL accepted, after the header, without the verifier's checks


class ReplayOutcome(str, Enum):
    PASSED = "passed"
    FINDING = "finding"  # the proof is not what it claims: REJECTED
    TOOL_FAILURE = "tool failure"  # the replay could not say: CRASH


@dataclass(frozen=True)
class ReplayResult:
    outcome: ReplayOutcome
    reason: str  # one line: the tool's finding or why it failed; "" when passed
    stage: str  # "target", "submission", "safe_verify"
    time_s: float


@dataclass(frozen=True)
class ReplaySettings:
    project_dir: Path
    compile_command: Sequence[str] = DEFAULT_COMPILE_COMMAND
    replay_command: Sequence[str] = DEFAULT_REPLAY_COMMAND
    timeout_s: float = 300.0  # per process (`import Mathlib` alone takes seconds in each of the three)
    memory_limit_mb: float = 16_000.0  # RSS of each process tree
    workers: int = 2  # proofs replayed at once
    max_output_bytes: int = 256 * 1024


def request_for(prep: PreparedProof, header: str, statement: str | None) -> ReplayRequest:
    """The replay of what the REPL accepted: the command's lines before the verifier's own checks."""
    lines = prep.cmd.split("\n")
    proof = "\n".join(lines[: prep.check_line - 1]) if prep.check_line else prep.cmd
    return ReplayRequest(header=header, statement=statement, name=prep.name, submission=proof.rstrip() + "\n")


def target_source(req: ReplayRequest) -> str:
    """The trusted target file: the header and the trusted statement with `sorry` (an anonymous `example` gets
    the name the verifier gave it, as in verdict.prepare). StatementError if the statement cannot be read."""
    text = req.header.rstrip() + "\n\n"
    if req.statement is None:
        return text
    st = parse_statement(req.statement)
    head = st.head
    if st.name is None:
        head = re.sub(r"\bexample\b", f"theorem {req.name}", head, count=1)
    elif st.name != req.name:
        raise StatementError(f"the trusted statement declares {st.name}, the proof was checked as {req.name}")
    return text + head + " := sorry\n"


def submission_source(req: ReplayRequest) -> str:
    return req.header.rstrip() + "\n\n" + req.submission


# ---- bounded processes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ran:
    code: int | None  # None: killed by us (see `why`) or never started
    out: str
    err: str
    why: str = ""


def _tail(path: Path, limit: int) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - limit))
        return f.read().decode("utf-8", "replace")


def _tree_rss_mb(proc: psutil.Process) -> float:
    try:
        return rss_mb([proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0.0


def run_bounded(
    argv: Sequence[str], cwd: Path, workdir: Path, timeout_s: float, memory_limit_mb: float, max_output_bytes: int
) -> _Ran:
    """Run argv in its own process group with stdout/stderr in files; kill the group past the bounds."""
    out_path, err_path = workdir / f"out.{threading.get_ident()}", workdir / f"err.{threading.get_ident()}"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        try:
            proc = subprocess.Popen(
                list(argv), cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
            )
        except OSError as e:
            return _Ran(
                None,
                "",
                "",
                f"cannot start `{argv[0]}`: {e.strerror or e} (`formalpi lean setup` builds "
                "SafeVerify; `formalpi lean doctor` checks it)",
            )
        why = ""
        deadline = time.monotonic() + timeout_s
        ps = psutil.Process(proc.pid)
        step = 0.005
        while proc.poll() is None:
            if time.monotonic() > deadline:
                why = f"timed out after {timeout_s:g}s"
            elif _tree_rss_mb(ps) > memory_limit_mb:
                why = f"its processes passed {memory_limit_mb:g} MB of memory"
            if why:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
                break
            time.sleep(step)
            step = min(step * 2, 0.2)
        try:  # whatever it left running in its group (a compile-time daemon) goes with it
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    ran = _Ran(
        None if why else proc.returncode, _tail(out_path, max_output_bytes), _tail(err_path, max_output_bytes), why
    )
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    return ran


# ---- reading SafeVerify's output ----------------------------------------------------------------------------

_PROBLEM = re.compile(r"^Found a problem in .* with declaration (?P<name>\S+): (?P<what>.+)$", re.M)
_UNCAUGHT = re.compile(r"^uncaught exception: (?P<msg>.*)", re.M | re.S)
_AXIOMS = re.compile(r"^(?P<name>\S+) used disallowed axioms\. (?P<list>.*)$", re.S)
_LEAN_ERROR = re.compile(r"^\S*:\d+:\d+: error: (?P<msg>.*)$", re.M)


def _first_line(text: str, limit: int = 300) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line[:limit]


def read_safe_verify(ran: _Ran, target: Path, submission: Path) -> tuple[ReplayOutcome, str]:
    """Classify one SafeVerify run (format of its Main.lean at the pinned commit, see the module docstring)."""
    if ran.code is None:
        return ReplayOutcome.TOOL_FAILURE, ran.why
    lines = [ln.strip() for ln in ran.out.splitlines()]
    if ran.code == 0:
        if lines and lines[-1] == "Finished.":
            return ReplayOutcome.PASSED, ""
        return ReplayOutcome.TOOL_FAILURE, "safe_verify exited 0 without its closing 'Finished.' line"
    problems = _PROBLEM.findall(ran.err)
    if problems:
        return ReplayOutcome.FINDING, "; ".join(f"{n}: {w}" for n, w in problems[:5])
    m = _UNCAUGHT.search(ran.err)
    msg = m.group("msg").strip() if m else ""
    ax = _AXIOMS.match(msg)
    if ax:
        return ReplayOutcome.FINDING, f"{ax.group('name')} uses disallowed axioms {_first_line(ax.group('list'))}"
    replaying = [ln.removeprefix("Replaying ") for ln in lines if ln.startswith("Replaying ")]
    in_submission = (
        bool(replaying) and replaying[-1] == str(submission) and not (lines and lines[-1].startswith("Finished replay"))
    )
    if in_submission and re.match(r"\(kernel\)|unsafe constant|partial constant", msg):
        return ReplayOutcome.FINDING, f"the kernel replay of the submission failed: {_first_line(msg)}"
    where = "the trusted target" if replaying and replaying[-1] == str(target) else "the tool"
    detail = _first_line(msg) or _first_line(ran.err) or _first_line(ran.out) or "no output"
    return ReplayOutcome.TOOL_FAILURE, f"safe_verify exited {ran.code} in {where} without a finding: {detail}"


# ---- the runner ---------------------------------------------------------------------------------------------


@dataclass
class _TargetEntry:
    """One trusted target's compile, shared by every request for it: waiters block on `done`."""

    done: threading.Event = field(default_factory=threading.Event)
    olean: bytes | None = None
    why: str = "the trusted target's compile raised"


class Replayer:
    """Replays batches of accepted proofs; compiled targets are shared within the runner's lifetime."""

    def __init__(self, settings: ReplaySettings) -> None:
        self.settings = settings
        self._dir = Path(tempfile.mkdtemp(prefix="formalpi-replay-"))
        self._lock = threading.Lock()
        self._targets: dict[str, _TargetEntry] = {}
        self._ids = iter(range(10**12))

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def _run(self, argv: Sequence[str], workdir: Path) -> _Ran:
        s = self.settings
        return run_bounded(argv, s.project_dir, workdir, s.timeout_s, s.memory_limit_mb, s.max_output_bytes)

    def _compile(self, source: str, where: Path) -> tuple[Path | None, _Ran]:
        where.mkdir(parents=True, exist_ok=True)
        src, olean = where / "Replay.lean", where / "Replay.olean"
        src.write_text(source, encoding="utf-8")
        ran = self._run([*self.settings.compile_command, "-o", str(olean), str(src)], where)
        return (olean if ran.code == 0 and olean.is_file() else None), ran

    def _target(self, source: str) -> tuple[bytes | None, str]:
        """(the compiled target's bytes, why not) for a target source, compiled once per runner. The bytes are
        kept in memory and written next to each submission only after it compiled, so code a submission runs at
        compile time cannot swap the trusted target."""
        key = hashlib.sha256(source.encode("utf-8")).hexdigest()
        with self._lock:
            found = self._targets.get(key)
            mine = found is None
            if found is None:
                entry = self._targets[key] = _TargetEntry()
            else:
                entry = found
        if not mine:
            entry.done.wait()
            return entry.olean, entry.why
        where = self._dir / f"target-{key[:16]}"
        try:
            olean, ran = self._compile(source, where)
            entry.why = (
                ""
                if olean
                else (
                    "the trusted target did not compile ("
                    + (
                        ran.why
                        or _first_line("\n".join(_LEAN_ERROR.findall(ran.out)) or ran.err or ran.out)
                        or f"exit {ran.code}"
                    )
                    + ")"
                )
            )
            entry.olean = olean.read_bytes() if olean else None
        finally:  # waiters are released whatever happened; a failure is not kept (the next request retries)
            shutil.rmtree(where, ignore_errors=True)
            if entry.olean is None:
                with self._lock:
                    self._targets.pop(key, None)
            entry.done.set()
        return entry.olean, entry.why

    def replay(self, req: ReplayRequest) -> ReplayResult:
        t0 = time.monotonic()

        def done(outcome: ReplayOutcome, reason: str, stage: str) -> ReplayResult:
            return ReplayResult(outcome, reason, stage, time.monotonic() - t0)

        try:
            target_text = target_source(req)
        except StatementError as e:
            return done(ReplayOutcome.TOOL_FAILURE, f"trusted statement: {e}", "target")
        target_bytes, why = self._target(target_text)
        if target_bytes is None:
            return done(ReplayOutcome.TOOL_FAILURE, why, "target")
        with self._lock:
            n = next(self._ids)
        where = self._dir / f"submission-{n}"
        try:
            sub, ran = self._compile(submission_source(req), where)
            if sub is None:
                lean_error = _LEAN_ERROR.search(ran.out)
                if ran.code is not None and ran.code != 0 and lean_error:
                    return done(
                        ReplayOutcome.FINDING,
                        "the accepted proof does not compile in a fresh `lean` "
                        f"process: {_first_line(lean_error.group('msg'))}",
                        "submission",
                    )
                return done(
                    ReplayOutcome.TOOL_FAILURE,
                    "compiling the submission failed without a Lean error ("
                    f"{ran.why or _first_line(ran.err) or f'exit {ran.code}'})",
                    "submission",
                )
            target = where / "Target.olean"
            target.write_bytes(target_bytes)  # after the submission's compile ended (its process group killed)
            ran = self._run([*self.settings.replay_command, str(target), str(sub)], where)
            outcome, reason = read_safe_verify(ran, target, sub)
            return done(outcome, reason, "safe_verify")
        finally:
            shutil.rmtree(where, ignore_errors=True)

    def replay_many(self, reqs: Sequence[ReplayRequest]) -> list[ReplayResult]:
        if not reqs:
            return []
        with ThreadPoolExecutor(max_workers=min(len(reqs), self.settings.workers)) as ex:
            return list(ex.map(self.replay, reqs))
