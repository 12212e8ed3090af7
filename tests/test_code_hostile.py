"""The hostile corpus (tests/data/code_hostile/*.py) against the code verifier, one test per class of attack.

Every program answers the `add(a, b)` problem below wrongly unless its attack works, so VALID = a false pass.
Each runs in the same warm sandbox as a CANARY that follows it: a correct `add` that fails if the previous
candidate left anything (files in /tmp or /dev/shm, SysV or POSIX IPC objects, processes, a bound abstract
socket) or if forking and allocating no longer work. On the host: no process, file or IPC object of a sandbox
uid survives, nothing was written outside the sandbox, the listening socket was never reached, and no secret or
project text reaches the feedback shown to the model.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from pathlib import Path

import psutil
import pytest

from formalpi.domains.code.domain import CodeDomain, CodeSettings
from formalpi.domains.code.host import weak_reasons
from formalpi.domains.code.leases import UID_BASE, UID_SLOTS, uid_is_leased
from formalpi.domains.code.sandbox import Limits, layers
from formalpi.records import Problem, Status

CORPUS = Path(__file__).parent / "data" / "code_hostile"
REPO = Path(__file__).resolve().parent.parent
TOKEN = "FORMALPI-SECRET-7f3a9c"

pytestmark = pytest.mark.usefixtures("full_sandbox")

ADD = Problem(
    id="hostile/add",
    domain="code",
    text='def add(a, b):\n    """Return a + b."""\n',
    split="test",
    meta={
        "dataset": "humaneval",
        "entry_point": "add",
        "tests": [],
        "test": (
            "def check(candidate):\n"
            "    import math\n"
            "    assert candidate(2, 3) == 5\n"
            "    assert abs(candidate(-1.5, 0.5) - (-1.0)) < 1e-09\n"
            "    assert set([candidate(4, 1)]) == {5} and len([candidate(4, 1)]) == 1\n"
            "    assert all(candidate(i, 1) == i + 1 for i in range(3))\n"
            "    assert math.isclose(candidate(0.1, 0.2), 0.30000000000000004)\n"
            "    assert candidate(1, 1) == 2 and isinstance(candidate(1, 1), int)\n"
        ),
    },
)

CANARY = r"""
import ctypes, os, socket
def _leftovers():
    bad = []
    for d in ("/tmp", "/dev/shm"):
        if os.listdir(d):
            bad.append("files in %s: %s" % (d, os.listdir(d)[:5]))
    for f in ("shm", "msg", "sem"):
        if open("/proc/sysvipc/" + f).read().splitlines()[1:]:
            bad.append("SysV " + f)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mq_open(b"/formalpi-hostile-mq", os.O_RDONLY, 0, None) != -1:
        bad.append("POSIX mqueue")
    keys = [ln for ln in open("/proc/keys") if " user " in ln or " logon " in ln]
    if keys:
        bad.append("keys %s" % keys[:2])
    procs = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())]
    if procs:
        bad.append("processes %s" % procs)
    kids = []
    for _ in range(8):  # the process count was not left used up (zombies)
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        kids.append(pid)
    for k in kids:
        os.waitpid(k, 0)
    s = socket.socket(socket.AF_UNIX)
    s.bind("\0formalpi-hostile-listener")  # fails if a straggler still holds it
    s.close()
    x = bytearray(200 * 1024 * 1024)  # memory was given back
    del x
    return bad
BAD = _leftovers()
def add(a, b):
    if BAD:
        raise RuntimeError("leftovers: %s" % BAD)
    return a + b
"""


def corpus() -> dict[str, list[tuple[str, str]]]:
    by_class: dict[str, list[tuple[str, str]]] = {}
    for f in sorted(CORPUS.glob("*.py")):
        text = f.read_text()
        cls = re.match(r"# class: (\w+)", text).group(1)
        by_class.setdefault(cls, []).append((f.stem, text))
    return by_class


CLASSES = sorted(corpus())


class _Listener:
    """A unix socket in the host's /tmp and an abstract one: the sandbox must not reach either."""

    def __init__(self, tmp: Path) -> None:
        self.path = str(tmp / "listener.sock")
        self.abstract = f"formalpi-hostile-{os.getpid()}"
        self.hits = 0
        self.socks = []
        for addr in (self.path, "\0" + self.abstract):
            s = socket.socket(socket.AF_UNIX)
            s.bind(addr)
            s.listen()
            s.settimeout(0.2)
            self.socks.append(s)
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop:
            for s in self.socks:
                try:
                    c, _ = s.accept()
                    self.hits += 1
                    c.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        for s in self.socks:
            s.close()


@pytest.fixture(scope="module")
def domain():
    d = CodeDomain(CodeSettings(workers=1), limits=Limits(timeout_s=4.0, memory_mb=512, max_procs=32, tmpfs_mb=32))
    yield d
    d.close()


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile-secret")
    (d / "secret.txt").write_text(TOKEN)
    os.chmod(d, 0o777)  # world-writable: only the mount namespace keeps the candidate out
    os.chmod(d / "secret.txt", 0o666)
    return d


def _sandbox_uid(uid: int) -> bool:
    """A sandbox uid that no live sandbox holds: anything of it is a leftover. (Other processes on this machine
    may run sandboxes of their own meanwhile, under leased uids of the same range.)"""
    return UID_BASE <= uid < UID_BASE + UID_SLOTS and not uid_is_leased(uid)


def host_leftovers() -> list[str]:
    out = []
    for p in psutil.process_iter(["uids", "status"]):
        if p.info["uids"] and _sandbox_uid(p.info["uids"].real):
            out.append(f"process {p.pid} ({p.info['status']})")
    for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock"):
        try:
            for e in os.scandir(d):
                if _sandbox_uid(e.stat(follow_symlinks=False).st_uid):
                    out.append(f"file {e.path}")
        except OSError:
            pass
    for f in ("shm", "msg", "sem"):
        lines = Path(f"/proc/sysvipc/{f}").read_text().splitlines()
        head = lines[0].split()
        col = head.index("uid")
        out += [f"SysV {f}: {ln.split()[1]}" for ln in lines[1:] if _sandbox_uid(int(ln.split()[col]))]
    for ln in Path("/proc/key-users").read_text().splitlines():  # keys are per host uid: they outlive a sandbox
        uid = int(ln.split(":")[0])
        if _sandbox_uid(uid):
            out += [f"key of uid {uid}: {k}" for k in _keys_of(uid)]
    return out


def _keys_of(uid: int) -> list[str]:
    """The keys `uid` can see (/proc/keys read as that uid), less its empty per-user keyrings (the kernel keeps
    those for the machine's lifetime once looked up; empty, they carry nothing)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.write(w, Path("/proc/keys").read_bytes())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        text = f.read().decode()
    os.waitpid(pid, 0)
    return [ln for ln in text.splitlines() if not re.search(rf"keyring\s+_uid(_ses)?\.{uid}: empty$", ln)]


def fill(code: str, secrets: Path, listener: _Listener) -> str:
    secret = str(secrets / "secret.txt")
    for k, v in (
        ("{SECRET!r}", repr(secret)),
        ("{SECRET_DIR!r}", repr(str(secrets))),
        ("{REPO!r}", repr(str(REPO))),
        ("{SOCK!r}", repr(listener.path)),
        ("{ABSTRACT!r}", repr(listener.abstract)),
        ("{SECRET}", secret),
        ("{TOKEN}", TOKEN),
    ):
        code = code.replace(k, v)
    return code


def test_the_corpus_is_big_enough():
    assert sum(len(v) for v in corpus().values()) >= 40
    assert {
        "forged_reporting",
        "namespace_poisoning",
        "always_equal",
        "reading_files",
        "sockets",
        "writable_dirs",
        "run_lock",
        "ipc",
        "fork_bomb_zombies",
        "memory",
        "fill_tmpfs",
        "beyond",
    } <= set(CLASSES)


def test_isolation_layers_active_here():
    got = layers()
    assert weak_reasons(got) == [], got
    assert got["bwrap"] and got["pid_ns"] and got["fresh_tmpfs_ipc"] and got["uid"] and not got["weak"]


@pytest.mark.parametrize("cls", CLASSES)
def test_hostile_class(cls, domain, secrets_dir, tmp_path):
    listener = _Listener(tmp_path)
    progs = corpus()[cls]
    try:
        codes = []
        for _, code in progs:
            codes += [fill(code, secrets_dir, listener), CANARY]
        verdicts = domain.verify_many([ADD] * len(codes), codes)
    finally:
        listener.close()
        domain.close()  # the warm sandbox (and its spare child) ends: on the host, nothing may remain
    project_text = (REPO / "formalpi" / "domains" / "code" / "domain.py").read_text()[:400]
    for (name, _), hostile, canary in zip(progs, verdicts[0::2], verdicts[1::2]):
        assert hostile.status is not Status.VALID, f"{name}: false pass"
        shown = hostile.feedback + hostile.reason
        assert TOKEN not in shown and project_text[:80] not in shown and "def check" not in shown, (
            f"{name}: leaked into the feedback: {shown[:300]}"
        )
        assert canary.status is Status.VALID, f"{name}: the next run was affected: {canary.feedback}"
    assert listener.hits == 0
    assert sorted(p.name for p in secrets_dir.iterdir()) == ["secret.txt"]
    assert (secrets_dir / "secret.txt").read_text() == TOKEN
    assert host_leftovers() == []
    assert psutil.pid_exists(os.getpid())


def test_feedback_names_what_happened(domain):
    """Typed per test: the reason a hostile program failed is stated, not guessed."""
    cases = {
        "def add(a, b):\n    class E:\n        pass\n    return E()\n": "not plain data: __main__.add.<locals>.E",
        "def add(a, b):\n    raise ValueError('nope')\n": "ValueError: nope",
        "def add(a, b):\n    while True:\n        pass\n": "Timed out.",
        "import ctypes\ndef add(a, b):\n    ctypes.string_at(0)\n": "killed by signal 11",
        "def add(a, b):\n    return a - b\n": "AssertionError",
    }
    verdicts = domain.verify_many([ADD] * len(cases), list(cases))
    for (code, expected), v in zip(cases.items(), verdicts):
        assert expected in v.feedback, (code, v.feedback)
        assert v.feedback.startswith("assert candidate(2, 3) == 5\n")
    assert [v.status for v in verdicts] == [Status.WRONG, Status.WRONG, Status.TIMEOUT, Status.CRASH, Status.WRONG]
