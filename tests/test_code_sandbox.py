"""Hostile programs against the sandbox: each is contained, the parent is unaffected, nothing is left behind.

Probes run with the reliability guard OFF so that the real layers (uid, rlimits, namespace, session kill) are
what is tested; the guard is tested separately.
"""

from __future__ import annotations

import os
import textwrap
import time

import psutil
import pytest

from domains.code_sandbox import UID_BASE, UID_SLOTS, Limits, RunStatus, run, run_many, sandbox_python

RAW = Limits(timeout_s=3.0, memory_mb=256, max_procs=32, guard=False)
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="uid and network isolation need root")


def sandbox_procs() -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["uids"]):
        uids = p.info["uids"]
        if uids and UID_BASE <= uids.real < UID_BASE + UID_SLOTS and p.status() != psutil.STATUS_ZOMBIE:
            out.append(p)
    return out


@pytest.fixture(autouse=True)
def nothing_left_behind():
    me = os.getpid()
    yield
    assert psutil.pid_exists(me)
    assert sandbox_procs() == [], "a sandboxed process outlived its run"


def probe(src: str, limits: Limits = RAW):
    return run(textwrap.dedent(src), limits=limits)


def test_passing_and_failing_programs():
    ok = probe("print('hello')")
    assert ok.status is RunStatus.PASSED and ok.stdout == "hello\n" and ok.returncode == 0
    bad = probe("assert 1 == 2, 'nope'")
    assert bad.status is RunStatus.FAILED and "AssertionError: nope" in bad.stderr
    assert bad.duration_s < 3


@ROOT_ONLY
def test_isolation_flags_recorded():
    r = probe("pass")
    assert r.uid_isolated and r.network_isolated
    assert r.flags["python"] == sandbox_python()[0]


def test_infinite_loop_times_out():
    t = time.monotonic()
    r = probe("while True:\n    pass", Limits(timeout_s=1.0, memory_mb=256, guard=False))
    assert r.status is RunStatus.TIMEOUT
    assert time.monotonic() - t < 5


def test_memory_hog_hits_the_limit():
    r = probe("x = bytearray(1024 * 1024 * 1024)")
    assert r.status is RunStatus.MEMORY


def test_deep_recursion_is_contained():
    r = probe("""
        import sys
        sys.setrecursionlimit(10 ** 7)
        def f(n):
            return f(n + 1) + 1
        f(0)
    """, Limits(timeout_s=2.0, memory_mb=256, guard=False))
    assert r.status in (RunStatus.FAILED, RunStatus.MEMORY, RunStatus.CRASH, RunStatus.TIMEOUT)
    assert r.status is not RunStatus.PASSED


def test_huge_output_is_capped():
    r = probe("""
        import sys
        for _ in range(2000):
            sys.stdout.write('x' * 10000)
        print('END')
    """, Limits(timeout_s=5.0, memory_mb=256, output_bytes=4096, guard=False))
    assert r.status is RunStatus.PASSED
    assert r.truncated and len(r.stdout) < 4096 + 100
    assert r.stdout.startswith("xxx") and r.stdout.rstrip().endswith("END")


@ROOT_ONLY
def test_fork_bomb_is_capped_and_cleaned():
    r = probe("""
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
    """, Limits(timeout_s=3.0, memory_mb=256, max_procs=16, guard=False))
    assert r.status is RunStatus.PASSED
    assert int(r.stdout) < 16  # RLIMIT_NPROC stopped it
    assert r.stragglers_killed >= int(r.stdout)  # the sleeping children were killed after the run


@ROOT_ONLY
def test_writing_outside_the_workdir_is_refused(tmp_path):
    target = tmp_path / "pwned.txt"
    r = probe(f"""
        import os
        open('inside.txt', 'w').write('ok')  # the fresh working directory is writable
        print(os.getcwd())
        open({str(target)!r}, 'w').write('pwned')
    """)
    assert r.status is RunStatus.FAILED and "PermissionError" in r.stderr
    assert not target.exists()
    assert not os.path.exists(r.stdout.strip())  # the working directory was removed afterwards


@ROOT_ONLY
def test_files_left_in_shared_tmp_dirs_are_removed():
    name = f"formalpi-probe-{os.getpid()}"
    r = probe(f"""
        open('/tmp/{name}.txt', 'w').write('x')
        import os
        os.makedirs('/var/tmp/{name}/deep')
        print('wrote')
    """)
    assert r.status is RunStatus.PASSED and r.stdout == "wrote\n"
    assert not os.path.exists(f"/tmp/{name}.txt") and not os.path.exists(f"/var/tmp/{name}")
    assert r.flags["tmp_files_removed"] == 2


def test_file_size_limit():
    r = probe("open('big', 'wb').write(b'x' * (64 * 1024 * 1024))",
              Limits(timeout_s=3.0, memory_mb=512, file_mb=1, guard=False))
    # Python ignores SIGXFSZ, so the write fails with EFBIG instead of the process dying
    assert r.status is RunStatus.FAILED and "File too large" in r.stderr


@ROOT_ONLY
def test_parent_environment_is_not_readable(monkeypatch):
    monkeypatch.setenv("FORMALPI_SECRET_PROBE", "s3cret")
    r = probe(f"""
        import os
        print(dict(os.environ))
        try:
            print(open('/proc/{os.getpid()}/environ', 'rb').read())
        except OSError as e:
            print('refused', type(e).__name__)
    """)
    assert r.status is RunStatus.PASSED
    assert "s3cret" not in r.stdout
    # empty but for the LC_CTYPE that Python's own locale coercion (PEP 538) sets in the child
    assert r.stdout.splitlines()[0] in ("{}", "{'LC_CTYPE': 'C.UTF-8'}")
    assert "refused PermissionError" in r.stdout  # /proc/<parent>/environ belongs to another uid


@ROOT_ONLY
def test_network_is_unreachable():
    r = probe("""
        import socket
        socket.create_connection(('1.1.1.1', 53), timeout=2)
    """)
    assert r.status is RunStatus.FAILED
    assert "Network is unreachable" in r.stderr or "OSError" in r.stderr


@ROOT_ONLY
def test_killing_the_parent_is_refused():
    r = probe(f"""
        import os, signal
        os.kill({os.getpid()}, signal.SIGKILL)
    """)
    assert r.status is RunStatus.FAILED and "PermissionError" in r.stderr
    assert psutil.pid_exists(os.getpid())


def test_killing_itself_is_reported_as_killed():
    r = probe("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert r.status is RunStatus.KILLED


@ROOT_ONLY
def test_daemonised_child_is_killed():
    r = probe("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
            os._exit(0)
        print('parent done')
    """)
    assert r.status is RunStatus.PASSED
    assert r.duration_s < 3
    assert r.stragglers_killed >= 1


@ROOT_ONLY
def test_setsid_escape_that_keeps_the_pipe_is_killed():
    # the escaped child keeps stdout open: without killing it by uid the reader would wait forever
    r = probe("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            while True:
                print('still here', flush=True)
                time.sleep(0.05)
        print('leader exits')
    """)
    assert r.status is RunStatus.PASSED
    assert r.stragglers_killed >= 1


def test_guard_disables_destructive_calls():
    r = probe("import os\nos.system('true')", Limits(timeout_s=3.0, memory_mb=256, guard=True))
    assert r.status is RunStatus.FAILED and "NoneType" in r.stderr


def test_run_many_keeps_order_and_bounds_workers():
    progs = [f"print({i})" for i in range(8)] + ["raise SystemExit(3)"]
    res = run_many(progs, workers=2, limits=RAW)
    assert [r.stdout.strip() for r in res[:8]] == [str(i) for i in range(8)]
    assert res[8].status is RunStatus.FAILED and res[8].returncode == 3


def test_without_network_namespace_it_still_runs_and_says_so(monkeypatch):
    import domains.code_sandbox as sbx

    monkeypatch.setattr(sbx, "network_namespace_prefix", lambda: [])
    r = probe("print('ran')")
    assert r.status is RunStatus.PASSED and r.stdout == "ran\n"
    assert r.network_isolated is False and r.flags["network_isolated"] is False


def test_without_a_usable_sandbox_uid_it_still_runs_and_says_so(monkeypatch):
    import sys

    import domains.code_sandbox as sbx

    monkeypatch.setattr(sbx, "sandbox_python", lambda: (sys.executable, False))
    r = probe("import os\nprint(os.getuid() == os.geteuid())")
    assert r.status is RunStatus.PASSED and r.stdout == "True\n"
    assert r.uid_isolated is False
