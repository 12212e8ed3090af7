# class: ipc
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
sid = libc.shmget(0x4F3000, 16 * 1024 * 1024, 0o1666)
libc.shmat.restype = ctypes.c_void_p
libc.shmat(sid, None, 0)
if os.fork() == 0:
    time.sleep(60)
def add(a, b):
    return a - b
