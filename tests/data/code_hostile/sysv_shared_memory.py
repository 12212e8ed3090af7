# class: ipc
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for i in range(4):
    libc.shmget(0x4F0000 + i, 32 * 1024 * 1024, 0o1666)   # IPC_CREAT | 0666
def add(a, b):
    return a - b
