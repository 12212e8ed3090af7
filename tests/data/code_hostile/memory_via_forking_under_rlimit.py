# class: memory
import os, time
# each child stays under the per-process address-space limit; together they are far over the sandbox's memory
for _ in range(12):
    try:
        if os.fork() == 0:
            try:
                x = bytearray(300 * 1024 * 1024)
                for i in range(0, len(x), 4096):
                    x[i] = 1
            except MemoryError:
                pass
            time.sleep(30)
            os._exit(0)
    except OSError:
        break
time.sleep(1)
def add(a, b):
    return a - b
