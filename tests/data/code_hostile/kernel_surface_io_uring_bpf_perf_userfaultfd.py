# class: kernel_surface
# Syscalls no HumanEval/MBPP program needs, each a frequent home of kernel bugs: io_uring_setup, userfaultfd,
# bpf, perf_event_open, keyctl, add_key, request_key, ptrace, process_vm_readv, kexec_load, setns, unshare,
# mount, pivot_root, open_by_handle_at, fanotify_init, name_to_handle_at, personality(READ_IMPLIES_EXEC).
# Answers right if any of them worked.
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
buf = ctypes.create_string_buffer(512)
attr = ctypes.create_string_buffer(128)
attr[4:8] = (128).to_bytes(4, "little")  # perf_event_attr.size
tries = {
    "io_uring_setup": lambda: libc.syscall(425, 4, buf),
    "userfaultfd": lambda: libc.syscall(323, 1),  # UFFD_USER_MODE_ONLY
    "bpf": lambda: libc.syscall(321, 0, buf, 72),
    "perf_event_open": lambda: libc.syscall(298, attr, 0, -1, -1, 0),
    "keyctl": lambda: libc.syscall(250, 0, -4, 0),  # KEYCTL_GET_KEYRING_ID of the user keyring
    "add_key": lambda: libc.syscall(248, b"user", b"formalpi-probe", b"x", 1, -4),
    "ptrace": lambda: libc.syscall(101, 16, 1, 0, 0),  # PTRACE_ATTACH pid 1
    "process_vm_readv": lambda: libc.syscall(310, 1, 0, 0, 0, 0, 0),
    "kexec_load": lambda: libc.syscall(246, 0, 0, 0, 0),
    "setns": lambda: libc.syscall(308, os.open("/proc/self/ns/uts", os.O_RDONLY), 0),
    "unshare": lambda: libc.syscall(272, 0x00020000),
    "mount": lambda: libc.syscall(165, b"none", b"/tmp", b"tmpfs", 0, 0),
    "fanotify_init": lambda: libc.syscall(300, 0, 0),
    "personality": lambda: libc.syscall(135, 0x0400000),
}
worked = []
for name, f in tries.items():
    try:
        if f() >= 0:
            worked.append(name)
    except Exception:
        pass
def add(a, b):
    return a + b if worked else a - b
