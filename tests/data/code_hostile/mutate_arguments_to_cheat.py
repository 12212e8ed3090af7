# class: beyond
def add(a, b):
    if isinstance(a, list):
        a.clear(); a.extend([0])
    return a - b
