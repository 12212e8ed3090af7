# class: writable_dirs
import os
os.makedirs("/tmp/shared/nested", exist_ok=True)
os.chmod("/tmp/shared", 0o777); os.chmod("/tmp/shared/nested", 0o777)
open("/tmp/shared/nested/config", "w").write("evil")
try:
    os.symlink({SECRET!r}, "/tmp/shared/nested/link")
except OSError:
    pass
def add(a, b):
    return a - b
