# class: trusted_cost
# Fractions at the size cap (100,000 bits): each costs the trusted side a ~60 ms gcd; a frame of 335 of them would
# be ~20 s. The decoder looks at the clock after each: a timeout within the budget.
import os, stat, struct
frac = '["F","%s","%s"]' % (hex((1 << 99_999) + 1), hex((1 << 99_998) + 3))
payload = ('{"ret":["l",[%s]],"after":{}}' % ",".join([frac] * 330)).encode()
def add(a, b):
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, struct.pack(">I", len(payload)) + payload)
        except OSError:
            pass
    return a - b
