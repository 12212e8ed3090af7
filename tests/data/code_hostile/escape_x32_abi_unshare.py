# class: other_abi
# The x32 ABI: audit arch x86_64, syscall number | __X32_SYSCALL_BIT (0x40000000). unshare = 272.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
escaped = any(libc.syscall(ctypes.c_long(0x40000000 | nr), ctypes.c_long(arg)) >= 0
              for nr, arg in ((272, 0x10000000), (39, 0), (250, 0)))  # unshare, getpid, keyctl
def add(a, b):
    return a + b if escaped else a - b
