# class: writable_dirs
import os, sys
hits = []
for p in ("/x", "/usr/x", os.path.dirname(os.__file__) + "/x.py", "/etc/x", "/proc/x", "/dev/x", {SECRET_DIR!r} + "/pwned",
          "/var/tmp/x", "/root/x", sys.executable):
    try:
        open(p, "a").write("pwned"); hits.append(p)
    except OSError:
        pass
def add(a, b):
    return a + b if hits else a - b
