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
  * the verifier's checks appended to a proof command (ASSUMED to match Lean v4.24, not recorded): the proof
    part is answered as any command; then `example : T := @_root_.N` gives nothing when the double's reading of
    N's declaration (`∀ binders, type`, whitespace-normalised, binder names up to renaming) is T, else a "type mismatch" error at that line
    ("unknown identifier" when nothing declared N); each `#print axioms _root_.N` gives one info message at
    its own line (column 0), as Lean's `#print axioms` logs at the `#print` token. `trace "TEXT"` in a proof
    gives an info message TEXT at its line (Lean's `trace` tactic). Recorded kimina messages are moved up by
    the header's line count (kimina counted from the file's top).
  * markers `double:bigreply=MB` (adds one info message of MB megabytes) and `double:envskew=K` (answers
    with an env number K too high), for the reader and request/reply matching tests.
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
    return text[m.start() :] if m else text


_CHECK_EXAMPLE = re.compile(r"\n\nexample : (?P<type>.*?) := @_root_\.(?P<name>\S+)\n*\Z", re.S)
_CHECK_AXIOMS = re.compile(r"\n#print axioms (?P<name>\S+)\n*\Z")


def split_checks(cmd: str) -> tuple[str, list[tuple[int, str, str]]]:
    """(proof part, checks): the verifier appends `example : T := @_root_.N` and `#print axioms _root_.N` lines
    after the proof; each check is (line, "type"|"axioms", what it names)."""
    checks: list[tuple[int, str, str]] = []
    rest = cmd
    while True:
        m = _CHECK_AXIOMS.search(rest)
        if not m:
            break
        checks.append((rest[: m.start()].count("\n") + 2, "axioms", m.group("name")))
        rest = rest[: m.start()]
    m = _CHECK_EXAMPLE.search(rest)
    if m:
        checks.append((rest[: m.start()].count("\n") + 3, "type", m.group("type") + "\x00" + m.group("name")))
        rest = rest[: m.start()]
    return rest.rstrip(), sorted(checks)


def _declared(code: str) -> list[str]:
    return re.findall(r"(?:theorem|lemma)\s+([^\s:({\[]+)", code)


def _signatures(code: str) -> dict[str, str]:
    """name -> `∀ binders, type` of every `theorem`/`lemma` in code (bracket depth counted; comments ignored)."""
    out = {}
    code = re.sub(r"--[^\n]*", "", re.sub(r"/-.*?-/", " ", code, flags=re.S))
    for m in re.finditer(r"(?:theorem|lemma)\s+([^\s:({\[]+)", code):
        depth, colon, i = 0, None, m.end()
        while i < len(code):
            c = code[i]
            if c in "([{⟨⦃":
                depth += 1
            elif c in ")]}⟩⦄":
                depth -= 1
            elif c == ":" and depth == 0:
                if code.startswith(":=", i):
                    break
                if colon is None:
                    colon = i
            i += 1
        if colon is None:
            continue
        binders, typ = code[m.end() : colon].strip(), code[colon + 1 : i].strip()
        typ = re.sub(r"\s*:=\s*$", "", typ)
        out[m.group(1)] = f"∀ {binders}, {typ}" if binders else typ
    return out


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_BINDER_GROUP = re.compile(r"[(\[{⦃]\s*([^():\[\]{}⦃⦄]+?)\s*:")
_NAME_CHARS = r"[\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ]"


def _alpha(sig: str) -> str:
    """`∀ binders, type` with the binder names renamed in order (`x`, `h₀` → `_b0`, `_b1`): Lean's `isDefEq`
    identifies alpha-equivalent types, so a restatement that only renames its hypotheses has the same type."""
    if not sig.startswith("∀ ") or ", " not in sig:
        return _norm(sig)
    names: list[str] = []
    binders = sig[2 : sig.index(", ")] if sig.count(",") else ""
    for m in _BINDER_GROUP.finditer(binders):
        names += [n for n in m.group(1).split() if n not in names]
    out = sig
    for k, n in enumerate(names):
        out = re.sub(f"(?<!{_NAME_CHARS}){re.escape(n)}(?!{_NAME_CHARS})", f"_b{k}", out)
    return _norm(out)


def _traces(proof: str) -> list[dict]:
    """`trace "TEXT"` in a proof logs TEXT as an info message at that line (as Lean's `trace` tactic does)."""
    out = []
    for m in re.finditer(r'\btrace\s+"((?:[^"\\]|\\.)*)"', proof):
        line = proof[: m.start()].count("\n") + 1
        col = m.start() - (proof.rfind("\n", 0, m.start()) + 1)
        out.append(
            {
                "severity": "info",
                "pos": {"line": line, "column": col},
                "endPos": {"line": line, "column": col + 5},
                "data": json.loads(f'"{m.group(1)}"'),
            }
        )
    return out


def _shift(value, lines: int):
    """Recorded kimina messages count lines from the file's top; ours from the theorem: move them up."""
    if not lines or not isinstance(value, list):
        return value
    out = []
    for item in value:
        item = json.loads(json.dumps(item))
        for key in ("pos", "endPos"):
            if isinstance(item.get(key), dict):
                item[key]["line"] = max(1, item[key]["line"] - lines)
        out.append(item)
    return out


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


def load_mathlib_checks(root: Path) -> dict[str, tuple[dict, float, bool, int]]:
    """code key -> (recorded response without `time`, recorded seconds, timed out, header lines)."""
    table: dict[str, tuple[dict, float, bool, int]] = {}
    for out in sorted((root / "output").glob("*.json")):
        src = root / "input" / (out.stem + ".lean")
        if not src.exists():
            continue
        result = json.loads(out.read_text())["results"][0]
        resp = dict(result.get("response") or {})
        seconds = float(resp.pop("time", 0.0) or 0.0)
        timed_out = "timed out" in str(result.get("error") or "")
        text = src.read_text()
        decl = _decl_part(text)
        table[code_key(decl)] = (resp, seconds, timed_out, text[: len(text) - len(decl)].count("\n"))
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
            self.write(
                rep if rep is not None else {"message": "formalpi double: no recorded reply for this tactic (scripted)"}
            )
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
            self.write({"messages": [self._axioms_message(m.group(1), 1)], "env": self.new_env()})
            return
        proof, checks = split_checks(cmd)
        marks = dict(re.findall(r"double:(\w+)(?:=([\w.,]+))?", proof))
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
        if proof.lstrip().startswith("import") and not has_env:
            time.sleep(self.args.header_ms / 1000.0)
            self.write({"env": self.new_env()})
            return
        delay = float(marks["sleep"]) / 1000.0 if marks.get("sleep") else self.latency()
        rep: dict | None = None
        known = self.replies.get(proof)
        if known is not None and known.get("hang"):
            time.sleep(10**6)
        check = self.checks.get(code_key(proof)) if self.checks else None
        if check is not None:
            resp, seconds, timed_out, shift = check
            if timed_out:
                time.sleep(10**6)  # recorded: the real check ran past the server's limit
            delay = seconds * self.args.latency_scale
            rep = {k: _shift(v, shift) for k, v in resp.items() if k in ("messages", "sorries")}
        elif "ok" in marks:
            rep = {}
        elif "error" in marks:
            rep = {"messages": [self._error("scripted error (double:error marker)")]}
        elif known is not None:
            rep = dict(known["reply"])
        elif "cmd:" + proof in self.cmds:
            rep = {k: v for k, v in self.cmds["cmd:" + proof].items() if k != "env"}
        elif self.args.unknown == "ok":
            rep = {}
        else:
            rep = {
                "messages": [
                    self._error(
                        "formalpi double: no recorded reply for this input; real Lean's "
                        "answer is unknown (scripted error)"
                    )
                ]
            }
        rep = dict(rep)
        rep["messages"] = list(rep.get("messages", [])) + _traces(proof)
        if marks.get("bigreply"):  # a reply of about N MB (one long info message), for the reader's benchmark
            rep["messages"].append(
                {
                    "severity": "info",
                    "pos": {"line": 1, "column": 0},
                    "endPos": {"line": 1, "column": 1},
                    "data": "x" * int(float(marks["bigreply"]) * 2**20),
                }
            )
        if delay:
            time.sleep(delay)
        self._remember_axioms(proof, rep, marks.get("axioms"))
        if known is not None and "axioms" in known:
            for name in _declared(proof):
                self.axioms[name] = list(known["axioms"])
        rep["messages"] += self._check_messages(proof, checks, rep)
        if not rep["messages"]:
            del rep["messages"]
        rep["env"] = self.new_env() + int(marks.get("envskew") or 0)
        self.write(rep)

    def _check_messages(self, proof: str, checks: list[tuple[int, str, str]], rep: dict) -> list[dict]:
        """What Lean answers to the verifier's own check commands after the proof (ASSUMED, not recorded:
        `example : T := @_root_.N` is silent when N's type is T, else a "type mismatch" error at its line;
        `#print axioms _root_.N` gives one info message at its line, as `_axioms_message`)."""
        out = []
        sigs = _signatures(proof)
        for line, kind, arg in checks:
            if kind == "axioms":
                out.append(self._axioms_message(arg, line))
                continue
            want, name = arg.split("\x00")
            pos = {"pos": {"line": line, "column": 0}, "endPos": {"line": line, "column": 7}}
            if name not in sigs and name not in self.axioms:
                out.append({"severity": "error", **pos, "data": f"unknown identifier '_root_.{name}'"})
            elif name in sigs and _alpha(sigs[name]) != _alpha(want):
                out.append(
                    {
                        "severity": "error",
                        **pos,
                        "data": f"type mismatch\n  @{name}\nhas type\n  "
                        f"{sigs[name]} : Prop\nbut is expected to have "
                        f"type\n  {want} : Prop",
                    }
                )
        return out

    @staticmethod
    def _error(text: str) -> dict:
        return {"severity": "error", "pos": {"line": 1, "column": 0}, "endPos": {"line": 1, "column": 1}, "data": text}

    def _remember_axioms(self, cmd: str, rep: dict, marked: str | None) -> None:
        if any(m.get("severity") == "error" for m in rep.get("messages", [])):
            return
        sorry = bool(rep.get("sorries")) or any(_SORRY.search(m.get("data", "")) for m in rep.get("messages", []))
        axioms = marked.split(",") if marked else (["sorryAx"] if sorry else STANDARD_AXIOMS)
        for name in _declared(cmd):
            self.axioms[name] = axioms

    def _axioms_message(self, name: str, line: int) -> dict:
        pos = {"pos": {"line": line, "column": 0}, "endPos": {"line": line, "column": 6}}
        name = name.removeprefix("_root_.")
        if name not in self.axioms:
            return {"severity": "error", **pos, "data": f"unknown constant '{name}'"}
        axioms = self.axioms[name]
        text = (
            f"'{name}' depends on axioms: [{', '.join(axioms)}]"
            if axioms
            else f"'{name}' does not depend on any axioms"
        )
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
