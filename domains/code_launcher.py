"""The sandbox launcher: runs ONE candidate program under limits, in the child process itself.

Started by `domains.code_sandbox` as `[unshare -n] python -I -S code_launcher.py ARGS...` in a new session, with
an empty environment and stdin from /dev/null. Why a launcher instead of `preexec_fn`: the parent runs batches
from worker threads, and `preexec_fn` is unsafe with threads around; here the limits are set by the child,
single-threaded, before any candidate code runs. Stdlib only (`-I` keeps the project off sys.path), and few
imports: the launcher's start-up is paid once per candidate (json, ctypes, runpy, subprocess cost ~25 ms here).

Order matters: rlimits need root for RLIMIT_NPROC of another uid, so they come before dropping to the sandbox
uid. The network namespace is made by `unshare -n` before this runs (the parent probes that it works).
"""

import os
import resource
import sys

EXIT_MEMORY = 113  # the candidate ran out of its address-space limit (MemoryError)
EXIT_LAUNCHER = 114  # the launcher itself could not set up the sandbox
ARGS = ("memory_mb", "cpu_s", "file_mb", "max_files", "max_procs", "uid", "guard", "workdir", "program")


def parse_args(argv: list[str]) -> dict:
    """Positional `name=value` pairs (ints, or "-" for None; workdir and program are paths)."""
    cfg = dict(a.split("=", 1) for a in argv)
    out = {}
    for k in ARGS:
        v = cfg[k]
        out[k] = v if k in ("workdir", "program") else (None if v == "-" else int(v))
    return out


def format_args(cfg: dict) -> list[str]:
    return [f"{k}={'-' if cfg[k] is None else (int(cfg[k]) if isinstance(cfg[k], bool) else cfg[k])}"
            for k in ARGS]


def _set_limits(cfg: dict) -> None:
    mb = 1024 * 1024
    limits = {
        resource.RLIMIT_AS: cfg["memory_mb"] * mb,
        resource.RLIMIT_CPU: (cfg["cpu_s"], cfg["cpu_s"] + 1),  # SIGXCPU at the soft limit
        resource.RLIMIT_FSIZE: cfg["file_mb"] * mb,
        resource.RLIMIT_NOFILE: cfg["max_files"],
        resource.RLIMIT_CORE: 0,
    }
    # RLIMIT_NPROC counts every process of the (real) uid: only meaningful for a uid of our own
    if cfg["uid"] is not None:
        limits[resource.RLIMIT_NPROC] = cfg["max_procs"]
    for which, value in limits.items():
        resource.setrlimit(which, value if isinstance(value, tuple) else (value, value))


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def reliability_guard() -> None:
    """The reference harness's extra layer (openai/human-eval `reliability_guard`): disable destructive calls.

    Not a security boundary (a program can restore them); the rlimits, uid and namespace are. One difference:
    `subprocess` is blocked from import (the reference imports it to null `Popen`; importing costs ~5 ms).
    """
    import builtins

    builtins.exit = None
    builtins.quit = None
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
                 "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown",
                 "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir", "setsid"):
        if hasattr(os, name):
            setattr(os, name, None)
    builtins.help = None
    for mod in ("ipdb", "joblib", "resource", "psutil", "tkinter", "subprocess"):
        sys.modules[mod] = None


def main() -> None:
    exit_now = os._exit  # kept before the guard can remove anything
    try:
        cfg = parse_args(sys.argv[1:])
        _set_limits(cfg)
        if cfg["uid"] is not None:
            _drop_privileges(cfg["uid"])
        os.chdir(cfg["workdir"])
        os.umask(0o077)
        with open(cfg["program"], "rb") as f:
            source = f.read()
    except Exception as e:  # noqa: BLE001 - anything here is a sandbox set-up failure, reported as such
        sys.stderr.write(f"sandbox launcher: set-up failed: {type(e).__name__}: {e}\n")
        exit_now(EXIT_LAUNCHER)
    if cfg["guard"]:
        reliability_guard()
    sys.argv = [cfg["program"]]
    sys.path.insert(0, cfg["workdir"])
    main = type(sys)("__main__")  # a fresh __main__ module, as runpy gives (pickle, `if __name__` work)
    main.__file__ = cfg["program"]
    sys.modules["__main__"] = main
    main_globals = main.__dict__
    try:
        # what runpy.run_path does for a plain file, without importing runpy/pkgutil
        exec(compile(source, cfg["program"], "exec"), main_globals)
    except MemoryError:
        sys.stderr.write("MemoryError\n")
        sys.stderr.flush()
        exit_now(EXIT_MEMORY)


if __name__ == "__main__":
    main()
