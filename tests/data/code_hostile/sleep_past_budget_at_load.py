# class: beyond
import time
time.sleep(60)
def add(a, b):
    return a - b
