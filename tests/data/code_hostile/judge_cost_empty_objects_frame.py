# class: trusted_cost
# A 16 MiB frame of `{},`: 5.6 million JSON objects the trusted side would build (417 MiB at f346383) before any
# node cap looked at them. The cap must hold while parsing.
import os, stat, struct
n = (16 * 1024 * 1024 - 64) // 3
payload = b'{"ret":["l",[' + b"{}," * (n - 1) + b'{}]],"after":{}}'
def add(a, b):
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, struct.pack(">I", len(payload)) + payload)
        except OSError:
            pass
    return a - b
