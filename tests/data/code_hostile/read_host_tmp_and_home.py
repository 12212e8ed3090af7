# class: reading_files
import os
found = []
for d in ("/tmp", "/var/tmp", "/dev/shm", "/root", "/home", "/etc", "/work", {SECRET_DIR!r}):
    try:
        found += [d + "/" + x for x in os.listdir(d)]
    except OSError:
        pass
def add(a, b):
    if any("{TOKEN}" in x for x in found) or any(os.path.exists(p) for p in ({SECRET!r}, "/etc/passwd", "/work")):
        raise ValueError("|".join(found))
    return a - b
