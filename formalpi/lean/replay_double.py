"""A scripted stand-in for `lake env lean -o` and SafeVerify's `safe_verify`, for machines without Lean.

    python -m formalpi.lean.replay_double lean -o OUT.olean SOURCE.lean
    python -m formalpi.lean.replay_double safe_verify TARGET.olean SUBMISSION.olean

SCRIPTED, not recorded: no Lean runs here, so what real SafeVerify would find is decided from the text by the
rules below, each taken from SafeVerify's Main.lean at the pinned commit (a271595); its output lines and exit
codes are the ones that file prints (`IO.println`/`IO.eprintln`, and Lean's "uncaught exception: MSG", exit 1,
for a thrown `IO.userError`). It never says anything about whether a real proof is correct.

* `lean`: writes OUT as JSON ({"source": text}) and exits 0. `standin:compile-error` in the source prints
  a Lean-style `FILE:1:0: error: …` and exits 1; `standin:compile-hang` sleeps; `standin:tamper` rewrites
  every .olean under the replay's directory (code a proof runs at compile time, with the user's permissions).
* `safe_verify`, in Main.lean's order:
  - `replayFile` on each file: a missing file -> "object file 'F' does not exist"; in the submission, text that
    adds a declaration the kernel never checked (`debug.skipKernelTC`, `addDeclCore`, marker
    `standin:kernel`) -> "(kernel) declaration type mismatch" (`Environment.replay` re-checks it); an
    `unsafe` declaration -> "unsafe constant NAME detected";
  - the axiom check over every submission theorem: an `axiom` the text declares, `sorry`, or the REPL double's
    `double:axioms=A,B` marker (other than the three standard ones) -> "NAME used disallowed axioms. #[…]";
  - `checkTargets`: each target theorem must be declared in the submission ("declaration not found in
    submission") with the same type. The stand-in compares `∀ binders, type` as text, whitespace normalised,
    binder names replaced by position and binder brackets unified (`alpha_type`): SafeVerify's `Expr` equality
    ignores binder names and annotations; the stand-in does not know notation or elaboration, so two texts that
    elaborate to the same term but are written differently count as different (stricter than SafeVerify);
  - then "Finished." and exit 0.
* markers for the runner's own tests: `standin:crash` (a runtime panic, exit 134, no finding),
  `standin:hang`, `standin:grow=MB` (keeps MB of memory), `standin:silent` (exit 0 without
  "Finished.").
Standard library only, so that it starts fast.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from formalpi.lean.double import _signatures

STANDARD_AXIOMS = ("propext", "Quot.sound", "Classical.choice")


def _marks(text: str) -> dict[str, str]:
    return dict(re.findall(r"standin:([\w-]+)(?:=([\w.,]+))?", text))


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_OPEN, _CLOSE = "([{⦃", ")]}⦄"


def _split_top(text: str, sep: str) -> int:
    """Index of the first `sep` at bracket depth 0 in text, or -1."""
    depth = 0
    for i, c in enumerate(text):
        if c in _OPEN or c == "⟨":
            depth += 1
        elif c in _CLOSE or c == "⟩":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i) and not text.startswith(":=", i):
            return i
    return -1


def alpha_type(sig: str) -> str:
    """`∀ binders, type` with binder names replaced by position and every binder bracket made `(`: SafeVerify
    compares types with `Expr` equality (`Expr.eqv` ignores binder names and binder annotations), and
    `(a b : T)` is the same term as `(a : T) (b : T)`. Text-level and approximate, as the whole stand-in is."""
    m = re.match(r"∀ (.*), (.*)\Z", sig, re.S)
    if not m or not m.group(1).lstrip().startswith(tuple(_OPEN)):
        return _norm(sig)
    rest, groups = sig[2:], []
    while rest and rest[0] in _OPEN:  # one bracket group at a time
        depth, end = 0, None
        for i, c in enumerate(rest):
            depth += c in _OPEN
            depth -= c in _CLOSE
            if depth == 0:
                end = i
                break
        if end is None:
            return _norm(sig)
        inner, rest = rest[1:end], rest[end + 1 :].lstrip()
        colon = _split_top(inner, ":")
        names, typ = (inner[:colon].split(), inner[colon + 1 :]) if colon >= 0 else (["_"], inner)
        groups += [(n, typ) for n in names]
    body = rest.removeprefix(",").strip()
    out: list[str] = []
    renames: dict[str, str] = {}

    def rename(text: str) -> str:
        for old, new in renames.items():
            text = re.sub(rf"(?<![\w'.]){re.escape(old)}(?![\w'])", new, text)
        return _norm(text)

    for k, (name, typ) in enumerate(groups):
        out.append(f"(_b{k} : {rename(typ)})")
        if name != "_":
            renames[name] = f"_b{k}"
    return " ".join(out) + " , " + rename(body)


def compile_main(args: list[str]) -> int:
    if len(args) != 3 or args[0] != "-o":
        print("usage: replay_double lean -o OUT.olean SOURCE.lean", file=sys.stderr)
        return 2
    out, src = Path(args[1]), Path(args[2])
    text = src.read_text(encoding="utf-8")
    marks = _marks(text)
    if "compile-hang" in marks:
        time.sleep(10**6)
    if "compile-error" in marks:
        print(f"{src}:1:0: error: scripted compile error (standin:compile-error marker)")
        return 1
    if "tamper" in marks:  # code run at compile time rewriting every .olean it can find under the runner's dir
        for other in out.parent.parent.rglob("*.olean"):
            other.write_text(json.dumps({"source": "-- tampered\n"}), encoding="utf-8")
    out.write_text(json.dumps({"source": text}), encoding="utf-8")
    return 0


def _fail(msg: str) -> int:
    print(f"uncaught exception: {msg}", file=sys.stderr)
    return 1


def _replay_file(path: str) -> str | int:
    print(f"Replaying {path}")
    p = Path(path)
    if not p.is_file():
        return _fail(f"object file '{path}' does not exist")
    text = json.loads(p.read_text(encoding="utf-8"))["source"]
    print("Finished setting up the environement.")
    return text


def verify_main(args: list[str]) -> int:
    if len(args) != 2:
        print("usage: replay_double safe_verify TARGET.olean SUBMISSION.olean", file=sys.stderr)
        return 2
    target_path, sub_path = args
    print("Currently running on Lean v4.24.0 (replay_double stand-in)")
    print(f"Running SafeVerify on target file: {target_path} and submission file: {sub_path}.")
    print("------------------")
    target = _replay_file(target_path)
    if isinstance(target, int):
        return target
    print(f"Finished replay. Found {len(_signatures(target))} declarations.")
    print("------------------")
    sub = _replay_file(sub_path)
    if isinstance(sub, int):
        return sub
    marks = _marks(sub)
    if "crash" in marks:
        print("INTERNAL PANIC: scripted crash (standin:crash marker)", file=sys.stderr)
        return 134
    if "hang" in marks:
        time.sleep(10**6)
    if marks.get("grow"):
        ballast = b"x" * int(float(marks["grow"]) * 2**20)  # touched bytes count in RSS
        time.sleep(10)
        del ballast
    # comments and strings left to right, as Lean reads them (a block comment ends at its first `-/`, as in F1)
    code = re.sub(r'/-.*?-/|--[^\n]*|"(?:\\.|[^"\\])*"', " ", sub, flags=re.S)
    sigs = _signatures(sub)
    unsafe = re.search(r"\bunsafe\s+(?:def|theorem|opaque)\s+(\S+)", code)
    if unsafe:  # replayFile checks each constant's safety before `env.replay`
        return _fail(f"unsafe constant {unsafe.group(1)} detected")
    if re.search(r"debug\.skipKernelTC|addDeclCore", code) or "kernel" in marks:
        name = next(iter(sigs), "_unknown")
        return _fail(f"(kernel) declaration type mismatch, '{name}' has type\n  <scripted by replay_double>")
    print(f"Finished replay. Found {len(sigs)} declarations.")
    bad = re.findall(r"(?m)^\s*axiom\s+(\S+)", code)
    if re.search(r"\bsorry\b", code):
        bad.append("sorryAx")
    m = re.search(r"double:axioms=([\w.,]+)", sub)  # the REPL double's marker, in a comment
    if m:
        bad += [a for a in m.group(1).split(",") if a and a not in STANDARD_AXIOMS]
    if bad and sigs:
        first = next(iter(sigs))
        return _fail(f"{first} used disallowed axioms. #[{', '.join(dict.fromkeys(bad))}]")
    print("------------------")
    problems = []
    for name, typ in _signatures(target).items():
        if name not in sigs:
            problems.append(f"{name}: declaration not found in submission")
        elif alpha_type(sigs[name]) != alpha_type(typ):
            problems.append(f"{name}: theorem type mismatch")
    for p in problems:
        name, what = p.split(": ", 1)
        print(f"Found a problem in {sub_path} with declaration {name}: {what}", file=sys.stderr)
    print("------------------")
    if problems:
        return _fail(f"SafeVerify check failed for {sub_path}")
    if "silent" not in marks:
        print("Finished.")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "lean":
        return compile_main(argv[1:])
    if argv and argv[0] == "safe_verify":
        return verify_main(argv[1:])
    print(
        "usage: python -m formalpi.lean.replay_double (lean -o OUT SRC | safe_verify TARGET SUBMISSION)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
