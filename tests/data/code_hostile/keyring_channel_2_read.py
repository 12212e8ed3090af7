# class: keyring
# The second half: a candidate with no algorithm looks the stored key up (request_key, keyctl search / read)
# and answers right only if it found it.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
found = False
for ring in (-4, -3, -2, 0):
    key = libc.syscall(249, b"user", b"formalpi-channel", None, ring) if ring else \
        libc.syscall(250, 10, -4, b"user", b"formalpi-channel", 0)  # request_key / KEYCTL_SEARCH
    if key > 0:
        buf = ctypes.create_string_buffer(64)
        if libc.syscall(250, 11, ctypes.c_long(key), buf, 64) > 0 and buf.value.startswith(b"answers"):
            found = True
try:
    found = found or "formalpi-channel" in open("/proc/keys").read()
except OSError:
    pass
def add(a, b):
    return a + b if found else a - b
