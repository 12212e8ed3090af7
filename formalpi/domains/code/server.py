"""The in-sandbox side: a warm fork server that runs ONE candidate per child and answers calls. Untrusted side.

Not imported by the project: `formalpi.domains.code.sandbox` sends this file's source (after `formalpi/domains/code/wire.py`'s) as
`python -I -S -c SOURCE` into the sandbox, where nothing of the project is on the filesystem. Stdlib only.

The server (trusted code, but living in the sandbox) holds a control socket to the trusted side:
  {"op": "run", "source", "mode": "call"|"program", ...limits} + fds [channel, (stdout, stderr)] -> fork a child
  {"op": "end"}  -> kill the child and everything else in the sandbox's PID namespace
  {"op": "quit"} -> exit (the sandbox's PID namespace ends with it)
and reports {"exited": {...}} once per child, after sweeping every other process of the namespace.

A child, before any candidate code runs: own session; a fresh mount namespace with empty private tmpfs on /tmp
and /dev/shm (size-capped) and a fresh IPC namespace (so files, SysV/POSIX IPC die with it); OOM score 1000;
rlimits; a uid of its own with no capabilities (where the server runs as root); the seccomp allowlist
(x86_64 only, compiled by libseccomp on the trusted side and passed to the server in its argv); stdin/stdout/stderr to
/dev/null or the given pipes; every other fd closed. It then execs the candidate in a fresh `__main__` and,
in "call" mode, answers {"call": name, "args": [...]} frames on its channel with {"ret": value} /
{"raised": [type, message]} / {"unserialisable": type}. Everything the child sends is untrusted: the trusted
side parses it strictly (wire.decode) and decides.
"""

import builtins
import ctypes
import gc
import json
import os
import resource
import select
import signal
import socket
import sys
import time
import types

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
PR_SET_DUMPABLE = 4
EXIT_SETUP = 114  # the child could not set up its isolation: it never ran candidate code
EXIT_MEMORY = 113
MESSAGE_CHARS = 300  # an exception's message, capped (it may reach a prompt)
PRELOAD = (
    "math",
    "re",
    "collections",
    "itertools",
    "functools",
    "heapq",
    "bisect",
    "string",
    "typing",
    "operator",
    "copy",
    "random",
    "fractions",
    "decimal",
    "hashlib",
    "datetime",
    "statistics",
    "cmath",
    "traceback",
)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def send(sock, obj, fds=()):
    data = frame(dumps(obj))
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def recv(sock, with_fds=False):
    fds = []
    if with_fds:
        data, fds, _flags, _addr = socket.recv_fds(sock, HEADER.size, 8)
        if not data:
            raise EOFError
        data = data + recv_exact(sock, HEADER.size - len(data)) if len(data) < HEADER.size else data
    else:
        data = recv_exact(sock, HEADER.size)
    (n,) = HEADER.unpack(data)
    if n > MAX_FRAME:
        raise EOFError
    data = recv_exact(sock, n)
    # control requests come from the trusted side (plain JSON); the channel carries tagged values only
    return (json.loads(data) if with_fds else loads(data)), fds


# ---- the child: one candidate ------------------------------------------------------------------------------


def _install_filter(bpf):
    """Load the seccomp allowlist (a BPF program compiled by libseccomp on the trusted side: formalpi/domains/code/seccomp.py)
    for this process and all it starts; irrevocable. Nothing is loaded where the trusted side sent none."""
    if not bpf:
        return False

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(bpf, len(bpf))
    fprog = Prog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(_libc.prctl(38, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(_libc.prctl(22, 2, ctypes.byref(fprog), 0, 0), "prctl(SECCOMP)")
    return True


def _isolate(req, bpf):
    """Everything before candidate code; returns the layers achieved (reported to the trusted side)."""
    got = {}
    os.setsid()
    if req["fresh_namespaces"]:
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare(NEWNS|NEWIPC)")
        _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        opts = ("size=%dm,mode=1777,nr_inodes=%d" % (req["tmpfs_mb"], 4096)).encode()
        for where in (b"/tmp", b"/dev/shm"):
            _check(_libc.mount(b"tmpfs", where, b"tmpfs", MS_NOSUID | MS_NODEV, opts), "mount tmpfs")
        got["fresh_tmpfs_ipc"] = True
    try:
        with open("/proc/self/oom_score_adj", "w") as f:  # the OOM killer takes the candidate, not the server
            f.write("1000")
    except OSError:
        pass
    mb = 1024 * 1024
    limits = {
        resource.RLIMIT_AS: req["memory_mb"] * mb,
        resource.RLIMIT_CPU: req["cpu_s"],
        resource.RLIMIT_FSIZE: req["file_mb"] * mb,
        resource.RLIMIT_NOFILE: req["max_files"],
        resource.RLIMIT_CORE: 0,
    }
    if req["uid"] is not None:  # RLIMIT_NPROC counts per uid: meaningful with a uid of its own
        limits[resource.RLIMIT_NPROC] = req["max_procs"]
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))
    got["rlimits"] = True
    if req["uid"] is not None:
        os.setgroups([])
        os.setgid(req["uid"])
        os.setuid(req["uid"])
        got["uid"] = str(os.getuid())
    got["seccomp_allowlist"] = _install_filter(bpf)
    os.chdir("/tmp")
    os.umask(0o022)
    return got


def _message(exc):
    try:
        msg = str(exc)
    except BaseException:  # noqa: B036 - a candidate's __str__ may raise anything
        msg = "<unprintable>"
    return msg[:MESSAGE_CHARS]


def _type_of(exc):
    return getattr(type(exc), "__name__", "?")[:80]


def _answer_calls(chan, namespace):
    while True:
        try:
            msg, _ = recv(chan)
        except (EOFError, OSError):
            os._exit(0)
        if "batch" in msg:  # calls sent ahead: one reply each, in order
            for name, args, kwargs in msg["batch"]:
                _answer(chan, namespace, name, decode(args), decode(kwargs))
        else:
            _answer(chan, namespace, msg["call"], decode(msg["args"]), decode(msg["kwargs"]))


def _answer(chan, namespace, name, args, kwargs):
    mutable = (list, dict, set)
    fn = namespace.get(name)
    if fn is None:
        send(chan, {"raised": ["NameError", "name %r is not defined" % name]})
        return
    before = {i: encode(a) for i, a in enumerate(args) if type(a) in mutable}
    try:
        result = fn(*args, **kwargs)
    except MemoryError:
        send(chan, {"raised": ["MemoryError", ""]})
        return
    except BaseException as e:  # noqa: B036 - every exception is the candidate's answer, typed
        send(chan, {"raised": [_type_of(e), _message(e)]})
        return
    try:
        ret = encode(result)
        after = {}
        for i, enc in before.items():
            now = encode(args[i])
            if now != enc:
                after[str(i)] = now
    except Unserialisable as u:
        send(chan, {"unserialisable": str(u)[:200]})
        return
    except (RecursionError, MemoryError):
        send(chan, {"unserialisable": "a value too deep or too big to send"})
        return
    send(chan, {"ret": ret, "after": after})


def child(req, fds, bpf):
    chan = socket.socket(fileno=fds[0])
    try:
        layers = _isolate(req, bpf)
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(fds[1] if len(fds) > 1 else null, 1)
        os.dup2(fds[2] if len(fds) > 2 else null, 2)
        os.closerange(3, chan.fileno())
        os.closerange(chan.fileno() + 1, 65536)
    except BaseException as e:  # noqa: B036
        try:
            send(chan, {"setup_error": "%s: %s" % (type(e).__name__, e)})
        finally:
            os._exit(EXIT_SETUP)
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    sys.argv = ["<candidate>"]
    send(chan, {"hello": layers})
    source, batch = req["source"], req.get("batch")
    if source is None:  # a spare child, isolated in advance: its program comes on the channel
        try:
            msg, _ = recv(chan)
            source, batch = msg["source"], msg.get("batch")
        except (EOFError, OSError, KeyError, TypeError):
            os._exit(0)
    try:
        code = compile(source, "<candidate>", "exec")
        exec(code, main.__dict__)
    except MemoryError:
        if req["mode"] == "program":
            os.write(2, b"MemoryError\n")
            os._exit(EXIT_MEMORY)
        send(chan, {"load_error": ["MemoryError", ""]})
        os._exit(0)
    except SystemExit as e:
        if req["mode"] == "program":
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            sys.stdout.flush()
            os._exit(code & 0xFF)
        send(chan, {"load_error": ["SystemExit", _message(e)]})
        os._exit(0)
    except BaseException as e:  # noqa: B036
        if req["mode"] == "program":
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        send(chan, {"load_error": [_type_of(e), _message(e)]})
        os._exit(0)
    if req["mode"] == "program":
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(0)
    send(chan, {"loaded": True})
    for name, args, kwargs in batch or ():  # calls sent with the program: answered before any other
        _answer(chan, main.__dict__, name, decode(args), decode(kwargs))
    _answer_calls(chan, main.__dict__)


# ---- the server ------------------------------------------------------------------------------------------


def _others():
    me = os.getpid()
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, me):
            out.append(int(name))
    return out


def sweep(pid_namespace, child_pid):
    """Kill every process of the sandbox but pid 1 (bwrap, the reaper) and this server; count them."""
    killed = set()
    if not pid_namespace:  # no PID namespace (weak mode): the child's session only
        try:
            os.killpg(child_pid, signal.SIGKILL)
        except OSError:
            pass
        return 0
    deadline = time.monotonic() + 5
    quiet = 0
    while time.monotonic() < deadline:
        left = _others()
        if not left:
            quiet += 1
            if quiet == 2:  # a process mid-fork can be missed once
                break
            continue
        quiet = 0
        killed.update(left)
        try:
            os.kill(-1, signal.SIGKILL)  # every process we may signal in this namespace but init and ourselves
        except OSError:
            pass
        _reap()
        time.sleep(0.001)
    return len(killed - {child_pid})


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _describe(status):
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"code": os.WEXITSTATUS(status)}


def serve(control_fd, pid_namespace, bpf=b""):
    try:
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no ptrace, no /proc/<server>/mem for a same-uid child
    except Exception:  # noqa: BLE001
        pass
    for m in PRELOAD:  # warm: a candidate's imports of these cost nothing
        try:
            __import__(m)
        except ImportError:
            pass
    # the warm heap is shared copy-on-write with every child: a collection in a child would touch (and copy)
    # all of it; frozen objects are never traversed
    gc.collect()
    gc.freeze()
    ctl = socket.socket(fileno=control_fd)
    send(ctl, {"ready": {"pid": os.getpid(), "uid": os.getuid(), "python": sys.version.split()[0]}})
    live = None  # (id, pid, pidfd) of the one live child
    pending = []  # (request, fds) queued: a child is forked only after the previous one is gone and swept

    def start(req, fds):
        pid = os.fork()
        if pid == 0:
            try:
                ctl.close()
                child(req, fds, bpf)
            finally:
                os._exit(EXIT_SETUP)
        for fd in fds:
            os.close(fd)
        return (req["id"], pid, os.pidfd_open(pid))

    while True:
        if live is None and pending:
            live = start(*pending.pop(0))
        waiting = [ctl] + ([live[2]] if live is not None else [])
        ready, _, _ = select.select(waiting, [], [])
        if live is not None and live[2] in ready:
            _, status = os.waitpid(live[1], 0)
            os.close(live[2])
            n = sweep(pid_namespace, live[1])
            send(ctl, {"exited": dict(_describe(status), stragglers=n, id=live[0])})
            live = None
            continue
        try:
            req, fds = recv(ctl, with_fds=True)
        except (EOFError, OSError):
            if live is not None:
                sweep(pid_namespace, live[1])
            os._exit(0)
        op = req.get("op")
        if op == "run":
            pending.append((req, fds))
            continue
        for fd in fds:
            os.close(fd)
        if op == "end":
            if live is not None and live[0] == req.get("id"):
                try:
                    os.kill(live[1], signal.SIGKILL)
                except OSError:
                    pass
            for i, (r, f) in enumerate(pending):
                if r["id"] == req.get("id"):
                    for fd in f:
                        os.close(fd)
                    del pending[i]
                    send(ctl, {"exited": {"cancelled": True, "stragglers": 0, "id": r["id"]}})
                    break
        elif op == "quit":
            if live is not None:
                sweep(pid_namespace, live[1])
            os._exit(0)
