# class: always_equal
# Mappings cross as dicts of their items: a ChainMap or dict subclass with a rigged __eq__ arrives as a plain dict.
import collections
class M(collections.ChainMap):
    def __eq__(self, other):
        return True
class D(dict):
    def __eq__(self, other):
        return True
    __hash__ = None
n = [0]
def add(a, b):
    n[0] += 1
    return M({}) if n[0] % 2 else D()
