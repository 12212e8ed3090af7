"""Run untrusted Python in a real sandbox: bubblewrap namespaces, a warm fork server, a fresh child per candidate.

A `Sandbox` is one bubblewrap container (`bwrap`, from the distribution; scripts/install-system-deps.sh installs
it) holding one warm fork server (formalpi/domains/code/server.py, sent as source: nothing of the project is mounted):
- new mount, PID, IPC, UTS and network namespaces; the filesystem holds only what the interpreter needs,
  read-only (its binary, the shared libraries it and its stdlib extension modules link, its stdlib with any
  site-packages masked), plus /proc, a minimal /dev and tmpfs; / is remounted read-only;
- per candidate, a child forked by the server that gets a FRESH mount and IPC namespace with empty,
  size-capped private tmpfs on /tmp and /dev/shm, its own session, rlimits (address space, CPU, processes,
  file size, open files, no core), OOM score 1000, (as root) a uid of its own with no capabilities, and a
  seccomp allowlist built with libseccomp (formalpi/domains/code/seccomp.py): the x86_64 ABI only (an `int 0x80` or x32
  syscall kills the process), no keyrings, namespaces, mounts, io_uring, bpf, ptrace...;
- after each candidate the server kills every other process of the PID namespace (kill(-1), repeated until
  none is left); bwrap, PID 1, reaps them: no zombies, no stragglers; the fresh namespaces die with them;
- the whole container sits in a cgroup (v2 where it is delegated, else v1 memory + pids controllers) with a
  memory and a process cap; with none, RLIMIT_NPROC on the leased uid and RLIMIT_AS per process hold instead;
- if the server dies (a candidate may not kill it: other uid, non-dumpable) the next session starts a new one.

`layers()` says which of these this machine gives; `weak_reasons()` what is missing. A Sandbox refuses to start
with missing layers unless `allow_weak=True`, and then records `weak: true` (the manifest and the tables say so).

The candidate's stdout/stderr are never the protocol: calls and answers travel on a dedicated socket per child
(see server.py); `Sandbox.run_program` runs a whole program and returns its capped output and exit status
(many programs over warm sandboxes: programs.py). Host probes: host.py; uid leases and cgroups: leases.py.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import resource
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from formalpi.domains.code import seccomp as code_seccomp
from formalpi.domains.code import wire
from formalpi.errors import SandboxError
from formalpi.domains.code.host import REQUIRED, bwrap_path, cgroup_layout, interpreter_files, weak_reasons
from formalpi.domains.code.leases import Cgroup, UidLease, wait_uid_gone

HERE = Path(__file__).resolve().parent
EXIT_SETUP, EXIT_MEMORY = 114, 113  # as in server.py
CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SYS_ADMIN", "CAP_KILL")  # the server's; its children drop all
SERVER_OVERHEAD_MB = 160  # the warm server (interpreter + preloaded stdlib) within the cgroup's memory cap
BWRAP_MISSING = (
    "bubblewrap (bwrap) is not installed: run `sudo apt-get install bubblewrap` (Debian/Ubuntu) or "
    "`sudo dnf install bubblewrap`, or scripts/install-system-deps.sh as root"
)


class RunStatus(str, Enum):
    PASSED = "passed"  # exited 0
    FAILED = "failed"  # exited non-zero (an uncaught exception, e.g. a failed assert)
    TIMEOUT = "timeout"  # wall-clock limit (we killed it) or CPU-time limit (SIGXCPU)
    MEMORY = "memory"  # address-space limit (MemoryError) or the cgroup's memory cap (OOM kill)
    CRASH = "crash"  # died by a signal (segfault, abort) or the sandbox could not start it
    KILLED = "killed"  # died by SIGKILL that was not our timeout (killed itself)


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # per candidate: loading plus every call (or the whole program)
    memory_mb: int = 1024  # per process (RLIMIT_AS) and, plus the server's share, the whole container (cgroup)
    max_procs: int = 32  # processes of one candidate (RLIMIT_NPROC on its uid; cgroup pids.max)
    file_mb: int = 16
    max_files: int = 256
    output_bytes: int = 64 * 1024  # per stream of a whole program, kept as head + tail
    tmpfs_mb: int = 64  # each of /tmp and /dev/shm


@dataclass
class RunResult:
    status: RunStatus
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    truncated: bool = False
    stragglers_killed: int = 0
    flags: dict[str, object] = field(default_factory=dict)  # the layers this run had

    @property
    def passed(self) -> bool:
        return self.status is RunStatus.PASSED

    @property
    def network_isolated(self) -> bool:
        return bool(self.flags.get("net_ns"))


@functools.lru_cache(maxsize=1)
def layers() -> dict[str, object]:
    """The isolation layers this machine gives a Sandbox (probed once by starting one)."""
    info: dict[str, object] = {"bwrap": None, "root": os.geteuid() == 0, "cgroup": cgroup_layout()}
    bwrap = bwrap_path()
    if bwrap:
        try:
            info["bwrap"] = (
                subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
                or "bwrap"
            )
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        with Sandbox(Limits(timeout_s=10.0), allow_weak=True) as sb:
            info.update(sb.layers)
    except SandboxError as e:
        info["error"] = str(e)
    return info


class _Reader:
    """Frames from one socket, with a byte cap and no blocking past a deadline."""

    def __init__(self, sock: socket.socket, cap: int = wire.MAX_FRAME, strict: bool = True) -> None:
        self.sock, self.cap, self.buf, self.eof = sock, cap, bytearray(), False
        self.strict = strict  # the candidate's channel: numbers refused; the server's control socket: plain JSON

    def pop(self) -> object | None:
        """The next complete frame's JSON (not yet decoded as values), or None."""
        if len(self.buf) < wire.HEADER.size:
            return None
        (n,) = wire.HEADER.unpack(self.buf[: wire.HEADER.size])
        if n > self.cap:
            raise wire.WireError(f"a frame of {n} bytes is over the {self.cap}-byte cap")
        if len(self.buf) < wire.HEADER.size + n:
            return None
        data = bytes(self.buf[wire.HEADER.size : wire.HEADER.size + n])
        del self.buf[: wire.HEADER.size + n]
        if self.strict:
            return wire.loads(data)
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as e:
            raise wire.WireError(f"control message not JSON: {e}") from None

    def fill(self) -> None:
        try:
            chunk = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk
        if len(self.buf) > self.cap + wire.HEADER.size:
            raise wire.WireError(f"more than {self.cap} bytes pending")


def _lift_soft_as_limit() -> None:
    """In the sandbox's first process: the trusted worker's own soft memory cap is not the sandbox's (its children
    set their own limits)."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def _send(sock: socket.socket, obj: object, fds: Sequence[int] = ()) -> None:
    data = wire.frame(wire.dumps(obj))
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)


def _server_source() -> str:
    return (
        (HERE / "wire.py").read_text()
        + "\n"
        + (HERE / "server.py").read_text()
        + "\nserve(int(sys.argv[1]), sys.argv[2] == '1', base64.b64decode(sys.argv[3]))\n"
    )


def _seccomp_bpf() -> tuple[str, str | None]:
    """(the allowlist as base64 for the server's argv, or "" with the reason it is missing)."""
    try:
        return base64.b64encode(code_seccomp.candidate_filter_bpf()).decode("ascii"), None
    except code_seccomp.SeccompUnavailable as e:
        return "", str(e)


# ---- one candidate child ----------------------------------------------------------------------------------------


class ChildGone(Exception):
    """The candidate's child ended (or was ended); `exit` says how: {"code": n} or {"signal": n}, and `reason`."""

    def __init__(self, reason: str, exit: dict | None = None) -> None:
        super().__init__(reason)
        self.reason, self.exit = reason, exit or {}


class Session:
    """One candidate, loaded in its own child; `call()` sends arguments and returns the decoded reply."""

    def __init__(self, sandbox: "Sandbox", chan: socket.socket, ident: int, deadline: float) -> None:
        self.sandbox, self.chan, self.id, self.deadline = sandbox, chan, ident, deadline
        self.reader = _Reader(chan)
        self.hello: dict = {}
        self.closed = False

    @property
    def exit(self) -> dict | None:
        """The server's report once the child is gone (and the sandbox swept), else None."""
        return self.sandbox._exits.get(self.id)

    def _next(self) -> dict:
        """The child's next frame; ChildGone when it ended, timed out, or sent something malformed."""
        sb = self.sandbox
        while True:
            msg = self.reader.pop()
            if msg is not None:
                if not isinstance(msg, dict):
                    raise wire.WireError("a reply that is not an object")
                return msg
            if self.reader.eof:
                raise ChildGone("crash", self._wait_exit(time.monotonic() + 5))
            if self.exit is not None:  # the child is gone: what it wrote before it died is all there is
                self.chan.setblocking(False)
                while not self.reader.eof:
                    before = len(self.reader.buf)
                    self.reader.fill()
                    if len(self.reader.buf) == before:
                        break
                msg = self.reader.pop()
                if isinstance(msg, dict):
                    return msg
                raise ChildGone("crash", self.exit)
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise ChildGone("timeout", self.end())
            ready, _, _ = select.select([self.chan, sb._ctl], [], [], left)
            if self.chan in ready:
                self.reader.fill()
            if sb._ctl in ready:
                sb._pump_ctl()
                if sb._ctl_reader.eof:
                    sb._dead = True
                    raise ChildGone("crash", {"server": "died"})

    def start(self) -> dict:
        """Wait for the child's hello and the load result: {"loaded": True} or {"load_error": [type, msg]}."""
        first = self._next()
        if "setup_error" in first:
            self.end()
            raise SandboxError(f"the sandbox could not isolate a candidate: {str(first['setup_error'])[:300]}")
        self.hello = first.get("hello") or {}
        return self._next()

    def call(self, name: str, args: list, kwargs: dict | None = None) -> dict:
        """Raises wire.Unserialisable for arguments that are not plain data."""
        _send(self.chan, {"call": name, "args": wire.encode(args), "kwargs": wire.encode(kwargs or {})})
        return self._next()

    def _wait_exit(self, deadline: float) -> dict:
        sb = self.sandbox
        while self.exit is None:
            if sb._ctl_reader.eof or sb._dead:
                sb._dead = True
                return {"server": "died"}
            left = deadline - time.monotonic()
            if left <= 0:
                sb._dead = True  # a server that does not answer is not reused
                return {"server": "unresponsive"}
            if select.select([sb._ctl], [], [], left)[0]:
                sb._pump_ctl()
        return self.exit

    def end(self, wait: bool = True) -> dict:
        """Kill the child (and every other process of the sandbox); with `wait`, return the server's report."""
        sb = self.sandbox
        if not self.closed:
            self.closed = True
            if self.exit is None and not sb._dead:
                try:
                    _send(sb._ctl, {"op": "end", "id": self.id})
                except OSError:
                    sb._dead = True
            self.chan.close()
            if sb._session is self:
                sb._session = None
        if wait and self.exit is None:
            return self._wait_exit(time.monotonic() + 10)
        return self.exit or {}


# ---- the sandbox -------------------------------------------------------------------------------------------------


class Sandbox:
    """One warm bubblewrap container with its fork server; one candidate at a time. Use as a context manager."""

    def __init__(self, limits: Limits | None = None, allow_weak: bool = False) -> None:
        self.limits = limits or Limits()
        self.allow_weak = allow_weak
        self.layers: dict[str, object] = {}
        self._proc: subprocess.Popen | None = None
        self._dead = True
        self._session: Session | None = None
        self._spare: Session | None = None  # a child isolated in advance, waiting for its program
        self._exits: dict[int, dict] = {}
        self._ids = 0
        self._lease = UidLease()
        self._cgroup: Cgroup | None = None
        self.starts = 0
        self._start()

    # -- life cycle
    def _start(self) -> None:
        self._stop()
        root = os.geteuid() == 0
        bwrap = bwrap_path()
        python, binds, symlinks, masks = interpreter_files()
        lim = self.limits
        uid = self._lease.uid or (self._lease.acquire() if root else None)
        layers: dict[str, object] = {"bwrap": bool(bwrap), "uid": uid is not None, "rlimits": True}
        ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cmd: list[str] = []
        if bwrap:
            cmd = [
                bwrap,
                "--die-with-parent",
                "--new-session",
                "--unshare-pid",
                "--unshare-ipc",
                "--unshare-uts",
                "--unshare-net",
                "--unshare-cgroup-try",
                "--hostname",
                "sandbox",
            ]
            if not root:
                cmd.append("--unshare-user")
            # the directories leading to the binds, traversable (e.g. /root is 0700 on the host when the
            # interpreter lives under it): the candidate's uid must reach its stdlib
            parents = sorted({str(p) for b in binds for p in Path(b).parents if str(p) != "/"})
            for d in parents:
                cmd += ["--perms", "0755", "--dir", d]
            for b in binds:
                cmd += ["--ro-bind", b, b]
            for link, target in symlinks:
                cmd += ["--symlink", target, link]
            for m in masks:
                cmd += ["--tmpfs", m]
            cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--remount-ro", "/", "--chdir", "/"]
            if root:
                cmd += ["--cap-drop", "ALL"] + [a for c in CAPS for a in ("--cap-add", c)]
            layers.update(mount_ns=True, pid_ns=True, ipc_ns=True, uts_ns=True, net_ns=True)
        bpf, no_seccomp = _seccomp_bpf()
        if no_seccomp:
            layers["seccomp_error"] = no_seccomp
        cmd += [python, "-I", "-S", "-B", "-c", _server_source(), str(theirs.fileno()), "1" if bwrap else "0", bpf]
        if not bwrap and not self.allow_weak:
            theirs.close()
            ctl.close()
            raise SandboxError(
                f"{BWRAP_MISSING}; or pass --allow-weak-sandbox (verify.allow_weak_sandbox = true) "
                "to run candidates with rlimits only"
            )
        layout = cgroup_layout() if root else None
        if layout:
            try:
                self._cgroup = Cgroup(
                    layout,
                    f"sbx-{os.getpid()}-{id(self):x}-{self.starts}",
                    (lim.memory_mb + SERVER_OVERHEAD_MB + 2 * lim.tmpfs_mb) << 20,
                    lim.max_procs + 8,
                )
                enter = " && ".join(f"echo $$ > {p}" for p in self._cgroup.procs_files())
                cmd = ["/bin/sh", "-c", f'{enter} && exec "$@"', "sh", *cmd]
                layers["cgroup"] = layout
            except OSError as e:
                layers["cgroup"] = None
                layers["cgroup_error"] = str(e)[:200]
                self._cgroup = None
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env={},
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
            close_fds=True,
            preexec_fn=_lift_soft_as_limit,
        )
        theirs.close()
        self._ctl = ctl
        self._ctl_reader = _Reader(ctl, cap=1 << 20, strict=False)
        self._dead = False
        self._spare, self._session, self._exits = None, None, {}
        self.starts += 1
        ready = self._read_ctl(time.monotonic() + 30)
        if not isinstance(ready, dict) or "ready" not in ready:
            err = self._server_stderr()
            self._stop()
            raise SandboxError(f"the sandbox server did not start: {err or ready}")
        self.uid = uid
        # probe: a child with every layer asked for says which it got
        self._fresh = bool(bwrap and root)
        probe = self.session("", timeout_s=10.0)
        probe.start()
        layers.update({k: v for k, v in probe.hello.items() if k != "uid"})
        layers["fresh_tmpfs_ipc"] = bool(probe.hello.get("fresh_tmpfs_ipc"))
        probe.end()
        for key in REQUIRED:  # every layer named, had or not (the report lists the missing ones)
            layers[key] = bool(layers.get(key))
        layers.setdefault("cgroup", None)
        if not layers.get("cgroup"):
            layers["limits_instead"] = (
                "RLIMIT_NPROC on the sandbox uid, RLIMIT_AS per process, tmpfs size caps"
                if layers.get("uid")
                else "RLIMIT_AS per process, tmpfs size caps"
            )
        layers["weak"] = bool(weak_reasons(layers))
        self.layers = layers
        if layers["weak"] and not self.allow_weak:
            self._stop()
            raise SandboxError(
                "the sandbox lacks "
                + "; ".join(weak_reasons(layers))
                + ". "
                + ("" if bwrap else BWRAP_MISSING + ". ")
                + (no_seccomp + ". " if no_seccomp else "")
                + "Pass --allow-weak-sandbox (verify.allow_weak_sandbox = true) to run candidate code "
                "anyway; every table then says the sandbox was weak."
            )

    def _server_stderr(self) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def _pump_ctl(self) -> None:
        """Read what the server sent; file each child's exit report under its id."""
        self._ctl_reader.fill()
        while (m := self._ctl_reader.pop()) is not None:
            if isinstance(m, dict) and isinstance(m.get("exited"), dict):
                self._exits[m["exited"].get("id")] = m["exited"]

    def _read_ctl(self, deadline: float) -> object | None:
        while True:
            m = self._ctl_reader.pop()
            if m is not None:
                return m
            if self._ctl_reader.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if select.select([self._ctl], [], [], left)[0]:
                self._ctl_reader.fill()

    def _stop(self) -> None:
        if self._proc is not None:
            try:
                _send(self._ctl, {"op": "quit"})
            except OSError:
                pass
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
            self._ctl.close()
            self._stderr.close()
            self._proc = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        self._dead = True

    def close(self) -> None:
        self._stop()
        if self.uid is not None:
            wait_uid_gone(self.uid)  # the PID namespace's teardown is asynchronous when bwrap was killed
        self._lease.release()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- candidates
    def _request(
        self, source: str | None, lim: Limits, mode: str, out_fds: Sequence[int], t: float, batch: list | None = None
    ) -> Session:
        self._ids += 1
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        req = {
            "op": "run",
            "id": self._ids,
            "source": source,
            "batch": batch,
            "mode": mode,
            "fresh_namespaces": self._fresh,
            "tmpfs_mb": lim.tmpfs_mb,
            "memory_mb": lim.memory_mb,
            "cpu_s": int(t) + 2,
            "file_mb": lim.file_mb,
            "max_files": lim.max_files,
            "max_procs": lim.max_procs,
            "uid": self.uid,
        }
        try:
            _send(self._ctl, req, [theirs.fileno(), *out_fds])
        finally:
            theirs.close()
        return Session(self, mine, self._ids, time.monotonic() + t)

    def session(
        self,
        source: str,
        timeout_s: float | None = None,
        mode: str = "call",
        out_fds: Sequence[int] = (),
        limits: Limits | None = None,
        batch: list | None = None,
    ) -> Session:
        """A fresh child for `source` (the spare one, isolated while the previous candidate finished, where it
        fits); the caller reads its load result with `start()` (call mode). `batch`: calls ([name, args, kwargs],
        tagged) the child answers right after loading, one frame each, before any other call."""
        if self._session is not None:
            self._session.end(wait=False)
        if self._dead:
            self._start()
        lim = limits or self.limits
        t = lim.timeout_s if timeout_s is None else timeout_s
        usual = mode == "call" and not out_fds and lim == self.limits
        if not usual and self._spare is not None:  # one child at a time: the spare would hold the queue
            self._spare.end(wait=False)
            self._spare = None
        s = None
        if usual and self._spare is not None:
            s, self._spare = self._spare, None
            try:
                _send(s.chan, {"source": source, "batch": batch})
                s.deadline = time.monotonic() + t
            except OSError:
                s.end(wait=False)
                s = None
        if s is None:
            s = self._request(source, lim, mode, out_fds, t, batch)
        if usual:  # queued: the server forks it once this child is gone and the sandbox swept
            self._spare = self._request(None, self.limits, "call", (), self.limits.timeout_s)
        self._session = s
        return s

    def oom_kills(self) -> int:
        return self._cgroup.oom_kills() if self._cgroup else 0

    def run_program(self, program: str, limits: Limits | None = None) -> RunResult:
        """Run a whole program (HumanEval's own program, a probe): exit status and capped output."""
        lim = limits or self.limits
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        readers = [
            _CappedReader(os.fdopen(out_r, "rb"), lim.output_bytes),
            _CappedReader(os.fdopen(err_r, "rb"), lim.output_bytes),
        ]
        for r in readers:
            r.start()
        oom_before = self.oom_kills()
        t0 = time.monotonic()
        try:
            s = self.session(program, timeout_s=lim.timeout_s, mode="program", out_fds=(out_w, err_w), limits=lim)
        finally:
            os.close(out_w)
            os.close(err_w)
        status = None
        try:
            msg = s._next()  # hello (or setup_error)
            if "setup_error" in msg:
                s.end()
                raise SandboxError(f"the sandbox could not isolate a program: {str(msg['setup_error'])[:300]}")
            s._next()  # a program sends nothing more: this returns when it exits
        except ChildGone as g:
            status = RunStatus.TIMEOUT if g.reason == "timeout" else None
        except wire.WireError:
            pass
        ex = s.end()
        duration = time.monotonic() - t0
        for r in readers:
            r.join(timeout=5)
        code = ex.get("code")
        sig = ex.get("signal")
        if status is None:
            if sig == signal.SIGXCPU:
                status = RunStatus.TIMEOUT
            elif code == 0:
                status = RunStatus.PASSED
            elif code == EXIT_MEMORY or (sig == signal.SIGKILL and self.oom_kills() > oom_before):
                status = RunStatus.MEMORY
            elif code == EXIT_SETUP or ex.get("server"):
                status = RunStatus.CRASH
            elif sig == signal.SIGKILL:
                status = RunStatus.KILLED
            elif sig is not None:
                status = RunStatus.CRASH
            else:
                status = RunStatus.FAILED
        rc = -sig if sig is not None else code
        return RunResult(
            status=status,
            returncode=rc,
            stdout=readers[0].text(),
            stderr=readers[1].text(),
            duration_s=duration,
            truncated=any(r.dropped for r in readers),
            stragglers_killed=int(ex.get("stragglers", 0) or 0),
            flags=dict(self.layers),
        )


class _CappedReader(threading.Thread):
    """Drain one pipe to EOF, keeping the first and last `cap/2` bytes: the program never blocks on output."""

    def __init__(self, stream, cap: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.half = stream, max(cap // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def run(self) -> None:
        while chunk := self.stream.read1(65536):
            room = self.half - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                if len(self.tail) > self.half:
                    self.dropped += len(self.tail) - self.half
                    del self.tail[: len(self.tail) - self.half]
        self.stream.close()

    def text(self) -> str:
        mid = f"\n...[{self.dropped} bytes dropped]...\n".encode() if self.dropped else b""
        return bytes(self.head + mid + self.tail).decode("utf-8", errors="replace")
