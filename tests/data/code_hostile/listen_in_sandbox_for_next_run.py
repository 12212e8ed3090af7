# class: sockets
import os, socket
if os.fork() == 0:
    s = socket.socket(socket.AF_UNIX); s.bind("\0formalpi-hostile-listener"); s.listen()
    t = socket.socket(); t.bind(("127.0.0.1", 4444)); t.listen()
    import time; time.sleep(60)
def add(a, b):
    return a - b
