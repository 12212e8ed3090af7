# class: namespace_poisoning
set = lambda *a: {1}
len = lambda x: 0
sorted = lambda *a, **k: []
def add(a, b):
    return a - b
