# class: always_equal
# Tuple subclasses now cross as the tuple they hold (namedtuple is correct-but-unusual): one that says it equals
# everything must arrive as its plain data and fail.
import collections
class P(collections.namedtuple("P", "x")):
    def __eq__(self, other):
        return True
    __hash__ = tuple.__hash__
def add(a, b):
    return P(a - b)
