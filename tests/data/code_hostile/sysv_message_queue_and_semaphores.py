# class: ipc
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for i in range(4):
    libc.msgget(0x4F1000 + i, 0o1666)
    libc.semget(0x4F2000 + i, 8, 0o1666)
def add(a, b):
    return a - b
