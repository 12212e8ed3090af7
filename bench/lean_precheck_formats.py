"""Pre-check outcomes of real prover output in the formats provers write, for one or two versions of the code.

Real proofs (all accepted by real Lean 4 + Mathlib when they were written):
  * the 102 Goedel-Prover proofs of ../shared/lean/recorded-mathlib-checks/input (98 accepted by the recorded REPL);
  * Kimina-Prover Preview's solved MiniF2F-test proofs: `minif2f_test_solved/src/*.lean` inside
    minif2f_test_solved.zip of github.com/MoonshotAI/Kimina-Prover-Preview @7abd61a (Apache-2.0; written for
    Lean v4.15), unzipped somewhere and passed with --kimina.
Each proof is passed the way `LeanDomain.verify_many` passes a completion (`extract_code` → `verdict.prepare`),
with the MiniF2F dataset header as the trusted header (what `formalpi minif2f eval` gives) and the statement the
verifier is given (Kimina: the MiniF2F row of that name; Goedel: the recorded statement), in three forms:
  body       the text after the theorem's `:= by`
  own-file   the whole file as the prover wrote it (its own header: `import Aesop`, its `set_option`, …)
  data-file  the dataset header + the prover's theorem
Only the pre-check outcome is computed (no Lean here). `--root` runs the code of another checkout (e.g. the
commit before: `git worktree add /tmp/old f346383`); by default this checkout and, with --before, that one too.

    python bench/lean_precheck_formats.py --kimina /tmp/minif2f_test_solved/src --before /tmp/old
    python bench/lean_precheck_formats.py --corpus --before /tmp/old   # the attack corpus's new cases
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
SHARED = HERE.parent / "shared"


def _kind(reason: str) -> str:
    """A short class for a refusal reason."""
    m = re.search(r"forbidden construct `([^`]*)`", reason)
    if m:
        w = m.group(1).split()[0]
        return f"refused `{w}`"
    return "refused: " + reason.split(":")[0][:40]


def _items(kimina: Path | None) -> list[tuple[str, str, str, str, str]]:
    """(source, name, statement, header, full file) per proof."""
    rows = {
        json.loads(x)["name"]: json.loads(x)
        for x in (SHARED / "data/minif2f_lean4_v4.24.jsonl").read_text().splitlines()
    }
    header = next(iter(rows.values()))["header"]
    out = []
    for p in sorted((SHARED / "lean/recorded-mathlib-checks/input").glob("*.lean")):
        src = p.read_text(encoding="utf-8")
        m = re.search(r"(?m)^theorem\b", src)
        decl = src[m.start() :]
        out.append(("goedel", p.stem, decl[: decl.index(":= by") + len(":= by")] + "\n", header, src))
    if kimina:
        for p in sorted(kimina.glob("*.lean")):
            if p.stem in rows:
                out.append(("kimina", p.stem, rows[p.stem]["formal_statement"], header, p.read_text(encoding="utf-8")))
    return out


def measure(kimina: Path | None) -> dict:
    from formalpi.domains.lean.domain import extract_code
    from formalpi.lean import verdict

    counts: dict[str, Counter] = {}
    for source, _name, statement, header, src in _items(kimina):
        m = re.search(r"(?m)^(?:theorem|lemma)\s", src)
        decl = src[m.start() :]
        k = decl.find(":= by")
        forms = {"own-file": src, "data-file": header + decl, "body": decl[k + len(":= by") :] if k >= 0 else decl}
        for form, text in forms.items():
            got = verdict.prepare(statement, extract_code(text), header)
            outcome = "passes" if isinstance(got, verdict.PreparedProof) else _kind(got.reason)
            counts.setdefault(f"{source} {form}", Counter())[outcome] += 1
    return {k: dict(v) for k, v in counts.items()}


def corpus() -> dict:
    import importlib.util

    spec = importlib.util.spec_from_file_location("attacks", HERE / "tests" / "lean_attacks.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["attacks"] = mod
    spec.loader.exec_module(mod)
    from formalpi.lean import verdict

    out = {}
    for c in mod.TOKENIZER_AND_HEADER_CASES:
        got = verdict.prepare(c.statement, c.proof, c.header)
        out[c.name] = [
            "forged" if c.forged else "genuine",
            "passes" if isinstance(got, verdict.PreparedProof) else _kind(got.reason),
        ]
    return out


def _run(root: Path, args: argparse.Namespace) -> dict:
    cmd = (
        [sys.executable, __file__, "--json"]
        + (["--kimina", str(args.kimina)] if args.kimina else [])
        + (["--corpus"] if args.corpus else [])
    )
    out = subprocess.run(
        cmd,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    if out.returncode:
        raise SystemExit(f"{root}: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kimina", type=Path, help="folder of Kimina-Prover's solved MiniF2F .lean files")
    ap.add_argument("--before", type=Path, help="a checkout of the previous code, measured too")
    ap.add_argument("--corpus", action="store_true", help="the attack corpus's tokenizer and header cases")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.json:
        sys.path.insert(0, str(Path.cwd()))
        print(json.dumps(corpus() if args.corpus else measure(args.kimina)))
        return 0
    now = _run(HERE, args)
    before = _run(args.before, args) if args.before else None
    if args.corpus:
        print("| case | kind | before | after |\n|---|---|---|---|")
        for name, (kind, outcome) in now.items():
            print(f"| {name} | {kind} | {(before or {}).get(name, ['', '–'])[1]} | {outcome} |")
        return 0

    def fmt(d: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]))

    print("| proofs × form | before | after |\n|---|---|---|")
    for key in now:
        print(f"| {key} ({sum(now[key].values())}) | {fmt(before[key]) if before else '–'} | {fmt(now[key])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
