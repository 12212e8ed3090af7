"""Plain typed data over a byte stream: how the trusted side and the sandboxed candidate exchange values.

Only these types cross, by exact type (a subclass of int with an always-true `__eq__` is NOT an int here):
None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset; and, carried as their data and
rebuilt on the trusted side with the trusted side's own classes: collections.Counter / OrderedDict / deque,
re.Match (as a `MatchValue`: the matched text and span, truthy), fractions.Fraction, decimal.Decimal, range;
every other mapping (defaultdict, ChainMap, dict subclasses) as a dict of its items, tuple and list subclasses
(namedtuple) as tuples and lists, and iterators (generators, filter, map...) consumed in the sandbox and rebuilt
as a one-shot iterator: what the original harness would have compared is the data, and a subclass's own
`__eq__` never crosses. Anything else is refused by the encoder (`Unserialisable`, naming the type) and by the
decoder (`WireError`). Encoded form: JSON where the only bare JSON values are null, true, false and strings;
every other value is a tagged array, numbers travel as exact hex strings (`float.hex`, hex ints: no digit-count
limit, no rounding):

    ["i", "-0x1f"]  ["f", "0x1.8p+1"]  ["c", re, im]  ["y", base64]  ["l", [...]]  ["t", [...]]
    ["d", [[k, v], ...]]  ["s", [...]]  ["z", [...]]  ["C"|"O", [[k, v], ...]]  ["q", [...]]  ["m", text, start, end]
    ["F", num, den]  ["D", "1.50"]  ["r", start, stop, step]  ["I", [...]]

Frames are a 4-byte big-endian length and that many bytes; the reader refuses frames over its cap.

This module is stdlib only and self-contained: its source is also run INSIDE the sandbox (the encoder side),
where the project is not on the filesystem. The decoder is the trusted side's: it never evaluates anything
(the JSON values counted on the bytes before `json.loads` builds any; numbers and NaN refused; then an explicit
walk with depth, node and size caps and a deadline). Never pickle.
"""

import base64
import collections
import collections.abc
import decimal
import fractions
import json
import re
import struct
import time

MAX_FRAME = 16 * 1024 * 1024  # bytes in one message
MAX_DEPTH = 64  # nesting of containers
MAX_NODES = 1_000_000  # values in one message
MAX_JSON_TOKENS = 3 * MAX_NODES  # JSON values the parser may build for one message (a tagged value is up to 3)
DEADLINE_EVERY = 1024  # values decoded between two looks at the clock
MAX_FRACTION_BITS = 100_000  # numerator or denominator: the gcd that normalises it stays ~60 ms
HEADER = struct.Struct(">I")


class WireError(Exception):
    """A message that is not well-formed plain typed data (or over a cap)."""


class DecodeTimeout(WireError):
    """Rebuilding a message's values ran past the deadline (e.g. a set of ints that all share one hash)."""


class Unserialisable(Exception):
    """A value of a type that may not cross (its type name is the message)."""


class MatchValue:
    """A candidate's re.Match, as data: the matched text and its span; truthy like a match."""

    __slots__ = ("text", "span_")

    def __init__(self, text, start, end):
        self.text, self.span_ = text, (start, end)

    def group(self, n=0):
        if n != 0:
            raise IndexError("only group 0 crosses the sandbox boundary")
        return self.text

    def span(self):
        return self.span_

    def start(self):
        return self.span_[0]

    def end(self):
        return self.span_[1]

    def __bool__(self):
        return True

    def __eq__(self, other):
        return type(other) is MatchValue and (self.text, self.span_) == (other.text, other.span_)

    def __hash__(self):
        return hash((self.text, self.span_))

    def __repr__(self):
        return "<match %r span=%r>" % (self.text, self.span_)


_PAIRS = {collections.Counter: "C", collections.OrderedDict: "O"}
_MATCH = type(re.match("", ""))


def encode(value, _depth=0):
    """`value` as JSON-ready plain data; raises Unserialisable naming the first type that may not cross."""
    if _depth > MAX_DEPTH:
        raise Unserialisable("nesting deeper than %d (a cycle?)" % MAX_DEPTH)
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return ["i", hex(value)]
    if t is float:
        return ["f", value.hex()]
    if t is complex:
        return ["c", value.real.hex(), value.imag.hex()]
    if t is bytes:
        return ["y", base64.b64encode(value).decode("ascii")]
    if t is list or t is tuple or t is set or t is frozenset:
        tag = "l" if t is list else "t" if t is tuple else "s" if t is set else "z"
        return [tag, [encode(v, _depth + 1) for v in value]]
    if t is dict or t in _PAIRS:
        return [
            "d" if t is dict else _PAIRS[t],
            [[encode(k, _depth + 1), encode(v, _depth + 1)] for k, v in value.items()],
        ]
    if t is collections.deque:
        return ["q", [encode(v, _depth + 1) for v in value]]
    if t is fractions.Fraction:
        return ["F", hex(value.numerator), hex(value.denominator)]
    if t is decimal.Decimal:
        return ["D", str(value)]
    if t is range:
        return ["r", hex(value.start), hex(value.stop), hex(value.step)]
    # what the original harness would also have compared by its data: a subclass's own __eq__ never crosses
    if isinstance(value, tuple):  # namedtuple, structseq
        return ["t", [encode(v, _depth + 1) for v in tuple.__iter__(value)]]
    if isinstance(value, list):
        return ["l", [encode(v, _depth + 1) for v in list.__iter__(value)]]
    if isinstance(value, dict):  # defaultdict, other dict subclasses: their stored items
        return ["d", [[encode(k, _depth + 1), encode(v, _depth + 1)] for k, v in dict.items(value)]]
    if isinstance(value, collections.abc.Mapping):  # ChainMap, MappingProxyType, user mappings
        return ["d", [[encode(k, _depth + 1), encode(v, _depth + 1)] for k, v in _bounded(value.items())]]
    if isinstance(value, collections.abc.Iterator):  # generator, filter, map, zip...: consumed here
        return ["I", [encode(v, _depth + 1) for v in _bounded(value)]]
    if t is _MATCH:
        text = value.group(0)
        if type(text) is not str:
            raise Unserialisable("re.Match over bytes")
        return ["m", text, encode(value.start()), encode(value.end())]
    raise Unserialisable(_type_name(value))


def _bounded(items):
    out = []
    for v in items:
        out.append(v)
        if len(out) > MAX_NODES:
            raise Unserialisable("an iterator or mapping of more than %d items" % MAX_NODES)
    return out


def _type_name(value):
    t = type(value)
    return "%s.%s" % (getattr(t, "__module__", "?"), getattr(t, "__qualname__", "?"))


def _refuse_number(s):
    raise WireError("bare JSON number %r (numbers travel as tagged hex strings)" % s[:40])


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: no backtracking state per character


def json_tokens(data):
    """An upper bound on the JSON values `data` holds (separators and openings outside strings, plus one): what
    `json.loads` would build, counted before it builds anything."""

    def count(b):
        return b.count(b",") + b.count(b":") + b.count(b"[") + b.count(b"{") + 1

    n = count(data)  # counting inside strings too: an over-estimate, exact enough unless near the cap
    return n if n <= MAX_JSON_TOKENS else count(_JSON_STRING.sub(b"", data))


def loads(data):
    """Parse one message's bytes as JSON without numbers or NaN/Infinity (the tagged form has no need of them).
    The caps hold before parsing: bytes, then JSON values (counted on the bytes)."""
    if len(data) > MAX_FRAME:
        raise WireError("message of %d bytes is over the %d-byte cap" % (len(data), MAX_FRAME))
    n = json_tokens(data)
    if n > MAX_JSON_TOKENS:
        raise WireError("message of more than %d JSON values (%d)" % (MAX_JSON_TOKENS, n))
    try:
        return json.loads(
            data.decode("utf-8"), parse_int=_refuse_number, parse_float=_refuse_number, parse_constant=_refuse_number
        )
    except WireError:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise WireError("not JSON: %s" % str(e)[:200]) from None


class _Budget:
    __slots__ = ("left", "deadline", "tick")

    def __init__(self, deadline):
        self.left, self.deadline, self.tick = MAX_NODES, deadline, 0

    def spend(self):
        self.left -= 1
        if self.left < 0:
            raise WireError("more than %d values in one message" % MAX_NODES)
        self.tick += 1
        if self.deadline is not None and self.tick >= DEADLINE_EVERY:
            self.tick = 0
            if time.monotonic() > self.deadline:
                raise DecodeTimeout("rebuilding the values took past the deadline")


def decode(obj, deadline=None):
    """Rebuild values from the tagged form with the trusted side's own classes; WireError on anything else,
    DecodeTimeout once `deadline` (time.monotonic()) has passed (checked between values and between the inserts
    of a set or dict, where equal hashes make each insert cost as much as the whole set)."""
    return _decode(obj, 0, _Budget(deadline))


def _fill(out, add, items, budget, pairs=False):
    for item in items:
        if pairs:
            add(item[0], item[1])
        else:
            add(item)
        budget.tick += 64  # an insert may probe a long chain of equal hashes: look at the clock every 16
        if budget.deadline is not None and budget.tick >= DEADLINE_EVERY:
            budget.tick = 0
            if time.monotonic() > budget.deadline:
                raise DecodeTimeout("rebuilding a set or dict took past the deadline")
    return out


_DECIMAL = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:E[+-]?[0-9]+)?|Infinity|s?NaN[0-9]*)\Z", re.ASCII)


class OneShotIterator:
    """A candidate's iterator or generator, consumed in the sandbox: its items, once, in order."""

    __slots__ = ("_it",)

    def __init__(self, items):
        self._it = iter(items)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def __repr__(self):
        return "<iterator from the candidate>"


def _decode(obj, depth, budget):
    budget.spend()
    if depth > MAX_DEPTH:
        raise WireError("nesting deeper than %d" % MAX_DEPTH)
    if obj is None or obj is True or obj is False or type(obj) is str:
        return obj
    if type(obj) is not list or not obj or type(obj[0]) is not str:
        raise WireError("not a tagged value: %s" % type(obj).__name__)
    tag, n = obj[0], len(obj)
    try:
        if tag == "i" and n == 2 and type(obj[1]) is str:
            return _hex_int(obj[1])
        if tag == "f" and n == 2 and type(obj[1]) is str:
            return float.fromhex(obj[1])
        if tag == "c" and n == 3 and type(obj[1]) is str and type(obj[2]) is str:
            return complex(float.fromhex(obj[1]), float.fromhex(obj[2]))
        if tag == "y" and n == 2 and type(obj[1]) is str:
            return base64.b64decode(obj[1].encode("ascii"), validate=True)
        if tag in ("l", "t", "s", "z", "q", "I") and n == 2 and type(obj[1]) is list:
            items = [_decode(v, depth + 1, budget) for v in obj[1]]
            if tag == "s" or tag == "z":
                out = set()
                _fill(out, out.add, items, budget)
                return out if tag == "s" else frozenset(out)
            return (
                items
                if tag == "l"
                else tuple(items)
                if tag == "t"
                else collections.deque(items)
                if tag == "q"
                else OneShotIterator(items)
            )
        if tag == "F" and n == 3 and type(obj[1]) is str and type(obj[2]) is str:
            num, den = _hex_int(obj[1]), _hex_int(obj[2])
            if den <= 0:
                raise WireError("a Fraction's denominator is not positive")
            if max(num.bit_length(), den.bit_length()) > MAX_FRACTION_BITS:
                raise WireError("a Fraction of more than %d bits (its gcd would cost seconds)" % MAX_FRACTION_BITS)
            budget.tick = DEADLINE_EVERY  # one gcd may take ~60 ms: look at the clock after each
            return fractions.Fraction(num, den)
        if tag == "D" and n == 2 and type(obj[1]) is str and _DECIMAL.match(obj[1]):
            return decimal.Decimal(obj[1])
        if tag == "r" and n == 4 and all(type(x) is str for x in obj[1:]):
            return range(_hex_int(obj[1]), _hex_int(obj[2]), _hex_int(obj[3]))
        if tag == "m" and n == 4 and type(obj[1]) is str:
            start, end = _decode(obj[2], depth + 1, budget), _decode(obj[3], depth + 1, budget)
            if type(start) is not int or type(end) is not int:
                raise WireError("a match span is not two ints")
            return MatchValue(obj[1], start, end)
        if tag in ("d", "C", "O") and n == 2 and type(obj[1]) is list:
            out = {} if tag == "d" else collections.Counter() if tag == "C" else collections.OrderedDict()
            pairs = []
            for pair in obj[1]:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("dict item is not a [key, value] pair")
                pairs.append((_decode(pair[0], depth + 1, budget), _decode(pair[1], depth + 1, budget)))
            return _fill(out, out.__setitem__, pairs, budget, pairs=True)
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError) as e:  # bad hex, unhashable key/element, bad base64
        raise WireError("bad %r value: %s" % (tag, str(e)[:200])) from None
    raise WireError("unknown tag or shape %r" % tag[:20])


def _hex_int(s):
    if not (s.startswith("0x") or s.startswith("-0x")):
        raise WireError("int not in hex form")
    return int(s, 16)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def frame(payload):
    return HEADER.pack(len(payload)) + payload
