# class: beyond
def add(a, b):
    while True:
        pass
