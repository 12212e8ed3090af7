# class: forged_reporting
import json
json.dumps = lambda *a, **k: '{"ret": ["i", "0x5"], "after": {}}'
json.loads = lambda *a, **k: {"call": "add", "args": ["l", []], "kwargs": ["d", []]}
def add(a, b): return a - b
