"""The sandbox (formalpi/domains/code/sandbox.py, host.py, leases.py, programs.py + server.py) and the wire format (wire.py).

Whole programs through `run` / `run_many`; the hostile corpus against the full verifier is tests/test_code_hostile.py.
"""

from __future__ import annotations

import collections
import os
import re
import textwrap

import psutil
import pytest

from formalpi.domains.code import wire
from formalpi.domains.code.leases import UID_BASE, UID_SLOTS, uid_is_leased
from formalpi.domains.code.programs import run, run_many
from formalpi.domains.code.sandbox import Limits, RunStatus, Sandbox
from formalpi.errors import SandboxError
from tests.conftest import skip_unless_full_sandbox

RAW = Limits(timeout_s=3.0, memory_mb=256, max_procs=32)


def sandbox_procs() -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["uids"]):
        uids = p.info["uids"]
        if uids and UID_BASE <= uids.real < UID_BASE + UID_SLOTS and not uid_is_leased(uids.real):
            out.append(p)
    return out


@pytest.fixture(scope="module")
def sb():
    skip_unless_full_sandbox()
    with Sandbox(RAW) as s:
        yield s
    assert sandbox_procs() == [], "a sandboxed process outlived its sandbox"


def probe(sb: Sandbox, src: str, limits: Limits = RAW):
    return sb.run_program(textwrap.dedent(src), limits)


# ---- the wire format: only plain typed data crosses ---------------------------------------------------------------


def test_wire_round_trips_exact_types():
    values = [
        None,
        True,
        0,
        -(2**300),
        1.5,
        float("inf"),
        1 - 2j,
        "é\udc80",
        b"\x00\xff",
        [1, (2, {3: frozenset({4})})],
        {1, 2},
        {"a": [1.0]},
        collections.Counter("aab"),
        collections.OrderedDict(a=1),
        collections.deque([1]),
    ]
    for v in values:
        back = wire.decode(wire.loads(wire.dumps(wire.encode(v))))
        assert back == v and type(back) is type(v)
    m = wire.decode(wire.loads(wire.dumps(wire.encode(re.search("b+", "abbc")))))
    assert m and m.group() == "bb" and m.span() == (1, 3)
    nan = wire.decode(wire.loads(wire.dumps(wire.encode(float("nan")))))
    assert nan != nan


def test_wire_refuses_subclasses_and_other_types():
    class AlwaysEqual(int):
        def __eq__(self, other):
            return True

    for v in (AlwaysEqual(1), object(), print, [1, [object()]], iter([object()]), type("S", (str,), {})("x")):
        with pytest.raises(wire.Unserialisable):
            wire.encode(v)
    # a list subclass and an iterator cross as their data only: the subclass's methods stay in the sandbox
    assert wire.encode(type("L", (list,), {"__eq__": lambda s, o: True})([1])) == ["l", [["i", "0x1"]]]
    assert wire.encode(map(str, [1])) == ["I", ["1"]]
    deep: list = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(wire.Unserialisable):
        wire.encode(deep)


@pytest.mark.parametrize(
    "raw",
    [
        b"1",
        b'["i", "12"]',
        b'["s", [["l", []]]]',
        b"[" * 100000,
        b'["f", "0x1p99999"]',
        b'{"a": 1}',
        b'["y", "***"]',
        b'["d", [[1]]]',
        b"NaN",
        b"\xff",
        b'["x", 1]',
        b'["m", "a", ["f", "0x0p+0"], ["i", "0x1"]]',
    ],
)
def test_wire_decoder_is_strict(raw):
    with pytest.raises(wire.WireError):
        wire.decode(wire.loads(raw))


def test_wire_caps_sizes():
    with pytest.raises(wire.WireError):
        wire.loads(b" " * (wire.MAX_FRAME + 1))


# ---- whole programs ----------------------------------------------------------------------------------------------


def test_passing_failing_and_typed_endings(sb):
    ok = probe(sb, "print('hello')")
    assert ok.status is RunStatus.PASSED and ok.stdout == "hello\n" and ok.returncode == 0
    bad = probe(sb, "assert 1 == 2, 'nope'")
    assert bad.status is RunStatus.FAILED and "AssertionError: nope" in bad.stderr
    assert probe(sb, "raise SystemExit(3)").returncode == 3
    assert probe(sb, "while True:\n    pass", Limits(timeout_s=1.0, memory_mb=256)).status is RunStatus.TIMEOUT
    assert probe(sb, "x = bytearray(1024 * 1024 * 1024)").status is RunStatus.MEMORY
    assert probe(sb, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)").status is RunStatus.KILLED
    assert probe(sb, "import ctypes\nctypes.string_at(0)").status is RunStatus.CRASH


def test_layers_recorded_on_every_result(sb):
    r = probe(sb, "pass")
    for key in ("mount_ns", "pid_ns", "ipc_ns", "uts_ns", "net_ns", "fresh_tmpfs_ipc", "uid", "seccomp_allowlist"):
        assert r.flags[key], key
    assert r.flags["weak"] is False and r.network_isolated


def test_the_seccomp_record_tells_the_truth(sb):
    """`seccomp_allowlist` is the child's own report of a loaded filter: the kernel's view agrees, and the filter
    is the allowlist (a denied syscall gets EPERM, an unknown one ENOSYS, another ABI is killed)."""
    r = probe(
        sb,
        """
        import ctypes, errno
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        print([ln for ln in open('/proc/self/status').read().splitlines() if ln.startswith('Seccomp')], flush=True)
        print(libc.syscall(250, 0, -4, 0), errno.errorcode[ctypes.get_errno()], flush=True)  # keyctl
        print(libc.syscall(253), errno.errorcode[ctypes.get_errno()], flush=True)  # inotify_init: not listed
        print(libc.syscall(0x40000000 | 39), flush=True)  # x32 getpid: killed
    """,
    )
    lines = r.stdout.splitlines()
    assert r.flags["seccomp_allowlist"] is True
    assert eval(lines[0]) == ["Seccomp:\t2", "Seccomp_filters:\t1"], lines[0]  # mode 2 = filter
    assert lines[1:3] == ["-1 EPERM", "-1 ENOSYS"] and len(lines) == 3
    assert r.returncode == -31  # SIGSYS


def test_filesystem_holds_only_the_interpreter(sb, tmp_path):
    (tmp_path / "visible.txt").write_text("secret")
    r = probe(
        sb,
        f"""
        import os, sys
        print(sorted(os.listdir('/')))
        print(os.path.exists({str(tmp_path)!r}), os.path.exists({os.getcwd()!r}), os.path.exists('/etc/passwd'))
        print(os.listdir('/tmp'), os.getcwd())
        import csv, unittest, sqlite3, doctest  # the stdlib beyond what the server preloads is reachable
        site = [p for p in sys.path if p.endswith('site-packages')]
        print([os.listdir(p) for p in site if os.path.isdir(p)])
        try:
            open(os.__file__, 'a')
        except OSError as e:
            print(type(e).__name__)
    """,
    )
    lines = r.stdout.splitlines()
    assert set(eval(lines[0])) <= {"usr", "lib", "lib64", "root", "proc", "dev", "tmp", "bin", "opt", "home"}
    assert lines[1] == "False False False"
    assert lines[2] == "[] /tmp"
    assert all(x == [] for x in eval(lines[3]))  # site-packages masked
    assert lines[4] in ("OSError", "PermissionError")


def test_huge_output_is_capped(sb):
    r = probe(
        sb,
        """
        import sys
        for _ in range(2000):
            sys.stdout.write('x' * 10000)
        print('END')
    """,
        Limits(timeout_s=5.0, memory_mb=256, output_bytes=4096),
    )
    assert r.status is RunStatus.PASSED and r.truncated and len(r.stdout) < 4096 + 100
    assert r.stdout.startswith("xxx") and r.stdout.rstrip().endswith("END")


def test_fork_bomb_is_capped_and_swept(sb):
    r = probe(
        sb,
        """
        import os, time
        n = 0
        for _ in range(200):
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                n += 1
            except OSError:
                break
        print(n)
    """,
        Limits(timeout_s=3.0, memory_mb=256, max_procs=16),
    )
    assert r.status is RunStatus.PASSED
    assert int(r.stdout) < 16  # RLIMIT_NPROC on the sandbox's uid (and the cgroup's pids.max)
    assert r.stragglers_killed >= int(r.stdout)
    after = probe(sb, "import os\nprint([p for p in os.listdir('/proc') if p.isdigit()])")
    assert len(eval(after.stdout)) == 3  # bwrap (pid 1), the server, this child


def test_tmpfs_is_fresh_per_candidate_and_capped(sb):
    r = probe(
        sb,
        """
        import os
        try:
            open('/tmp/big', 'wb').write(b'x' * (200 * 1024 * 1024))
        except OSError as e:
            print(e.errno)
        open('/dev/shm/left', 'w').write('x')
    """,
        Limits(timeout_s=5.0, memory_mb=512, file_mb=512, tmpfs_mb=16),
    )
    assert r.stdout.strip() == "28"  # ENOSPC: the tmpfs size cap
    nxt = probe(sb, "import os\nprint(os.listdir('/tmp'), os.listdir('/dev/shm'))")
    assert nxt.stdout.strip() == "[] []"


def test_parent_and_server_cannot_be_harmed(sb):
    probe(
        sb,
        f"""
        import os, signal
        for pid in (1, 2, {os.getpid()}, -1):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError as e:
                print(type(e).__name__)
    """,
    )
    assert psutil.pid_exists(os.getpid())
    assert probe(sb, "print('still serving')").stdout == "still serving\n"


def test_run_many_keeps_order():
    progs = [f"print({i})" for i in range(6)] + ["raise SystemExit(3)"]
    res = run_many(progs, workers=2, limits=RAW)
    assert [r.stdout.strip() for r in res[:6]] == [str(i) for i in range(6)]
    assert res[6].status is RunStatus.FAILED and res[6].returncode == 3
    assert run("print(6 * 7)", timeout_s=5).stdout == "42\n"


def test_missing_layers_refuse_unless_allowed(monkeypatch):
    import formalpi.domains.code.sandbox as sbx

    monkeypatch.setattr(sbx, "bwrap_path", lambda: None)
    with pytest.raises(SandboxError, match="bubblewrap.*--allow-weak-sandbox"):
        Sandbox(RAW)
    with Sandbox(RAW, allow_weak=True) as weak:
        assert weak.layers["weak"] is True and not weak.layers.get("pid_ns")
        r = weak.run_program("print('ran')")
        assert r.status is RunStatus.PASSED and r.stdout == "ran\n" and r.flags["weak"] is True


def test_memory_of_the_whole_sandbox_is_capped(sb):
    """Forked children each under RLIMIT_AS but together over the sandbox's cap: the cgroup's OOM killer ends
    some of them (the candidate's, OOM score 1000), never the server."""
    if not sb.layers.get("cgroup"):
        pytest.skip("no writable cgroup here: RLIMIT_NPROC x RLIMIT_AS bounds the total instead")
    r = probe(
        sb,
        """
        import os, time
        kids = []
        for _ in range(8):
            pid = os.fork()
            if pid == 0:
                x = bytearray(200 * 1024 * 1024)
                for i in range(0, len(x), 4096):
                    x[i] = 1
                time.sleep(0.5)
                os._exit(0)
            kids.append(pid)
        killed = sum(os.WIFSIGNALED(os.waitpid(k, 0)[1]) for k in kids)
        print(killed)
    """,
        Limits(timeout_s=20.0, memory_mb=256, max_procs=16, tmpfs_mb=16),
    )
    assert r.status is RunStatus.PASSED, r.stderr
    assert int(r.stdout) >= 1  # 8 x 200 MiB does not fit the cap: memory_mb + the server's share + 2 tmpfs
    assert probe(sb, "print('server alive')").stdout == "server alive\n"
