"""A REPL test double: a real subprocess speaking the leanprover-community/repl protocol on stdin/stdout.

    python -m formalpi.lean.double [--transcripts DIR] [--mathlib-checks DIR] [--latency-ms MS |
        --latency-from DIR --latency-scale X] [--header-ms MS] [--grow-mb MB] [--unknown error|ok] [--seed N]

It exists because no Lean toolchain can be installed here. What it answers, and from where:

RECORDED (real Lean behaviour):
  * `--transcripts DIR`: every (request, reply) pair of the REPL's own test suite (`X.in` / `X.expected.out`
    under DIR, recursively). A command is looked up by its `cmd` text (or `path`), a tactic by (tactic,
    proofState); the recorded reply is returned with its `env` renumbered to this session's counter.
  * `--mathlib-checks DIR` (`input/*.lean`, `output/*.json` of kimina-lean-server): a command whose code after
    the header equals a recorded file (comments and whitespace ignored) gets the recorded messages, after the
    recorded `time` (times `--latency-scale`); a recorded "Lean process timed out" becomes a hang.
  * `--replies FILE`: known replies for the canary suite (formalpi/lean/canaries/replies.jsonl), looked up
    by exact `cmd`; each row says in `provenance` whether its format is recorded or written to match real Lean.
  * Input that starts with `#` or `--` gets no reply at all; `{"cmd": ..., "env": N}` with an unknown N gets
    `{"message": "Unknown environment."}` (both as the real REPL does).

SCRIPTED (pool mechanics, not Lean):
  * the header (a `cmd` starting with `import`, no env) answers `{"env": k}` after `--header-ms`.
  * `#print axioms NAME`: answers from what this session declared: the axioms named by a `double:axioms=a,b`
    marker, else `sorryAx` if the declaration had a sorry, else propext/Classical.choice/Quot.sound.
    The message text follows Lean's ("'X' depends on axioms: [...]" / "unknown constant 'X'").
  * markers anywhere in a cmd (put them in a comment): `double:hang` (never answers), `double:crash` (writes
    half a reply and exits 3), `double:exit` (exits without a byte), `double:malformed` (a non-JSON frame), `double:replerror`
    (a `{"message": ...}` REPL error),
    `double:grow=MB` (keeps MB more memory), `double:sleep=MS`, `double:ok` (answers success), `double:error`.
  * per-command latency: fixed `--latency-ms`, or sampled (seeded) from the recorded `time` fields under
    `--latency-from DIR` (times `--latency-scale`); memory growth of `--grow-mb` per command.
  * UNKNOWN input (not recorded, no marker): real Lean's answer cannot be known, so the double says so: with
    `--unknown error` (default) an error message "formalpi double: no recorded reply ..."; with `--unknown ok`
    a scripted success `{"env": k}` (benchmarks of pool mechanics only; never evidence that a proof is valid).
Standard library only, so that it starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from pathlib import Path

STANDARD_AXIOMS = ["propext", "Classical.choice", "Quot.sound"]
_SORRY = re.compile(r"declaration uses ['`]sorry['`]")


def _blocks(text: str) -> list[str]:
    return [b.strip() for b in re.split(r"\n[ \t]*\n", text) if b.strip()]


def code_key(text: str) -> str:
    """Lean code with comments and all whitespace removed: how recorded Mathlib checks are matched."""
    text = re.sub(r"/-.*?-/", "", text, flags=re.S)
    text = re.sub(r"--[^\n]*", "", text)
    return re.sub(r"\s+", "", text)


def _decl_part(text: str) -> str:
    """The code from the first declaration on (drops a header of import/set_option/open lines)."""
    m = re.search(r"(?m)^(?:@\[[^\]]*\]\s*)?(?:theorem|lemma|example)\b", text)
    return text[m.start():] if m else text


def load_transcripts(root: Path) -> tuple[dict, dict]:
    """(commands, tactics): request key -> recorded reply, from every X.in / X.expected.out pair under root."""
    cmds: dict[str, dict] = {}
    tactics: dict[tuple[str, int], dict] = {}
    for inp in sorted(root.rglob("*.in")):
        out = inp.with_name(inp.name[:-3] + ".expected.out")
        if not out.exists():
            continue
        reqs = [json.loads(b, strict=False) for b in _blocks(inp.read_text()) if not b.startswith(("#", "--"))]
        reps = [json.loads(b, strict=False) for b in _blocks(out.read_text())]
        if len(reqs) != len(reps):
            continue  # unpaired recording: skip rather than guess
        for req, rep in zip(reqs, reps):
            if "cmd" in req:
                cmds.setdefault("cmd:" + req["cmd"], rep)
            elif "path" in req:
                cmds.setdefault("path:" + req["path"], rep)
            elif "tactic" in req:
                tactics.setdefault((req["tactic"], req.get("proofState", -1)), rep)
    return cmds, tactics


def load_mathlib_checks(root: Path) -> dict[str, tuple[dict, float, bool]]:
    """code key -> (recorded response without `time`, recorded seconds, timed out)."""
    table: dict[str, tuple[dict, float, bool]] = {}
    for out in sorted((root / "output").glob("*.json")):
        src = root / "input" / (out.stem + ".lean")
        if not src.exists():
            continue
        result = json.loads(out.read_text())["results"][0]
        resp = dict(result.get("response") or {})
        seconds = float(resp.pop("time", 0.0) or 0.0)
        timed_out = "timed out" in str(result.get("error") or "")
        table[code_key(_decl_part(src.read_text()))] = (resp, seconds, timed_out)
    return table


def recorded_times(root: Path) -> list[float]:
    times = []
    for out in sorted(Path(root).rglob("*.json")):
        resp = json.loads(out.read_text())["results"][0].get("response") or {}
        if isinstance(resp.get("time"), (int, float)):
            times.append(float(resp["time"]))
    return times


def load_replies(path: Path) -> dict[str, dict]:
    """`--replies FILE` (jsonl of {cmd, reply, axioms?, hang?}): known replies for the canary suite
    (formalpi/lean/canaries/replies.jsonl, whose `provenance` field says which are recorded formats and which
    are written to match real Lean); they take precedence over the transcripts."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["cmd"]: r for r in rows}


class Double:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.cmds, self.tactics = load_transcripts(Path(args.transcripts)) if args.transcripts else ({}, {})
        self.checks = load_mathlib_checks(Path(args.mathlib_checks)) if args.mathlib_checks else {}
        self.times = recorded_times(Path(args.latency_from)) if args.latency_from else []
        self.replies = load_replies(Path(args.replies)) if args.replies else {}  # --replies (canary suite)
        self.env = 0
        self.axioms: dict[str, list[str]] = {}
        self.ballast: list[bytes] = []

    def write(self, obj: dict | str) -> None:
        text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, indent=1)
        sys.stdout.write(text + "\n\n")
        sys.stdout.flush()

    def latency(self) -> float:
        if self.times:
            return self.rng.choice(self.times) * self.args.latency_scale
        return self.args.latency_ms / 1000.0

    def new_env(self) -> int:
        self.env += 1
        return self.env - 1

    def handle(self, block: str) -> None:
        try:
            req = json.loads(block, strict=False)
        except json.JSONDecodeError as e:
            self.write({"message": f"Could not parse JSON:\n{e}"})
            return
        if "tactic" in req:
            rep = self.tactics.get((req["tactic"], req.get("proofState", -1)))
            self.write(rep if rep is not None else
                       {"message": "formalpi double: no recorded reply for this tactic (scripted)"})
            return
        if "env" in req and not (isinstance(req["env"], int) and 0 <= req["env"] < self.env):
            self.write({"message": "Unknown environment."})
            return
        cmd = req.get("cmd")
        if cmd is None:
            rep = self.cmds.get("path:" + str(req.get("path")))
            self.write(self._renumber(rep) if rep else {"message": "formalpi double: no recorded reply (scripted)"})
            return
        self.command(cmd, "env" in req)

    def _renumber(self, rep: dict) -> dict:
        rep = dict(rep)
        if "env" in rep:
            rep["env"] = self.new_env()
        return rep

    def command(self, cmd: str, has_env: bool) -> None:
        m = re.match(r"\s*#print\s+axioms\s+(\S+)\s*$", cmd)
        if m:
            self.write({"messages": [self._axioms_message(m.group(1))], "env": self.new_env()})
            return
        marks = dict(re.findall(r"double:(\w+)(?:=([\w.,]+))?", cmd))
        if "hang" in marks:
            time.sleep(10**6)
        if "exit" in marks:
            os._exit(4)
        if "crash" in marks:
            sys.stdout.write('{"env": 7, "messages": [{"severity": "err')
            sys.stdout.flush()
            os._exit(3)
        if "replerror" in marks:
            self.write({"message": "scripted REPL error (double:replerror marker)"})
            return
        if "malformed" in marks:
            self.write("this is not JSON")
            return
        grow = float(marks.get("grow") or 0) + self.args.grow_mb
        if grow:
            self.ballast.append(b"x" * int(grow * 2**20))  # touched bytes: they count in RSS
        if cmd.lstrip().startswith("import") and not has_env:
            time.sleep(self.args.header_ms / 1000.0)
            self.write({"env": self.new_env()})
            return
        delay = float(marks["sleep"]) / 1000.0 if marks.get("sleep") else self.latency()
        rep: dict | None = None
        known = self.replies.get(cmd)
        if known is not None and known.get("hang"):
            time.sleep(10**6)
        check = self.checks.get(code_key(cmd)) if self.checks else None
        if check is not None:
            resp, seconds, timed_out = check
            if timed_out:
                time.sleep(10**6)  # recorded: the real check ran past the server's limit
            delay = seconds * self.args.latency_scale
            rep = {k: v for k, v in resp.items() if k in ("messages", "sorries")}
        elif "ok" in marks:
            rep = {}
        elif "error" in marks:
            rep = {"messages": [self._error("scripted error (double:error marker)")]}
        elif known is not None:
            rep = dict(known["reply"])
        elif "cmd:" + cmd in self.cmds:
            rep = {k: v for k, v in self.cmds["cmd:" + cmd].items() if k != "env"}
        elif self.args.unknown == "ok":
            rep = {}
        else:
            rep = {"messages": [self._error("formalpi double: no recorded reply for this input; real Lean's "
                                            "answer is unknown (scripted error)")]}
        if delay:
            time.sleep(delay)
        self._remember_axioms(cmd, rep, marks.get("axioms"))
        if known is not None and "axioms" in known:
            for name in re.findall(r"(?:theorem|lemma)\s+([^\s:({\[]+)", cmd):
                self.axioms[name] = list(known["axioms"])
        rep["env"] = self.new_env()
        self.write(rep)

    @staticmethod
    def _error(text: str) -> dict:
        return {"severity": "error", "pos": {"line": 1, "column": 0}, "endPos": {"line": 1, "column": 1},
                "data": text}

    def _remember_axioms(self, cmd: str, rep: dict, marked: str | None) -> None:
        if any(m.get("severity") == "error" for m in rep.get("messages", [])):
            return
        sorry = bool(rep.get("sorries")) or any(_SORRY.search(m.get("data", "")) for m in rep.get("messages", []))
        axioms = marked.split(",") if marked else (["sorryAx"] if sorry else STANDARD_AXIOMS)
        for name in re.findall(r"(?:theorem|lemma)\s+([^\s:({\[]+)", cmd):
            self.axioms[name] = axioms

    def _axioms_message(self, name: str) -> dict:
        pos = {"pos": {"line": 1, "column": 0}, "endPos": {"line": 1, "column": 6}}
        if name not in self.axioms:
            return {"severity": "error", **pos, "data": f"unknown constant '{name}'"}
        axioms = self.axioms[name]
        text = (f"'{name}' depends on axioms: [{', '.join(axioms)}]" if axioms
                else f"'{name}' does not depend on any axioms")
        return {"severity": "info", **pos, "data": text}

    def serve(self) -> None:
        lines: list[str] = []
        for line in sys.stdin:
            if line.strip():
                lines.append(line)
                continue
            if not lines:
                continue
            block, lines = "".join(lines).strip(), []
            if block.startswith(("#", "--")):
                continue  # the real REPL never answers these
            self.handle(block)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m formalpi.lean.double", description=__doc__.splitlines()[0])
    ap.add_argument("--transcripts")
    ap.add_argument("--mathlib-checks")
    ap.add_argument("--replies")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--latency-from")
    ap.add_argument("--latency-scale", type=float, default=1.0)
    ap.add_argument("--header-ms", type=float, default=0.0)
    ap.add_argument("--grow-mb", type=float, default=0.0)
    ap.add_argument("--unknown", choices=["error", "ok"], default="error")
    ap.add_argument("--seed", type=int, default=0)
    Double(ap.parse_args(argv)).serve()


if __name__ == "__main__":
    main()
