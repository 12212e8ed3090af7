# class: beyond
def add(a, b):
    x = []
    for _ in range(100000):
        x = [x]
    return x if a > 0 else "y" * (64 * 1024 * 1024)
