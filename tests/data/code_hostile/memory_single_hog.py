# class: memory
def add(a, b):
    x = bytearray(8 * 1024 * 1024 * 1024)
    return a - b
