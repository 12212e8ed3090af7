"""Sandbox uids leased one per live sandbox (an exclusive flock per uid, across threads and processes), and the
cgroup (v2 where delegated, else v1 memory + pids) that caps a whole sandbox."""

import fcntl
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

from formalpi.errors import SandboxError

UID_BASE = 1_990_000  # sandbox uids: far above any uid a system hands out; leased one per live sandbox
UID_SLOTS = 256
LOCK_DIR = Path(tempfile.gettempdir()) / "formalpi-sandbox-uids"


class UidLease:
    """A sandbox uid held through an exclusive flock, so live sandboxes (threads or processes) never share one."""

    def __init__(self) -> None:
        self.uid: int | None = None
        self._fd: int | None = None

    def acquire(self) -> int:
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
            return self.uid
        raise SandboxError(f"all {UID_SLOTS} sandbox uids are busy (lower the worker count)")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _uid_processes(uid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    out.append(int(name))
            except OSError:
                pass
    return out


def wait_uid_gone(uid: int, timeout_s: float = 10.0) -> None:
    """Before a sandbox uid is released: no process of it may remain (else kill what does, by pid)."""
    deadline = time.monotonic() + timeout_s
    while _uid_processes(uid) and time.monotonic() < deadline:
        time.sleep(0.01)
    for pid in _uid_processes(uid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def uid_is_leased(uid: int) -> bool:
    """Does a live sandbox (of any process on this machine) hold sandbox uid `uid` now? A process or file of a
    sandbox uid that is not leased is a leftover."""
    try:
        fd = os.open(LOCK_DIR / f"{uid - UID_BASE}.lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


class Cgroup:
    """One cgroup (v2, or v1 memory + pids) for a whole sandbox: memory (no swap) and process caps."""

    def __init__(self, layout: str, name: str, memory_bytes: int, max_pids: int) -> None:
        self.layout = layout
        root = Path("/sys/fs/cgroup")
        if layout == "v2":
            base = root / "formalpi"
            base.mkdir(exist_ok=True)
            (root / "cgroup.subtree_control").write_text("+memory +pids")
            (base / "cgroup.subtree_control").write_text("+memory +pids")
            self.dirs = [base / name]
            self.dirs[0].mkdir()
            (self.dirs[0] / "memory.max").write_text(str(memory_bytes))
            if (self.dirs[0] / "memory.swap.max").exists():
                (self.dirs[0] / "memory.swap.max").write_text("0")
            (self.dirs[0] / "pids.max").write_text(str(max_pids))
        else:
            self.dirs = [root / "memory" / "formalpi" / name, root / "pids" / "formalpi" / name]
            for d in self.dirs:
                d.mkdir(parents=True)
            mem = self.dirs[0]
            (mem / "memory.limit_in_bytes").write_text(str(memory_bytes))
            if (mem / "memory.memsw.limit_in_bytes").exists():
                (mem / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            (self.dirs[1] / "pids.max").write_text(str(max_pids))

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def oom_kills(self) -> int:
        """How many times the memory cap was hit (v1 failcnt / v2 oom_kill events)."""
        try:
            if self.layout == "v2":
                for line in (self.dirs[0] / "memory.events").read_text().splitlines():
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
                return 0
            return int((self.dirs[0] / "memory.failcnt").read_text())
        except (OSError, ValueError):
            return 0

    def remove(self) -> None:
        for d in self.dirs:
            _rmdir_when_empty(d)


def remove_cgroups_of(pid: int) -> None:
    """Remove the (empty) cgroups a killed process's sandboxes left (named sbx-<pid>-...)."""
    for d in list(Path("/sys/fs/cgroup").glob(f"formalpi/sbx-{pid}-*")) + list(
        Path("/sys/fs/cgroup").glob(f"*/formalpi/sbx-{pid}-*")
    ):
        _rmdir_when_empty(d)


def _rmdir_when_empty(d: Path) -> None:
    """rmdir a cgroup, retrying for up to a second while the kernel still counts its exiting processes."""
    for _ in range(100):
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)
