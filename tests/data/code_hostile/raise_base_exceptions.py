# class: beyond
def add(a, b):
    raise [KeyboardInterrupt, SystemExit, GeneratorExit, StopIteration][a % 4]()
