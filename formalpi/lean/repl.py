"""One leanprover-community/repl process, driven with pexpect over pipes.

Why pipes (pexpect.fdpexpect over subprocess pipes) and not a pty: a pty in canonical mode truncates input lines
longer than 4096 bytes (a long proof is one JSON line), echoes input, and merges stderr into the replies.
Framing: a request is one JSON object on one line followed by a blank line; a reply is JSON (possibly over
several lines) followed by a blank line. A JSON request starts with `{`, so it is never the raw `#`/`--` input
the REPL silently skips. The process runs in its own process group (so `lake env` and the repl under it die
together), stderr is drained by a thread (kept as a short tail for crash reports), and every wait has a
wall-clock limit: on timeout the group is killed. Crash, EOF, empty or malformed replies are typed outcomes.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any

import pexpect
import psutil
from pexpect import fdpexpect

from formalpi.errors import LeanUnavailable
from formalpi.lean.protocol import CommandRequest, Reply, TacticRequest, parse_reply


def rss_mb(procs: Sequence[psutil.Process]) -> float:
    """Resident memory of `procs` together, in MiB (a process that has exited counts 0)."""
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


class Outcome(str, Enum):
    OK = "ok"  # a reply was read and parsed
    TIMEOUT = "timeout"  # no complete reply within the limit; the process group was killed
    CRASH = "crash"  # the process died (EOF) before a complete reply
    MALFORMED = "malformed"  # a complete frame that is not a JSON object; the process was killed (out of sync)


@dataclass
class ReplResult:
    outcome: Outcome
    reply: Reply | None = None
    raw: str = ""
    elapsed_s: float = 0.0
    detail: str = ""  # for non-OK outcomes: what happened (exit code, stderr tail, bad text)


def _limit_address_space(mb: int | None):
    def preexec() -> None:
        if mb:
            resource.setrlimit(resource.RLIMIT_AS, (mb * 2**20, mb * 2**20))

    return preexec


class LeanRepl:
    """One REPL process. Not thread-safe: one request at a time (the pool guarantees it); `terminate` may be
    called from another thread (it only signals the process group)."""

    READ_SIZE = 1 << 20

    def __init__(
        self,
        argv: Sequence[str],
        cwd: str | Path,
        *,
        address_space_mb: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv, self.cwd = list(argv), Path(cwd)
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # own process group: killing it takes `lake env` and the repl
                preexec_fn=_limit_address_space(address_space_mb),
                env={**os.environ, **(env or {})},
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as e:
            raise LeanUnavailable(
                f"cannot start the Lean REPL {self.argv} in {self.cwd}: {e}. Set LeanConfig.repl_command / "
                f"project_dir, or run `formalpi lean setup` (then `formalpi lean doctor`)."
            ) from None
        self.pid = self.proc.pid
        if self.proc.stdin is None or self.proc.stdout is None or self.proc.stderr is None:
            raise AssertionError("subprocess.Popen with stdin/stdout/stderr=PIPE gave no pipe")
        self._stdin: IO[bytes] = self.proc.stdin
        self._stdout: IO[bytes] = self.proc.stdout
        self._stderr: IO[bytes] = self.proc.stderr
        # pexpect for the waiting (poll with a timeout, EOF, incremental UTF-8 decoding); framing is ours
        self._out = fdpexpect.fdspawn(
            self._stdout.fileno(), encoding="utf-8", codec_errors="replace", maxread=self.READ_SIZE, use_poll=True
        )
        self._pending = ""  # bytes read after the end of the last reply
        self._frame: list[str] = []
        self._line: list[str] = []
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._tree: list[psutil.Process] | None = None
        self._rss_calls = 0
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()

    def _drain_stderr(self) -> None:
        # Why: an undrained stderr pipe fills (64 KiB) and blocks the REPL forever.
        for raw in iter(self._stderr.readline, b""):
            self._stderr_tail.append(raw.decode("utf-8", "replace").rstrip())

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr_tail)

    def rss_mb(self) -> float:
        """Resident memory of the whole process tree (lake env + repl), in MiB; 0 if it is gone."""
        # Why a cached tree: psutil's children() scans all of /proc (~5 ms); memory_info() is ~50 µs.
        self._rss_calls += 1
        if self._tree is None or self._rss_calls % 16 == 0:
            try:
                root = psutil.Process(self.pid)
                self._tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                return 0.0
        return rss_mb(self._tree)

    def send(self, request: CommandRequest | TacticRequest | dict[str, Any], timeout_s: float) -> ReplResult:
        """Send one request and wait (at most `timeout_s` wall-clock seconds) for its reply."""
        obj = request if isinstance(request, dict) else request.to_wire()
        line = json.dumps(obj, ensure_ascii=False)
        assert line.startswith("{") and "\n" not in line  # one line, never `#`/`--` (the REPL would not answer)
        t0 = time.monotonic()
        try:
            self._stdin.write((line + "\n\n").encode("utf-8"))
            self._stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as e:
            return self._died(t0, "", f"write failed: {e}")
        try:
            text = self._read_frame(t0 + timeout_s)
        except pexpect.TIMEOUT:
            partial = "".join(self._frame) + "".join(self._line)
            self.kill()
            return ReplResult(
                Outcome.TIMEOUT,
                raw=partial[-2000:],
                elapsed_s=time.monotonic() - t0,
                detail=f"no reply within {timeout_s:g}s; process group killed",
            )
        except pexpect.EOF:
            return self._died(t0, ("".join(self._frame) + "".join(self._line))[-2000:], "the REPL closed its output")
        except (OSError, ValueError) as e:  # its pipe was closed under us (killed by the pool's close())
            return self._died(t0, "", f"reading the reply failed: {e}")
        elapsed = time.monotonic() - t0
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            reply = parse_reply(obj)
        except ValueError as e:  # json and pydantic errors both subclass ValueError
            self.kill()
            return ReplResult(
                Outcome.MALFORMED,
                raw=text,
                elapsed_s=elapsed,
                detail=f"unparseable reply ({e}); process killed: {text[:200]!r}",
            )
        return ReplResult(Outcome.OK, reply=reply, raw=text, elapsed_s=elapsed)

    def _read_frame(self, deadline: float) -> str:
        """The next reply: lines up to a blank line, read in chunks and split where they arrive.

        Why not `expect(blank line)`: pexpect searches its whole buffer after every read, so a reply of n bytes
        costs O(n^2) (a 10 MB reply took 29 s and held the GIL from the other workers); here each byte is
        looked at once. Raises pexpect.TIMEOUT / EOF as `expect` did."""
        self._frame, self._line = [], []
        chunk, self._pending = self._pending, ""
        while True:
            start = 0
            while True:
                nl = chunk.find("\n", start)
                if nl < 0:
                    break
                self._line.append(chunk[start:nl])
                start = nl + 1
                line = "".join(self._line)
                self._line = []
                if line.strip():
                    self._frame.append(line)
                elif self._frame:  # a blank line ends a reply (JSON strings never hold a raw newline)
                    self._pending = chunk[start:]
                    return "\n".join(self._frame)
            if start < len(chunk):
                self._line.append(chunk[start:])
            left = deadline - time.monotonic()
            if left <= 0:
                raise pexpect.TIMEOUT("deadline passed")
            chunk = self._out.read_nonblocking(self.READ_SIZE, timeout=left)

    def command(self, cmd: str, env: int | None, timeout_s: float) -> ReplResult:
        return self.send(CommandRequest(cmd=cmd, env=env), timeout_s)

    def _died(self, t0: float, partial: str, why: str) -> ReplResult:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        self._drain.join(timeout=1)
        tail = self.stderr_tail()
        return ReplResult(
            Outcome.CRASH,
            raw=partial,
            elapsed_s=time.monotonic() - t0,
            detail=f"{why} (exit code {code}){'; stderr: ' + tail[-500:] if tail else ''}",
        )

    def terminate(self) -> None:
        """SIGKILL the process group without touching the pipes: safe while another thread reads (it sees EOF)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        """Kill the whole process group and reap it. Idempotent."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self._stdin, self._stdout):
            try:
                f.close()
            except OSError:
                pass

    close = kill

    def __enter__(self) -> LeanRepl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
