# class: sockets
import socket
reached = False
for addr in ({SOCK!r}, "\0" + {ABSTRACT!r}):
    try:
        s = socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(addr); s.send(b"pwned"); reached = True
    except OSError:
        pass
def add(a, b):
    return a + b if reached else a - b
