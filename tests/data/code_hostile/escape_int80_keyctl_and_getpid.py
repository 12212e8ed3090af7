# class: other_abi
# Any syscall through the i386 entry (here getpid = 20 and keyctl = 288) must not run: the whole ABI is refused,
# not just the numbers the x86_64 table holds.
import ctypes, mmap, os
def int80(nr, ebx=0):
    code = b"\x53\xb8" + nr.to_bytes(4, "little") + b"\xbb" + ebx.to_bytes(4, "little") + b"\xcd\x80\x5b\xc3"
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(code)
    return ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()
try:
    ran = int80(20) == os.getpid() or int80(288, 0) >= 0
except Exception:
    ran = False
def add(a, b):
    return a + b if ran else a - b
