# class: ipc
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for n in (b"/formalpi-hostile-mq", b"/q2"):
    libc.mq_open(n, os.O_CREAT | os.O_RDWR, 0o666, None)
fd = os.open("/dev/shm/formalpi-hostile", os.O_CREAT | os.O_RDWR, 0o666)
os.ftruncate(fd, 8 * 1024 * 1024)
def add(a, b):
    return a - b
