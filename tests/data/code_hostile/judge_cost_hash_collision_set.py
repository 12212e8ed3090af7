# class: trusted_cost
# A reply the trusted side pays for: a set of 80,000 ints with one hash (k * (2**61 - 1) + 7), written as a
# forged frame on the call channel. Rebuilding it is quadratic (63.8 s at f346383 against a 4 s budget here);
# the judge must end it as a timeout within its budget, and the next candidate must be judged as usual.
import os, socket, stat, struct
M = 2 ** 61 - 1
items = ",".join('["i","%s"]' % hex(k * M + 7) for k in range(80000))
payload = ('{"ret":["s",[%s]],"after":{}}' % items).encode()
def add(a, b):
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, struct.pack(">I", len(payload)) + payload)
        except OSError:
            pass
    return a - b
