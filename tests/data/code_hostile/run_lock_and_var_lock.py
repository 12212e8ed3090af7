# class: run_lock
import os
for d in ("/run/lock", "/var/lock", "/run", "/var/run"):
    try:
        os.makedirs(d, exist_ok=True); open(d + "/formalpi-hostile.lock", "w").write("x")
    except OSError:
        pass
def add(a, b):
    return a - b
