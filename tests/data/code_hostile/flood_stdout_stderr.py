# class: beyond
import sys, os
def add(a, b):
    for _ in range(2000):
        sys.stdout.write("x" * 10000); os.write(2, b"y" * 10000)
    return a - b
