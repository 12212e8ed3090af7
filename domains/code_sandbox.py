"""Run untrusted Python programs, one process and session each, under limits; batches in parallel.

Layers, from strongest to weakest (each run records which ones it actually got):
- a uid of its own (root only): the candidate runs as a uid no other process uses, leased through a lock file,
  so RLIMIT_NPROC (which counts per uid) caps *its* processes, it cannot signal the parent or read its
  /proc/*/environ, cannot write where root's files are, and every straggler — even one that escaped the session
  with `setsid` — is found and killed by uid afterwards;
- a new, empty network namespace (`unshare -n`, probed once; `network_isolated` says whether it was had);
- rlimits on address space, CPU time, processes, file size, open files, no core dumps;
- a new session, the whole process group killed on timeout; an empty environment, stdin from /dev/null,
  a fresh temporary working directory removed afterwards (and, with a uid of its own, whatever it left in
  /tmp, /var/tmp, /dev/shm); stdout/stderr captured and capped (head and tail);
- the reference harness's `reliability_guard` (optional, on by default) as an extra layer only.
"""

from __future__ import annotations

import fcntl
import functools
import math
import os
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

from domains.code_launcher import EXIT_LAUNCHER, EXIT_MEMORY, format_args

LAUNCHER = Path(__file__).with_name("code_launcher.py")
UID_BASE = 1_990_000  # sandbox uids: far above any uid a system hands out; leased one per concurrent run
UID_SLOTS = 256
LOCK_DIR = Path(tempfile.gettempdir()) / "formalpi-sandbox-uids"


class RunStatus(str, Enum):
    PASSED = "passed"  # exited 0
    FAILED = "failed"  # exited non-zero (an uncaught exception, e.g. a failed assert)
    TIMEOUT = "timeout"  # wall-clock limit (we killed it) or CPU-time limit (SIGXCPU)
    MEMORY = "memory"  # address-space limit: MemoryError
    CRASH = "crash"  # died by a signal (segfault, abort, file-size limit) or the sandbox could not start
    KILLED = "killed"  # died by SIGKILL that was not our timeout (killed itself, OOM killer)


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 1024
    max_procs: int = 32  # per-run processes (with a uid of its own); small so a fork bomb stays small
    file_mb: int = 16
    max_files: int = 256
    output_bytes: int = 64 * 1024  # per stream, kept as head + tail
    guard: bool = True  # the reference harness's reliability_guard, as an extra layer


@dataclass
class RunResult:
    status: RunStatus
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    truncated: bool = False  # some output was dropped by the cap
    network_isolated: bool = False
    uid_isolated: bool = False
    stragglers_killed: int = 0  # processes of the run still alive after it ended (daemons, setsid escapes)
    flags: dict[str, object] = field(default_factory=dict)  # the isolation flags and the interpreter used

    @property
    def passed(self) -> bool:
        return self.status is RunStatus.PASSED


def _is_root() -> bool:
    return os.geteuid() == 0


def _world_readable(path: Path) -> bool:
    """Can a uid that is neither owner nor group read `path` (every ancestor searchable, the file readable)?"""
    path = path.resolve()
    if not path.exists() or not path.stat().st_mode & 0o004:
        return False
    return all(p.stat().st_mode & 0o001 for p in path.parents)


@functools.lru_cache(maxsize=1)
def network_namespace_prefix() -> list[str]:
    """`["unshare", "-n"]` when this machine lets us give each candidate an empty network namespace, else [].

    Probed once by running it: needs root (or user namespaces) and a kernel with network namespaces; without
    it every run records network_isolated=False. (bubblewrap would be an alternative; it is not needed here.)
    """
    exe = shutil.which("unshare") or ("/usr/bin/unshare" if Path("/usr/bin/unshare").exists() else None)
    if exe is None:
        return []
    try:
        ok = subprocess.run([exe, "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return [exe, "-n"] if ok else []


@functools.lru_cache(maxsize=1)
def sandbox_python() -> tuple[str, bool]:
    """The interpreter for candidates, and whether a sandbox uid can use it.

    Why not always sys.executable: a dropped uid must read the interpreter's stdlib, and a Python installed
    under a private home (e.g. pyenv in /root, mode 700) is unreadable to it. Candidates need only the stdlib,
    so a world-readable system Python serves. None found: run without a uid of its own (recorded per run).
    """
    seen: list[str] = []
    for exe in (sys.executable, shutil.which("python3"), "/usr/bin/python3", "/usr/local/bin/python3"):
        if not exe or exe in seen or not Path(exe).exists():
            continue
        seen.append(exe)
        try:
            stdlib = subprocess.run([exe, "-I", "-S", "-c", "import os; print(os.__file__)"], capture_output=True,
                                    text=True, timeout=10, env={}).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if stdlib and _world_readable(Path(exe)) and _world_readable(Path(stdlib)):
            return exe, True
    return sys.executable, False


class _UidLease:
    """A sandbox uid held through an exclusive flock, so concurrent runs (threads or processes) never share one."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.uid: int | None = None
        self._fd: int | None = None

    def __enter__(self) -> "_UidLease":
        if not (self.enabled and _is_root()):
            return self
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        start = (os.getpid() * 7 + threading.get_ident()) % UID_SLOTS
        for k in range(UID_SLOTS):
            slot = (start + k) % UID_SLOTS
            fd = os.open(LOCK_DIR / f"{slot}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = UID_BASE + slot, fd
            return self
        raise RuntimeError(f"sandbox: all {UID_SLOTS} sandbox uids are busy (lower the worker count)")

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock


def _kill_uid(uid: int) -> int:
    """Kill every process running as `uid`: the stragglers of a run, wherever they moved (setsid, double fork)."""
    killed: set[int] = set()
    quiet = 0
    for _ in range(100):  # a fork bomb may still be forking between scans: repeat until none is left
        # zombies are dead already (their reaper, not us, collects them): waiting on them would stall
        procs = [p for p in psutil.process_iter(["uids", "status"]) if p.info["uids"]
                 and p.info["uids"].real == uid and p.info["status"] != psutil.STATUS_ZOMBIE]
        if not procs:
            # a process caught mid-fork can be unreadable for one scan: stop only after two empty scans
            quiet += 1
            if quiet == 2:
                break
            time.sleep(0.005)
            continue
        quiet = 0
        for p in procs:
            try:
                p.send_signal(signal.SIGKILL)
                killed.add(p.pid)
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.01)
    return len(killed)


SHARED_TMP_DIRS = (Path(tempfile.gettempdir()), Path("/var/tmp"), Path("/dev/shm"))


def _remove_uid_files(uid: int) -> int:
    """Remove what the run left in the world-writable temp dirs (the only places outside its workdir it can
    write, with a uid of its own): entries there owned by its uid."""
    n = 0
    for d in SHARED_TMP_DIRS:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                if e.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path, ignore_errors=True)
                else:
                    os.unlink(e.path)
                n += 1
            except OSError:
                pass
    return n


def _kill_session(proc: subprocess.Popen) -> int:
    """Without a uid of its own: kill the process group and whatever is left of the session (best effort)."""
    n = 0
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        n += 1
    except ProcessLookupError:
        pass
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == proc.pid:
                p.send_signal(signal.SIGKILL)
                n += 1
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            pass
    return n


class _CappedReader(threading.Thread):
    """Drain one pipe to EOF, keeping the first and last `cap/2` bytes: the program never blocks on output."""

    def __init__(self, stream, cap: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.half = stream, max(cap // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def run(self) -> None:
        while chunk := self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536):
            room = self.half - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                if len(self.tail) > self.half:
                    self.dropped += len(self.tail) - self.half
                    del self.tail[: len(self.tail) - self.half]
        self.stream.close()

    def text(self) -> str:
        mid = f"\n...[{self.dropped} bytes dropped]...\n".encode() if self.dropped else b""
        return bytes(self.head + mid + self.tail).decode("utf-8", errors="replace")


def run(program: str, timeout_s: float = 10.0, memory_mb: int = 1024, *, limits: Limits | None = None,
        isolate_network: bool = True) -> RunResult:
    """Run `program` (Python source) in its own sandboxed process; `limits` overrides timeout_s / memory_mb."""
    lim = limits or Limits(timeout_s=timeout_s, memory_mb=memory_mb)
    outer = Path(tempfile.mkdtemp(prefix="formalpi-sbx-"))  # root's: program.py; the candidate's: work/
    try:
        python, uid_ok = sandbox_python()
        with _UidLease(enabled=uid_ok) as lease:
            return _run_in(outer, program, lim, lease.uid, isolate_network, python)
    finally:
        shutil.rmtree(outer, ignore_errors=True)


def _run_in(outer: Path, program: str, lim: Limits, uid: int | None, isolate_network: bool,
            python: str) -> RunResult:
    work = outer / "work"
    work.mkdir(mode=0o700)
    prog = outer / "program.py"
    prog.write_text(program)
    if uid is not None:
        os.chmod(outer, 0o711)  # the candidate may traverse to work/ and read program.py, nothing else
        os.chmod(prog, 0o644)
        os.chown(work, uid, uid)
    cfg = {"memory_mb": lim.memory_mb, "cpu_s": int(math.ceil(lim.timeout_s)) + 1, "file_mb": lim.file_mb,
           "max_files": lim.max_files, "max_procs": lim.max_procs, "uid": uid, "guard": lim.guard,
           "workdir": str(work), "program": str(prog)}
    netns = network_namespace_prefix() if isolate_network else []
    t0 = time.monotonic()
    proc = subprocess.Popen([*netns, python, "-I", "-S", str(LAUNCHER), *format_args(cfg)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={}, cwd=str(work),
                            start_new_session=True, close_fds=True)
    out, err = _CappedReader(proc.stdout, lim.output_bytes), _CappedReader(proc.stderr, lim.output_bytes)
    out.start()
    err.start()
    # a timer kills on timeout while this thread blocks in waitpid: Popen.wait(timeout=) polls with sleeps,
    # which cost ~50 ms per candidate
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        _kill_session(proc)

    timer = threading.Timer(lim.timeout_s, on_timeout)
    timer.start()
    try:
        rc = proc.wait()
    finally:
        timer.cancel()
    timed_out = timed_out.is_set()
    duration = time.monotonic() - t0
    # stragglers: daemons and setsid escapes still hold the pipes open; kill them so the readers see EOF
    stragglers = _kill_uid(uid) if uid is not None else _kill_session(proc)
    out.join(timeout=5)
    err.join(timeout=5)
    if out.is_alive() or err.is_alive():  # a straggler we could not find still holds a pipe
        stragglers += _kill_session(proc)
    left_files = _remove_uid_files(uid) if uid is not None else 0
    status = _status(rc, timed_out)
    flags = {"network_isolated": bool(netns), "uid_isolated": uid is not None and rc != EXIT_LAUNCHER,
             "python": python, "tmp_files_removed": left_files}
    return RunResult(
        status=status, returncode=rc, stdout=out.text(), stderr=err.text(), duration_s=duration,
        truncated=bool(out.dropped or err.dropped), network_isolated=bool(flags["network_isolated"]),
        uid_isolated=bool(flags["uid_isolated"]), stragglers_killed=stragglers, flags=flags)


def _status(rc: int, timed_out: bool) -> RunStatus:
    if timed_out or rc == -signal.SIGXCPU:
        return RunStatus.TIMEOUT
    if rc == 0:
        return RunStatus.PASSED
    if rc == EXIT_MEMORY:
        return RunStatus.MEMORY
    if rc == EXIT_LAUNCHER:
        return RunStatus.CRASH
    if rc == -signal.SIGKILL:
        return RunStatus.KILLED
    if rc < 0:
        return RunStatus.CRASH
    return RunStatus.FAILED


def run_many(programs: Sequence[str], timeout_s: float = 10.0, memory_mb: int = 1024, *, workers: int | None = None,
             limits: Limits | None = None, isolate_network: bool = True) -> list[RunResult]:
    """Run each program in its own sandbox, at most `workers` at a time (default: CPU count); results in order."""
    workers = max(1, workers or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: run(p, timeout_s, memory_mb, limits=limits, isolate_network=isolate_network),
                             programs))
