# class: trusted_cost
# Timing: the reply comes just before the budget ends and is the most expensive one the caps allow to parse
# (1M tagged values, 11 MiB): the trusted side's parse is not the candidate's time. The judge must still end
# within its own deadline (the worker is killed and replaced), and the next candidate be judged as usual.
import os, stat, struct, time
payload = b'{"ret":["l",[' + b",".join([b'["i","0x1"]'] * 999_990) + b'],"after":{}}'
payload = payload.replace(b'],"after"', b']],"after"')
def add(a, b):
    time.sleep(3.6)
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, struct.pack(">I", len(payload)) + payload)
        except OSError:
            pass
    return a - b
