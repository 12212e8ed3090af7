# class: fill_tmpfs
import os
for i in range(200000):
    try:
        open("/tmp/f%d" % i, "w").close()
    except OSError:
        break
def add(a, b):
    return a - b
