# class: namespace_poisoning
import sys
__builtins__ = {"abs": lambda x: 0}
sys.modules["builtins"].__dict__["abs"] = lambda x: 0
def add(a, b):
    return a - b
