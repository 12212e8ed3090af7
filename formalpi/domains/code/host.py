"""What this machine allows a sandbox: the interpreter's files (binary, linked libraries, stdlib), bubblewrap, the
cgroup layout, and which isolation layers are required (`REQUIRED`, `weak_reasons`). Probed once per process."""

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path


def _ldd(paths: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for p in paths:
        try:
            text = subprocess.run(["ldd", p], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in text.splitlines():
            parts = line.split()
            for tok in parts:
                if tok.startswith("/") and os.path.exists(tok):
                    out.add(tok)
    return out


NOT_NEEDED_EXTENSIONS = ("_tkinter",)  # GUI: would pull X11, Tcl/Tk and font libraries into the sandbox


def _without_symlinks(path: str, links: dict[str, str], depth: int = 0) -> str:
    """`path` with every symlinked component resolved; each symlink met is recorded in `links` (path -> target)."""
    if depth > 40:
        raise OSError(f"{path}: too many levels of symbolic links")
    cur = "/"
    for part in Path(path).parts[1:]:
        nxt = os.path.join(cur, part)
        if os.path.islink(nxt):
            target = os.readlink(nxt)
            links[nxt] = target
            nxt = _without_symlinks(os.path.normpath(os.path.join(os.path.dirname(nxt), target)), links, depth + 1)
        cur = nxt
    return cur


@functools.lru_cache(maxsize=1)
def interpreter_files() -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(python, real paths to bind read-only, symlinks to recreate, site-packages dirs to mask): the interpreter
    this process runs on (so the trusted side and the candidate agree on e.g. `sys.getsizeof`), its stdlib, and
    every shared library it and its stdlib extension modules link (from `ldd`), nothing else."""
    python = os.path.realpath(sys.executable)
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    dynload = os.path.join(stdlib, "lib-dynload")
    exts = (
        [str(p) for p in Path(dynload).glob("*.so") if not p.name.startswith(NOT_NEEDED_EXTENSIONS)]
        if os.path.isdir(dynload)
        else []
    )
    links: dict[str, str] = {}
    real = {_without_symlinks(p, links) for p in (python, stdlib, *_ldd([python, *exts]))}
    binds = sorted(b for b in real if not any(b != o and b.startswith(o.rstrip("/") + "/") for o in real))
    inside = [lk for lk in links if any(lk.startswith(b.rstrip("/") + "/") for b in binds)]
    symlinks = tuple(sorted((lk, t) for lk, t in links.items() if lk not in inside))
    masks = tuple(str(p) for p in (Path(stdlib) / "site-packages", Path(stdlib) / "dist-packages") if p.is_dir())
    return python, tuple(binds), symlinks, masks


@functools.lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    return shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.access(p, os.X_OK)), None
    )


def cgroup_layout() -> str | None:
    """'v2' (a unified hierarchy where we may make a child with memory+pids), 'v1' (memory and pids hierarchies
    we may write), or None."""
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():
        ctrl = (root / "cgroup.controllers").read_text().split()
        if {"memory", "pids"} <= set(ctrl) and os.access(root, os.W_OK):
            return "v2"
        return None
    if all(os.access(root / c, os.W_OK) for c in ("memory", "pids")):
        return "v1"
    return None


REQUIRED = {
    "mount_ns": "a mount namespace with only the interpreter, read-only",
    "pid_ns": "a PID namespace (every descendant dies with it)",
    "ipc_ns": "an IPC namespace",
    "uts_ns": "a UTS namespace",
    "net_ns": "an empty network namespace",
    "fresh_tmpfs_ipc": "a fresh private tmpfs /tmp and /dev/shm and IPC namespace per candidate",
    "uid": "a uid of its own per sandbox, without capabilities (needs root)",
    "seccomp_allowlist": "the seccomp syscall allowlist, x86_64 ABI only (libseccomp + pyseccomp)",
}


def weak_reasons(got: dict[str, object]) -> list[str]:
    """What is missing from `got` (a Sandbox's layers) for full isolation, in words. Without a cgroup the
    sandbox is still full where it has a uid of its own: RLIMIT_NPROC on that uid caps its processes, RLIMIT_AS
    each process's memory and the tmpfs size caps its files (`layers()["limits_instead"]` says so)."""
    out = [what for key, what in REQUIRED.items() if not got.get(key)]
    if not got.get("cgroup") and not got.get("uid"):
        out.append("a cgroup memory+pids cap for the whole sandbox, or a uid of its own for RLIMIT_NPROC")
    return out
