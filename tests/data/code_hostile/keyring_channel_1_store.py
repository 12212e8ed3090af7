# class: keyring
# The first half of a channel between candidates through the kernel keyring: keys belong to a uid of the host's
# user namespace and outlive the sandbox. This candidate stores a marker (a real attack stores its answers) in
# its user keyring and in the session keyring; keyring_channel_2_read reads it back.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for ring in (-4, -3, -2):  # user, session, process keyrings
    libc.syscall(248, b"user", b"formalpi-channel", b"answers:a+b", 11, ring)
def add(a, b):
    return a - b
