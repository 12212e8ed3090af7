"""The candidate's syscall allowlist, built with libseccomp (the `pyseccomp` binding over the system
libseccomp.so.2) on the trusted side and sent into the sandbox as a compiled BPF program.

Policy (docs/code-sandbox.md has it as a table, with the reasons):
- only the x86_64 ABI: a syscall of any other audit arch (the i386 `int 0x80` entry) or an x32 number
  (`__X32_SYSCALL_BIT`) kills the process (libseccomp's bad-arch action; its x86_64 filter sends x32 numbers there);
- ALLOW: what a HumanEval/MBPP program and the Python runtime under it use (memory, files in the sandbox's own
  read-only tree and tmpfs, time, signals, fork/threads, pipes and sockets of the empty network namespace,
  polling, SysV/POSIX IPC of the child's own IPC namespace), a few with their arguments checked (clone without
  namespace flags, socket of AF_UNIX/AF_INET/AF_INET6 only, personality queries only);
- DENY with EPERM, by name: what Docker's default profile and nsjail refuse and a frequent home of kernel bugs
  (keyrings, io_uring, userfaultfd, bpf, perf_event_open, namespaces, mounts, ptrace and cross-process memory,
  kernel modules, kexec, clocks, handles) — named so that a denial is deliberate and documented;
- anything else, and clone/socket/personality with other arguments (clone with a namespace flag: EPERM): ENOSYS (a syscall newer than this list looks absent, so the C library falls back: clone3 -> clone).
"""

from __future__ import annotations

import errno
import functools
import platform
import tempfile

LIBSECCOMP_MISSING = (
    "libseccomp is not usable here ({why}): install the system library (`apt-get install "
    "libseccomp2`, or scripts/install-system-deps.sh as root) and the `pyseccomp` package "
    "(pip install pyseccomp, listed in pyproject.toml)"
)

CLONE_NAMESPACES = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080
)  # NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET NEWTIME
AF_ALLOWED = (1, 2, 10)  # AF_UNIX, AF_INET, AF_INET6 (the network namespace is empty)
PERSONALITY_ALLOWED = (0x0, 0xFFFFFFFF)  # PER_LINUX, and the query; never READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE...

# (group, reason, syscalls): allowed unconditionally
ALLOW: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "memory",
        "the interpreter's heap, mmap'd extension modules, ctypes",
        ("brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "mincore", "msync", "membarrier"),
    ),
    (
        "files",
        "reads of the sandbox's read-only tree; writes to its own size-capped tmpfs",
        (
            "read",
            "write",
            "pread64",
            "pwrite64",
            "readv",
            "writev",
            "preadv",
            "pwritev",
            "preadv2",
            "pwritev2",
            "open",
            "openat",
            "openat2",
            "close",
            "close_range",
            "lseek",
            "stat",
            "fstat",
            "lstat",
            "newfstatat",
            "statx",
            "access",
            "faccessat",
            "faccessat2",
            "readlink",
            "readlinkat",
            "getdents",
            "getdents64",
            "getcwd",
            "chdir",
            "fchdir",
            "mkdir",
            "mkdirat",
            "rmdir",
            "unlink",
            "unlinkat",
            "rename",
            "renameat",
            "renameat2",
            "link",
            "linkat",
            "symlink",
            "symlinkat",
            "chmod",
            "fchmod",
            "fchmodat",
            "truncate",
            "ftruncate",
            "fsync",
            "fdatasync",
            "fallocate",
            "utimensat",
            "utime",
            "utimes",
            "futimesat",
            "umask",
            "statfs",
            "fstatfs",
            "flock",
            "fcntl",
            "dup",
            "dup2",
            "dup3",
            "pipe",
            "pipe2",
            "ioctl",
            "sendfile",
            "copy_file_range",
            "splice",
            "tee",
            "fadvise64",
            "memfd_create",
            "eventfd",
            "eventfd2",
            "getxattr",
            "lgetxattr",
            "fgetxattr",
            "listxattr",
            "llistxattr",
            "flistxattr",
        ),
    ),
    (
        "time",
        "clocks, sleeps and timers (reading only; setting a clock is denied)",
        (
            "clock_gettime",
            "clock_getres",
            "clock_nanosleep",
            "gettimeofday",
            "time",
            "nanosleep",
            "times",
            "getitimer",
            "setitimer",
            "alarm",
            "timer_create",
            "timer_settime",
            "timer_gettime",
            "timer_getoverrun",
            "timer_delete",
            "timerfd_create",
            "timerfd_settime",
            "timerfd_gettime",
        ),
    ),
    (
        "signals",
        "signal handling; kill reaches only the candidate's own PID namespace and uid",
        (
            "rt_sigaction",
            "rt_sigprocmask",
            "rt_sigreturn",
            "rt_sigpending",
            "rt_sigtimedwait",
            "rt_sigsuspend",
            "rt_sigqueueinfo",
            "rt_tgsigqueueinfo",
            "sigaltstack",
            "kill",
            "tgkill",
            "tkill",
            "pause",
            "signalfd",
            "signalfd4",
            "pidfd_open",
            "pidfd_send_signal",
        ),
    ),
    (
        "processes",
        "fork, threads, exec of the sandbox's interpreter, waiting, limits (lowering only: no caps)",
        (
            "fork",
            "vfork",
            "execve",
            "execveat",
            "wait4",
            "waitid",
            "exit",
            "exit_group",
            "getpid",
            "getppid",
            "gettid",
            "getpgrp",
            "getpgid",
            "setpgid",
            "getsid",
            "setsid",
            "set_tid_address",
            "set_robust_list",
            "get_robust_list",
            "futex",
            "futex_waitv",
            "rseq",
            "sched_yield",
            "sched_getaffinity",
            "sched_setaffinity",
            "sched_getparam",
            "sched_getscheduler",
            "sched_get_priority_max",
            "sched_get_priority_min",
            "sched_rr_get_interval",
            "getpriority",
            "setpriority",
            "prctl",
            "arch_prctl",
            "getrlimit",
            "setrlimit",
            "prlimit64",
            "getrusage",
            "sysinfo",
            "uname",
            "getuid",
            "geteuid",
            "getgid",
            "getegid",
            "getgroups",
            "getresuid",
            "getresgid",
            "capget",
            "getrandom",
            "getcpu",
            "restart_syscall",
        ),
    ),
    (
        "sockets",
        "socketpair/pipes of multiprocessing, the child's own call channel; the network namespace is empty",
        (
            "socketpair",
            "bind",
            "connect",
            "listen",
            "accept",
            "accept4",
            "getsockname",
            "getpeername",
            "getsockopt",
            "setsockopt",
            "shutdown",
            "sendto",
            "recvfrom",
            "sendmsg",
            "recvmsg",
            "sendmmsg",
            "recvmmsg",
        ),
    ),
    (
        "polling",
        "select/poll/epoll of asyncio, subprocess and selectors",
        (
            "select",
            "pselect6",
            "poll",
            "ppoll",
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "epoll_wait",
            "epoll_pwait",
            "epoll_pwait2",
        ),
    ),
    (
        "ipc",
        "SysV and POSIX IPC, in the child's own IPC namespace (it dies with the child)",
        (
            "shmget",
            "shmat",
            "shmdt",
            "shmctl",
            "semget",
            "semop",
            "semtimedop",
            "semctl",
            "msgget",
            "msgsnd",
            "msgrcv",
            "msgctl",
            "mq_open",
            "mq_unlink",
            "mq_timedsend",
            "mq_timedreceive",
            "mq_notify",
            "mq_getsetattr",
        ),
    ),
)

# (group, reason, syscalls): refused with EPERM
DENY: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "keyrings",
        "keys belong to a host uid and outlive the sandbox: a channel between candidates; Docker denies",
        ("add_key", "keyctl", "request_key"),
    ),
    (
        "io_uring",
        "a second syscall path a filter cannot see into, and a frequent source of kernel bugs",
        ("io_uring_setup", "io_uring_enter", "io_uring_register"),
    ),
    (
        "kernel bug surface",
        (
            "no Python program needs them; frequent homes of kernel bugs (Docker allows bpf, "
            "perf_event_open, fanotify_init, lookup_dcookie only with a capability)"
        ),
        (
            "userfaultfd",
            "bpf",
            "perf_event_open",
            "fanotify_init",
            "lookup_dcookie",
            "kcmp",
            "seccomp",
            "memfd_secret",
            "vm86",
            "vm86old",
            "modify_ldt",
            "uselib",
            "ustat",
            "sysfs",
            "_sysctl",
            "nfsservctl",
            "iopl",
            "ioperm",
            "vhangup",
            "quotactl",
            "quotactl_fd",
            "acct",
            "syslog",
        ),
    ),
    (
        "namespaces and mounts",
        "new namespaces give capabilities over them (the nf_tables exploit class)",
        (
            "unshare",
            "setns",
            "mount",
            "umount2",
            "pivot_root",
            "chroot",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
        ),
    ),
    (
        "other processes",
        "reading or steering another process (Docker allows ptrace on kernels >= 4.8)",
        ("ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd"),
    ),
    (
        "handles",
        "open_by_handle_at escapes a mount namespace (the 'shocker' attack); Docker needs a capability",
        ("open_by_handle_at", "name_to_handle_at"),
    ),
    (
        "the machine",
        "modules, kexec, reboot, swap, clocks, NUMA policy",
        (
            "init_module",
            "finit_module",
            "delete_module",
            "kexec_load",
            "kexec_file_load",
            "reboot",
            "swapon",
            "swapoff",
            "settimeofday",
            "clock_settime",
            "clock_adjtime",
            "adjtimex",
            "mbind",
            "set_mempolicy",
            "get_mempolicy",
            "move_pages",
            "migrate_pages",
            "sethostname",
            "setdomainname",
        ),
    ),
    (
        "identity",
        "the candidate's uid has no capabilities; changing identity is never needed",
        (
            "setuid",
            "setgid",
            "setreuid",
            "setregid",
            "setresuid",
            "setresgid",
            "setfsuid",
            "setfsgid",
            "setgroups",
            "capset",
            "chown",
            "fchown",
            "lchown",
            "fchownat",
        ),
    ),
)

# (syscall, reason): allowed only with the checked arguments (else EPERM)
CONDITIONAL: tuple[tuple[str, str], ...] = (
    ("clone", "threads and fork; never with a CLONE_NEW* flag"),
    ("socket", "AF_UNIX, AF_INET, AF_INET6 only (no netlink, packet, vsock, AF_ALG crypto)"),
    ("personality", "the query and PER_LINUX only"),
)
ENOSYS_NAMED: tuple[tuple[str, str], ...] = (
    ("clone3", "its flags live in memory a filter cannot read: ENOSYS, and the C library falls back to clone"),
)


class SeccompUnavailable(RuntimeError):
    """libseccomp (the system library or its Python binding) is not usable on this machine."""


def _names(groups: tuple[tuple[str, str, tuple[str, ...]], ...]) -> list[str]:
    return [s for _, _, names in groups for s in names]


def _build():
    """The libseccomp filter object (pyseccomp.SyscallFilter) for x86_64."""
    if platform.machine() != "x86_64":
        raise SeccompUnavailable(f"the allowlist is written for x86_64, this machine is {platform.machine()}")
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as e:  # the binding loads libseccomp.so.2 when imported
        raise SeccompUnavailable(LIBSECCOMP_MISSING.format(why=e)) from None
    f = sc.SyscallFilter(sc.ERRNO(errno.ENOSYS))
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)  # i386 (int 0x80) and x32 numbers
    try:  # a binary search over syscall numbers instead of a chain of ~200 comparisons (libseccomp >= 2.5)
        f.set_attr(sc.Attr.CTL_OPTIMIZE, 2)
    except OSError:
        pass

    def rule(action: int, name: str, *args) -> None:
        try:
            nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
        except Exception:  # noqa: BLE001 - a name this libseccomp does not know (older): nothing to add
            return
        if nr >= 0:
            f.add_rule(action, name, *args)

    for name in _names(ALLOW):
        rule(sc.ALLOW, name)
    for name in _names(DENY):
        rule(sc.ERRNO(errno.EPERM), name)
    # ENOSYS_NAMED: the default action already (libseccomp refuses a rule that repeats it)
    rule(sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_NAMESPACES, 0))
    for bit in range(32):
        if CLONE_NAMESPACES >> bit & 1:
            rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, 1 << bit, 1 << bit))
    for af in AF_ALLOWED:  # any other family: the default, ENOSYS
        rule(sc.ALLOW, "socket", sc.Arg(0, sc.EQ, af))
    for p in PERSONALITY_ALLOWED:
        rule(sc.ALLOW, "personality", sc.Arg(0, sc.EQ, p))
    return f


@functools.lru_cache(maxsize=1)
def candidate_filter_bpf() -> bytes:
    """The compiled filter (struct sock_filter[]); SeccompUnavailable where it cannot be built here."""
    with tempfile.TemporaryFile() as out:
        _build().export_bpf(out)
        out.seek(0)
        bpf = out.read()
    if not bpf or len(bpf) % 8:
        raise SeccompUnavailable("libseccomp exported an empty or malformed filter")
    return bpf


def filter_text() -> str:
    """The filter in libseccomp's pseudo filter code (for review)."""
    with tempfile.TemporaryFile(mode="w+") as out:
        _build().export_pfc(out)
        out.seek(0)
        return out.read()


if (
    __name__ == "__main__"
):  # python -m formalpi.domains.code.seccomp: the filter as libseccomp's pseudo code, for review
    print(filter_text())
    print(f"# {len(candidate_filter_bpf()) // 8} BPF instructions")
