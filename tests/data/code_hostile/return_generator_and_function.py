# class: beyond
def add(a, b):
    return (a - b for _ in range(1)) if a > 1 else add
