"""The sandbox launcher: runs ONE candidate program under limits, in the child process itself.

Started by `domains.code_sandbox` as `python -I -S code_launcher.py CONFIG_JSON` in a new session, with an empty
environment and stdin from /dev/null. Why a launcher instead of `preexec_fn`: the parent runs batches from worker
threads, and `preexec_fn` is unsafe with threads around; here the limits are set by the child, single-threaded,
before any candidate code runs. Stdlib only (`-I` keeps the project off sys.path).

Order matters: rlimits and namespaces need root, so they come before dropping to the sandbox uid; the report of
what could be isolated is written while still privileged, to a file the candidate cannot write.
"""

import ctypes
import json
import os
import resource
import runpy
import sys

EXIT_MEMORY = 113  # the candidate ran out of its address-space limit (MemoryError)
EXIT_LAUNCHER = 114  # the launcher itself could not set up the sandbox
CLONE_NEWNET = 0x40000000


def _unshare_network() -> bool:
    """A fresh, empty network namespace (only loopback, down): no connection can leave the sandbox."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(CLONE_NEWNET) == 0
    except (OSError, AttributeError):
        return False


def _set_limits(cfg: dict) -> None:
    mb = 1024 * 1024
    limits = {
        resource.RLIMIT_AS: cfg["memory_mb"] * mb,
        resource.RLIMIT_CPU: (cfg["cpu_s"], cfg["cpu_s"] + 1),  # SIGXCPU at the soft limit
        resource.RLIMIT_FSIZE: cfg["file_mb"] * mb,
        resource.RLIMIT_NOFILE: cfg["max_files"],
        resource.RLIMIT_CORE: 0,
    }
    for which, value in limits.items():
        resource.setrlimit(which, value if isinstance(value, tuple) else (value, value))


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def reliability_guard() -> None:
    """The reference harness's extra layer (openai/human-eval `reliability_guard`): disable destructive calls.

    Not a security boundary (a program can restore them); the rlimits, uid and namespace are.
    """
    import builtins
    import shutil
    import subprocess

    builtins.exit = None
    builtins.quit = None
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
                 "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown",
                 "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir", "setsid"):
        if hasattr(os, name):
            setattr(os, name, None)
    shutil.rmtree = None
    shutil.move = None
    shutil.chown = None
    subprocess.Popen = None
    builtins.help = None
    for mod in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[mod] = None


def main() -> None:
    cfg = json.loads(sys.argv[1])
    exit_now = os._exit  # kept before the guard can remove anything
    report = {"network_isolated": False, "uid_isolated": False}
    try:
        if cfg["isolate_network"]:
            report["network_isolated"] = _unshare_network()
        # RLIMIT_NPROC counts every process of the (real) uid: only meaningful for a uid of our own
        if cfg["uid"] is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (cfg["max_procs"], cfg["max_procs"]))
        _set_limits(cfg)
        report["uid_isolated"] = cfg["uid"] is not None  # true from here on: a failed drop exits below
        with open(cfg["report"], "w") as f:
            json.dump(report, f)
        if cfg["uid"] is not None:
            _drop_privileges(cfg["uid"])
        os.chdir(cfg["workdir"])
        os.umask(0o077)
    except Exception as e:  # noqa: BLE001 - anything here is a sandbox set-up failure, reported as such
        sys.stderr.write(f"sandbox launcher: set-up failed: {type(e).__name__}: {e}\n")
        exit_now(EXIT_LAUNCHER)
    if cfg["guard"]:
        reliability_guard()
    sys.argv = [cfg["program"]]
    sys.path.insert(0, cfg["workdir"])
    try:
        runpy.run_path(cfg["program"], run_name="__main__")
    except MemoryError:
        sys.stderr.write("MemoryError\n")
        sys.stderr.flush()
        exit_now(EXIT_MEMORY)


if __name__ == "__main__":
    main()
