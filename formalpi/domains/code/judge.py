"""The trusted side of code verification: the dataset's tests run HERE, against proxies of the candidate.

A `JudgeSpec` (plain data, from the dataset only) says what to run: a trusted prelude (HumanEval: the prompt with
its helper functions, then the test module; MBPP: `test_imports`), the test units in order (each HumanEval
`check` statement, each MBPP assert), and which names are the candidate's functions. `judge()` executes the
prelude and units in a fresh namespace of this (trusted) process, where each candidate name is a `_Proxy`: calling
it sends the arguments to the candidate's child in the sandbox and returns the reply decoded strictly as plain
typed data (formalpi/domains/code/wire.py). So `abs = lambda x: 0` in the candidate changes nothing here, an object with
an always-true `__eq__` cannot come back (only exact builtin types cross), and only returning the right values
passes. Arguments the candidate mutated are written back into the caller's objects (tests may inspect them).

Each unit gets its own typed outcome: passed / failed (the test's assert) / raised (the candidate raised) /
unserialisable / timeout / memory / crash / error (the test itself broke) / not_run (time budget spent). After
a timeout or crash the next unit gets a fresh child. One budget (`Limits.timeout_s`) bounds a candidate.

`JudgePool` runs `judge()` in trusted worker processes, each owning one warm `Sandbox`, so test code (random
seeds, imports) never runs in the caller's process and candidates are judged in parallel.
"""

from __future__ import annotations

import ast
import builtins
import collections
import functools
import json
import os
import pickle
import re
import resource
import select
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from formalpi.domains.code import wire
from formalpi.domains.code.leases import remove_cgroups_of
from formalpi.domains.code.sandbox import ChildGone, Limits, Sandbox, Session
from formalpi.errors import SandboxError

MESSAGE_CHARS = 300
# candidate exceptions re-raised here as the builtin type of that name (so a test's `except ValueError` works);
# any other name becomes CandidateException. Never BaseException-only types (SystemExit, KeyboardInterrupt...).
REBUILT = {
    n: getattr(builtins, n)
    for n in (
        "ArithmeticError",
        "AssertionError",
        "AttributeError",
        "BufferError",
        "EOFError",
        "Exception",
        "IndexError",
        "KeyError",
        "LookupError",
        "MemoryError",
        "NameError",
        "NotImplementedError",
        "OSError",
        "OverflowError",
        "RecursionError",
        "RuntimeError",
        "TypeError",
        "UnboundLocalError",
        "UnicodeError",
        "ValueError",
        "ZeroDivisionError",
        "FileNotFoundError",
        "PermissionError",
        "ImportError",
        "ModuleNotFoundError",
        "StopIteration",
    )
}
_ARG_INDEX = re.compile(r"(0|[1-9][0-9]{0,5})\Z", re.ASCII)  # "²".isdigit() is True and int("²") raises
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,79}\Z")
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

OUTCOMES = ("passed", "failed", "raised", "unserialisable", "timeout", "memory", "crash", "error", "not_run")


@dataclass(frozen=True)
class JudgeSpec:
    prelude: str  # trusted code run first, in the test namespace
    units: tuple[tuple[str, bool], ...]  # (source, is_test): a non-test unit is set-up (its failure stops the rest)
    proxies: tuple[tuple[str, str], ...]  # (name in the tests, the candidate's function name)


@dataclass
class UnitResult:
    index: int
    test: str
    outcome: str
    detail: str = ""


@dataclass
class Judgement:
    tests: list[UnitResult]
    load: str = "ok"  # ok | error | timeout | crash | memory | budget
    load_detail: str = ""
    duration_s: float = 0.0
    children: int = 0  # candidate children started (1 + one per restart after a timeout or crash)
    stragglers_killed: int = 0
    layers: dict = field(default_factory=dict)


class _Stop(BaseException):
    """Ends a test unit from a proxy; a BaseException so a test's `except Exception` cannot swallow it."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome, self.detail = outcome, detail


class CandidateException(Exception):
    """The candidate raised an exception of a type that is not rebuilt here."""


def clean_text(s: object, cap: int = MESSAGE_CHARS) -> str:
    """Candidate-made text made safe for a prompt: str, control characters removed, capped."""
    return _UNPRINTABLE.sub("", s if isinstance(s, str) else "")[:cap]


def _exception_name(name: object) -> str:
    return name if isinstance(name, str) and _IDENT.match(name) else "Exception"


class _Run:
    """One candidate under judgement: its (re)started children and the shared time budget."""

    def __init__(
        self, sandbox: Sandbox, source: str, limits: Limits, plan: list[tuple[int, str, tuple, dict]] | None = None
    ) -> None:
        self.sandbox, self.source, self.limits = sandbox, source, limits
        self.deadline = time.monotonic() + limits.timeout_s
        self.session: Session | None = None
        self.children = 0
        self.stragglers = 0
        self.load: tuple[str, str] | None = None  # a failed load: (kind, detail), final for this candidate
        self.plan = plan or []  # calls sent ahead to the first child (see prefetch_plan)
        self.ahead: collections.deque = collections.deque()  # (unit, encoded call) sent, reply not yet read
        self.unit = -1

    def _child(self) -> Session:
        if self.load is not None:
            raise _Stop("load_" + self.load[0], self.load[1])
        if self.session is not None:
            return self.session
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Stop("not_run", "time budget spent")
        calls: list[tuple[int, str]] = []
        if self.plan and self.children == 0:  # only the first child: after a restart, one call at a time
            calls = [(u, _call_key(n, a, k)) for u, n, a, k in self.plan if u >= self.unit]
            if sum(len(c) for _, c in calls) > 1 << 20:  # keep the message small; big calls go one at a time
                calls = []
        # the calls go with the program: the child answers them as soon as it has loaded
        s = self.sandbox.session(self.source, timeout_s=left, batch=[json.loads(c) for _, c in calls] or None)
        self.children += 1
        self.session = s
        try:
            first = s.start()
        except ChildGone as g:
            self._ended(g)
            kind = _gone_kind(g)
            self.load = (kind, _gone_detail(g))
            raise _Stop("load_" + kind, self.load[1]) from None
        except wire.WireError as e:
            self.end()
            self.load = ("crash", f"malformed message from the program: {e}")
            raise _Stop("load_crash", self.load[1]) from None
        if "load_error" in first:
            err = first.get("load_error")
            typ, msg = (err + ["", ""])[:2] if isinstance(err, list) else ("Exception", "")
            self.end()
            kind = "memory" if typ == "MemoryError" else "error"
            self.load = (kind, _format_exc(typ, msg))
            raise _Stop("load_" + kind, self.load[1])
        if "loaded" not in first:
            self.end()
            self.load = ("crash", "the program did not report that it loaded")
            raise _Stop("load_crash", self.load[1])
        self.ahead.extend(calls)
        return s

    def _ended(self, g: ChildGone) -> None:
        self.stragglers += int((g.exit or {}).get("stragglers", 0) or 0)
        self.ahead.clear()  # the calls sent ahead died with the child: the next one starts without them
        if self.session is not None:
            self.session.end()
        self.session = None

    def end(self, wait: bool = True) -> None:
        self.ahead.clear()
        if self.session is not None:
            ex = self.session.end(wait=wait)
            self.stragglers += int(ex.get("stragglers", 0) or 0)
            self.session = None

    def unit_done(self, unit: int) -> None:
        """Read and drop the replies to calls sent ahead for `unit` that it did not make (it stopped early)."""
        while self.ahead and self.ahead[0][0] == unit and self.session is not None:
            self.ahead.popleft()
            try:
                self.session._next()
            except (ChildGone, wire.WireError):
                self.end()

    def call(self, name: str, args: tuple, kwargs: dict) -> object:
        s = self._child()
        try:
            if self.ahead:
                key = _call_key(name, list(args), kwargs)
                if self.ahead[0] == (self.unit, key):  # sent ahead: its reply is the next frame
                    self.ahead.popleft()
                    reply = s._next()
                else:  # the tests went another way than planned: a fresh child, one call at a time
                    self.end()
                    s = self._child()
                    reply = s.call(name, list(args), kwargs)
            else:
                reply = s.call(name, list(args), kwargs)
        except OSError as e:  # the child closed or shut down its end of the channel (BrokenPipeError...)
            self._ended(ChildGone("crash", s.end()))
            raise _Stop("crash", f"the program closed its call channel ({type(e).__name__})") from None
        except wire.Unserialisable as u:
            raise _Stop(
                "error", f"the test passed an argument that is not plain data ({u}); it cannot cross into the sandbox"
            ) from None
        except ChildGone as g:
            self._ended(g)
            raise _Stop(_gone_kind(g), _gone_detail(g)) from None
        except wire.WireError as e:
            self.end()
            raise _Stop("crash", f"malformed reply from the program: {e}") from None
        try:
            if "ret" in reply:
                value = wire.decode(reply["ret"], deadline=self.deadline)
                after = reply.get("after") or {}
                if not isinstance(after, dict):
                    raise wire.WireError("'after' is not an object")
                for key, enc in after.items():
                    if type(key) is not str or not _ARG_INDEX.match(key) or int(key) >= len(args):
                        raise wire.WireError(f"'after' names no argument: {key[:20]!r}")
                    _write_back(args[int(key)], wire.decode(enc, deadline=self.deadline))
                return value
        except wire.DecodeTimeout:
            self.end()
            self.deadline = time.monotonic()  # the budget is spent: the rest is not run
            raise _Stop("timeout", "Timed out (reading the program's reply took the rest of the budget).") from None
        except wire.WireError as e:
            self.end()  # a child that sends malformed data is not trusted with the next call either
            raise _Stop("unserialisable", f"the program's reply is not plain data: {e}") from None
        if "raised" in reply and isinstance(reply["raised"], list) and len(reply["raised"]) == 2:
            typ, msg = _exception_name(reply["raised"][0]), clean_text(reply["raised"][1])
            if typ == "MemoryError":
                raise _Stop("memory", "MemoryError")
            exc = REBUILT.get(typ, CandidateException)(msg) if msg else REBUILT.get(typ, CandidateException)()
            exc.formalpi_candidate = _format_exc(typ, msg)
            raise exc
        if "unserialisable" in reply:
            raise _Stop(
                "unserialisable", f"returned a value that is not plain data: {clean_text(reply['unserialisable'], 120)}"
            )
        self.end()
        raise _Stop("crash", "malformed reply from the program")


def _call_key(name: str, args: list | tuple, kwargs: dict) -> str:
    return wire.dumps([name, wire.encode(list(args)), wire.encode(dict(kwargs))]).decode()


_NOT_STRAIGHT = (
    ast.BoolOp,
    ast.IfExp,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.NamedExpr,
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.Starred,
)


@functools.lru_cache(maxsize=4096)  # a problem is judged once per sample: its plan is the same each time
def _cached_plan(spec: JudgeSpec) -> tuple:
    try:
        return tuple(prefetch_plan(spec))
    except ValueError:
        return ()


@functools.lru_cache(maxsize=16384)
def _compiled(src: str, name: str):
    with warnings.catch_warnings():  # dataset text (e.g. "\." in a docstring) is not ours to lint
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        return compile(src, name, "exec")


def prefetch_plan(spec: JudgeSpec) -> list[tuple[int, str, tuple, dict]]:
    """The candidate calls the tests will make, in order, known before any runs: (unit, name, args, kwargs).

    Taken from the leading units that are straight-line (an assert, an expression, an assignment to names)
    and call candidate functions only with literal arguments; the plan stops at the first unit that calls the
    candidate any other way (a loop, computed arguments, a short-circuit, the assert's message). The calls go
    to the first child in one message and their replies are read as the tests make the same calls, in the
    same order (a call the tests then make differently ends the plan: a fresh child, one call at a time)."""
    proxies = {local for local, _ in spec.proxies}
    plan: list[tuple[int, str, tuple, dict]] = []
    remote = dict(spec.proxies)
    for unit, (src, _) in enumerate(spec.units):
        try:
            tree = ast.parse(src)
        except SyntaxError:
            break
        names = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in proxies]
        if not names:
            continue
        if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.Assert, ast.Expr, ast.Assign)):
            break
        stmt = tree.body[0]
        if (
            isinstance(stmt, ast.Assert)
            and stmt.msg is not None
            and any(isinstance(n, ast.Name) and n.id in proxies for n in ast.walk(stmt.msg))
        ):
            break
        if isinstance(stmt, ast.Assign) and not all(
            isinstance(t, ast.Name) and t.id not in proxies for t in stmt.targets
        ):
            break
        if any(isinstance(n, _NOT_STRAIGHT) for n in ast.walk(stmt)):
            break
        calls = [
            (n.func.id, n)
            for n in _in_order(stmt)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in proxies
        ]
        if len(calls) != len(names):  # a candidate name used other than as the callee
            break
        try:
            unit_calls = [
                (
                    unit,
                    remote[callee],
                    tuple(ast.literal_eval(a) for a in c.args),
                    {k.arg: ast.literal_eval(k.value) for k in c.keywords},
                )
                for callee, c in calls
            ]
            if any(k.arg is None for _, c in calls for k in c.keywords):
                break
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            break
        plan.extend(unit_calls)
    return plan


def _in_order(node: ast.AST):
    """Nodes in the order Python evaluates them for the straight-line expressions prefetch_plan admits (a dict
    display with calls is refused there: its keys and values interleave)."""
    yield node
    if isinstance(node, ast.Dict) and any(isinstance(n, ast.Call) for n in ast.walk(node)):
        raise ValueError("dict display with calls")
    for child in ast.iter_child_nodes(node):
        yield from _in_order(child)


def _write_back(original: object, new: object) -> None:
    """Make an argument the test still holds equal to what the candidate left it as."""
    if type(original) is list and type(new) is list:
        original[:] = new
    elif type(original) is dict and type(new) is dict:
        original.clear()
        original.update(new)
    elif type(original) is set and type(new) is set:
        original.clear()
        original.update(new)


def _format_exc(typ: object, msg: object) -> str:
    typ, msg = _exception_name(typ), clean_text(msg)
    return f"{typ}: {msg}" if msg else typ


def _gone_kind(g: ChildGone) -> str:
    if g.reason == "timeout":
        return "timeout"
    ex = g.exit or {}
    if ex.get("signal") == 24:  # SIGXCPU: the CPU-time limit
        return "timeout"
    if ex.get("code") == 113:
        return "memory"
    return "crash"


def _gone_detail(g: ChildGone) -> str:
    if g.reason == "timeout":
        return "Timed out."
    ex = g.exit or {}
    if ex.get("signal") == 24:
        return "Timed out (CPU time limit)."
    if "signal" in ex:
        return f"the program was killed by signal {ex['signal']}"
    if "code" in ex:
        return f"the program exited (code {ex['code']}) during the call"
    return "the sandbox server stopped"


class _Proxy:
    """A candidate's function on the trusted side: calls go to the sandbox, plain values come back."""

    def __init__(self, run: _Run, name: str) -> None:
        self._run, self._name = run, name

    def __call__(self, *args, **kwargs):
        return self._run.call(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<candidate function {self._name}>"


def judge(sandbox: Sandbox, spec: JudgeSpec, source: str, limits: Limits | None = None) -> Judgement:
    """Run `spec`'s tests against `source` (the candidate's program) in `sandbox`; one typed result per test."""
    lim = limits or sandbox.limits
    t0 = time.monotonic()
    run = _Run(sandbox, source, lim, list(_cached_plan(spec)))  # read-only: only its encoding is sent
    ns: dict = {"__name__": "__formalpi_tests__", "__builtins__": builtins}
    results: list[UnitResult] = []
    load = ("ok", "")
    try:
        exec(_compiled(spec.prelude, "<tests>"), ns)
        for local, remote in spec.proxies:
            ns[local] = _Proxy(run, remote)
        stop: tuple[str, str] | None = None
        i = 0
        for unit, (src, is_test) in enumerate(spec.units):
            run.unit = unit
            outcome, detail = ("not_run", stop[1]) if stop else _unit(src, ns)
            run.unit_done(unit)
            if outcome.startswith("load_"):
                load = (outcome[5:], detail)
                stop = (outcome, detail)
                outcome = "not_run"
            if is_test:
                results.append(UnitResult(i, src, outcome, detail))
                i += 1
            elif outcome not in ("passed", "not_run") and stop is None:
                stop = ("error", f"a set-up statement of the tests failed: {src[:200]}: {detail}")
    finally:
        run.end(wait=False)  # the server sweeps while the next candidate is prepared
    if run.load is not None:
        load = run.load
    for r in results:  # a load failure is every test's
        if r.outcome == "not_run" and load[0] != "ok":
            r.outcome, r.detail = ("timeout" if load[0] == "timeout" else r.outcome), load[1]
    return Judgement(
        tests=results,
        load=load[0],
        load_detail=load[1],
        duration_s=time.monotonic() - t0,
        children=run.children,
        stragglers_killed=run.stragglers,
        layers=dict(sandbox.layers),
    )


def _unit(src: str, ns: dict) -> tuple[str, str]:
    try:
        exec(_compiled(src, "<test>"), ns)
        return "passed", ""
    except _Stop as s:
        return s.outcome, s.detail
    except MemoryError:  # the candidate's own MemoryError arrives as a _Stop: this one is the trusted side's
        return "memory", "the test's own work on the program's values ran out of the judge's memory"
    except AssertionError as e:
        if hasattr(e, "formalpi_candidate"):
            return "raised", e.formalpi_candidate
        msg = clean_text(str(e)) if e.args else ""
        return "failed", f"AssertionError: {msg}" if msg else "AssertionError"
    except Exception as e:  # noqa: BLE001 - each unit's own typed outcome
        if hasattr(e, "formalpi_candidate"):
            return "raised", e.formalpi_candidate
        return "error", _format_exc(type(e).__name__, str(e))


# ---- trusted worker processes -------------------------------------------------------------------------------------
# Our own processes (`python -m formalpi.domains.code.judge FD_IN FD_OUT`), not multiprocessing: spawn/forkserver would
# re-import the caller's __main__. Jobs and judgements travel pickled between trusted processes over dedicated
# pipes (never stdout, which test code may print to); nothing from the sandbox is ever unpickled.


TRUSTED_SLACK_S = 2.0  # past the candidate's budget, for the judge's own bookkeeping (children, sweeps)
TRUSTED_MEMORY_MB = 1024  # the trusted worker's own growth (decoded replies, test evaluation) over its size at start


def _all_tests_judgement(spec: JudgeSpec, outcome: str, detail: str, duration: float) -> Judgement:
    """Every test `outcome` (the program loaded; what ended it was the judge's own bound on its replies)."""
    tests = [UnitResult(i, src, outcome, detail) for i, src in enumerate(s for s, t in spec.units if t)]
    return Judgement(tests=tests, duration_s=duration)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _cap_own_memory(extra_mb: int) -> None:
    """A soft address-space cap for this (trusted worker) process: its size now plus `extra_mb`. A MemoryError
    here becomes a typed verdict; the sandbox's own processes lift the soft cap back to the hard one."""
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = size + (extra_mb << 20)
    if hard == resource.RLIM_INFINITY or want < hard:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))


class _Worker:
    def __init__(self, limits: Limits, allow_weak: bool) -> None:
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        root = str(Path(__file__).resolve().parents[3])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "formalpi.domains.code.judge", str(to_r), str(from_w)],
            pass_fds=(to_r, from_w),
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=root,
        )
        os.close(to_r)
        os.close(from_w)
        self.out = os.fdopen(to_w, "wb")
        self.inp = os.fdopen(from_r, "rb")
        self._send(("init", limits, allow_weak))
        status, value = self._recv()
        if status != "ok":
            self.close()
            raise SandboxError(str(value))

    def _send(self, obj: object) -> None:
        data = pickle.dumps(obj)
        self.out.write(len(data).to_bytes(8, "big") + data)
        self.out.flush()

    def _recv(self, deadline: float | None = None) -> tuple:
        try:
            head = _read_exact(self.inp.fileno(), 8, deadline)
            return pickle.loads(_read_exact(self.inp.fileno(), int.from_bytes(head, "big"), deadline))
        except EOFError:
            raise BrokenPipeError(f"a trusted judge worker died (exit {self.proc.poll()})") from None

    def judge(self, spec: JudgeSpec, source: str, budget_s: float) -> Judgement:
        """The worker's judgement, or a typed one where the worker ran past `budget_s` (killed: a signal cannot
        interrupt a C loop like `set(items)`, a kill can) or past its memory cap (it exits; it is replaced)."""
        t0 = time.monotonic()
        self._send(("judge", spec, source))
        try:
            status, value = self._recv(t0 + budget_s)
        except TimeoutError:
            self.kill()
            return _all_tests_judgement(
                spec,
                "timeout",
                "Timed out (the trusted side's work on this program's replies ran past the budget).",
                time.monotonic() - t0,
            )
        if status == "memory":
            self.close()
            return _all_tests_judgement(
                spec,
                "memory",
                f"the program's replies took more than the trusted side's {TRUSTED_MEMORY_MB} MiB to read and test",
                time.monotonic() - t0,
            )
        if status != "ok":
            raise SandboxError(str(value))
        return value

    def kill(self) -> None:
        try:
            self.proc.kill()  # its sandbox (bwrap --die-with-parent) and everything in it die with it
        except OSError:
            pass
        self.proc.wait()
        remove_cgroups_of(self.proc.pid)
        self.close()

    def ask(self, msg: tuple) -> object:
        self._send(msg)
        status, value = self._recv()
        if status != "ok":
            raise SandboxError(str(value))
        return value

    def close(self) -> None:
        for f in (self.out, self.inp):
            try:
                f.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _worker_main(fd_in: int, fd_out: int) -> None:
    inp, out = os.fdopen(fd_in, "rb"), os.fdopen(fd_out, "wb")
    sys.stdout = open(os.devnull, "w")  # test code may print; the protocol has its own pipe
    sandbox: Sandbox | None = None

    def started(op: str) -> Sandbox:
        if sandbox is None:
            raise SandboxError(f"a trusted judge worker was sent {op!r} before 'init'")
        return sandbox

    def reply(status: str, value: object) -> None:
        data = pickle.dumps((status, value))
        out.write(len(data).to_bytes(8, "big") + data)
        out.flush()

    try:
        while head := inp.read(8):
            msg = pickle.loads(inp.read(int.from_bytes(head, "big")))
            try:
                if msg[0] == "init":
                    sandbox = Sandbox(msg[1], allow_weak=msg[2])
                    _cap_own_memory(TRUSTED_MEMORY_MB)
                    reply("ok", dict(sandbox.layers))
                elif msg[0] == "judge":
                    try:
                        result = judge(started("judge"), msg[1], msg[2])
                    except MemoryError:
                        reply("memory", "")
                        break  # replaced: what the failed allocation left half-built is not reused
                    reply("ok", result)
                elif msg[0] == "layers":
                    reply("ok", dict(started("layers").layers))
            except SandboxError as e:
                reply("error", str(e))
    finally:
        if sandbox is not None:
            sandbox.close()


class JudgePool:
    """`workers` trusted worker processes, each with one warm Sandbox; `judge_many` keeps input order."""

    def __init__(self, limits: Limits, workers: int = 2, allow_weak: bool = False) -> None:
        self.limits, self.workers, self.allow_weak = limits, max(1, workers), allow_weak
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Worker(self.limits, self.allow_weak)

    def _give(self, w: _Worker) -> None:
        with self._lock:
            self._idle.append(w)

    def _one(self, job: tuple[JudgeSpec, str]) -> Judgement:
        w = self._take()
        try:
            result = w.judge(job[0], job[1], self.limits.timeout_s + TRUSTED_SLACK_S)
        except BaseException:
            w.close()
            raise
        if w.proc.poll() is None:
            self._give(w)
        return result

    def judge_many(self, specs: Sequence[JudgeSpec], sources: Sequence[str]) -> list[Judgement]:
        if not specs:
            return []
        with ThreadPoolExecutor(max_workers=min(self.workers, len(specs))) as ex:
            return list(ex.map(self._one, zip(specs, sources)))

    def layers(self) -> dict:
        w = self._take()
        try:
            value = w.ask(("layers",))
            if not isinstance(value, dict):
                raise SandboxError(f"a trusted judge worker answered 'layers' with a {type(value).__name__}")
            return value
        finally:
            self._give(w)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for w in idle:
            w.close()


def stdlib_module(name: str) -> bool:
    return name in sys.stdlib_module_names


if __name__ == "__main__":
    from formalpi.domains.code.judge import _worker_main as main  # the module's own classes, so they pickle by name

    main(int(sys.argv[1]), int(sys.argv[2]))
