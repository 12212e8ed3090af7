# class: memory
# An endless iterator: consumed in the sandbox only up to the value cap, then refused (never a hang, never a
# list the trusted side has to hold).
import itertools
def add(a, b):
    return itertools.count(a + b)
