"""Extract every keyword that can START a Lean 4 command from Lean sources (a Mathlib checkout, its packages,
or a Lean toolchain's `src/lean`), for the verifier's pre-check (formalpi/lean/command_keywords.txt).

A command starts with the first atom of a syntax in category `command`. The sources declare those as
  * `syntax [(name := …)] [(priority := …)] … "kw" … : command`  (also `local`/`scoped`, doc comments, `@[…]`)
  * `macro … "kw" … : command => …` and `elab … "kw" … : command => …`
  * `@[command_parser]` / `@[builtin_command_parser]` `def X := leading_parser … "kw" …`
The first string atom of the declaration is the keyword (labels `tk:` and leading parsers such as
`declModifiers`, `attrKind`, `docComment` are skipped: they are optional prefixes, recorded in the `prefix`
column). `&"kw"` (a non-reserved symbol: no token, the word stays an identifier) is marked `nonreserved`.
`elab_rules`/`macro_rules` add no syntax and are not counted.

Usage (a checkout or .lake/packages/X as a folder, or a bare git repository at a commit):
    python -m formalpi.lean.tools.extract_command_keywords --root mathlib=path/to/mathlib4/Mathlib \
        --git batteries=/path/repo.git@8da40b7:Batteries > command_keywords.txt
Each source is LABEL=PATH or LABEL=GITDIR@COMMIT:SUBDIR. Output: a header (lines starting with `## `) naming the sources, then one line
per (keyword, library): `keyword<TAB>library<TAB>file:line<TAB>reserved|nonreserved<TAB>prefix`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    keyword: str
    library: str
    site: str  # file:line of the declaration
    reserved: bool  # False for `&"kw"` (nonReservedSymbol): the word is not a token
    prefix: str  # optional parsers before the keyword (declModifiers, attrKind, …), "" if none


_INTERESTING = re.compile(r"--|/-|[\"']")
_DELIM = re.compile(r"/-|-/")
_CHAR = re.compile(r"'(?:\\.|[^\\'])'")


def mask_comments(src: str) -> str:
    """Comments (nested `/- -/`, `--`) blanked to spaces, newlines kept; strings and char literals kept
    (an approximate reading is enough here: the declarations we look for are plain)."""
    out = list(src)
    i, n = 0, len(src)
    while True:
        m = _INTERESTING.search(src, i)
        if m is None:
            break
        i = m.start()
        if src.startswith("--", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out[i:j] = " " * (j - i)
            i = j
        elif src.startswith("/-", i):
            depth, j = 1, i + 2
            while depth:
                d = _DELIM.search(src, j)
                if d is None:
                    j = n
                    break
                depth += 1 if d.group(0) == "/-" else -1
                j = d.end()
            out[i:j] = ["\n" if c == "\n" else " " for c in src[i:j]]
            i = j
        elif src[i] == '"':
            s = _STRING.match(src, i)
            i = s.end() if s else i + 1
        else:  # `'`: a char literal, or a prime inside a name
            c = _CHAR.match(src, i)
            i = c.end() if c else i + 1
    return "".join(out)


_HEAD = re.compile(
    r"(?m)^[ \t]*(?:@\[[^\]\n]*\][ \t]*\n?[ \t]*)?(?:(?:local|scoped|private|public|meta|protected)\s+)*"
    r"(?P<kw>syntax|macro|elab)(?=[\s:(])"
)
_PARSER_ATTR = re.compile(
    r"(?m)^[ \t]*@\[(?P<attrs>[^\]]*\b(?:builtin_)?command_parser\b[^\]]*)\]\s*"
    r"(?:(?:private|protected|public|meta|partial|noncomputable)\s+)*def\s+(?P<name>\S+)"
    r"[^\n]*?:=\s*(?:leading_parser|trailing_parser)"
)
_STRING = re.compile(r'&?"((?:[^"\\]|\\.)*)"')
_LABEL = re.compile(r"[A-Za-z_][\w?!']*:(?=[\"&(\w]|$)")  # `tk:"#foo"`, `mods:declModifiers`
_NAMED = re.compile(r"\(\s*(?:name|priority)\s*:=[^)]*\)")


def _category_colon(text: str, start: int) -> tuple[int, str] | None:
    """The first top-level ` : cat` after `start` (outside strings and brackets, a space before the colon)."""
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            m = _STRING.match(text, i)
            i = m.end() if m else i + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == ":" and depth == 0 and text[i + 1 : i + 2] != "=":
            m = re.match(r":\s+([A-Za-z_][\w.]*)", text[i:])  # `n:ident` (a label) has no space after
            if m:
                return i, m.group(1)
        elif c == "=" and text.startswith("=>", i) and depth == 0:
            return None
        if c == "\n" and i + 1 < n and text[i + 1] not in " \t\n" and i > start:
            return None  # the next top-level declaration starts: this one had no category
        i += 1
    return None


def _first_atom(spec: str) -> tuple[str, bool, str] | None:
    """(keyword, reserved, prefix) of a syntax spec: its first string atom and what comes before it."""
    spec = _NAMED.sub(" ", spec)
    m = _STRING.search(spec)
    if not m:
        return None
    before = _LABEL.sub("", spec[: m.start()])
    words = re.sub(
        r"[\s()?*]|>>|<\|>|withPosition|group|ppSpace|ppLine|ppIndent|ppDedent|colGt|colGe", " ", before
    ).split()
    return m.group(1).strip(), not m.group(0).startswith("&"), " ".join(words)


def scan_file(path: str, src: str, library: str) -> list[Entry]:
    text = mask_comments(src)
    line_of = lambda k: text.count("\n", 0, k) + 1  # noqa: E731
    out: list[Entry] = []
    for m in _HEAD.finditer(text):
        after = m.end("kw")
        head = re.match(r"(?::\w+)?\s*", text[after:])  # `syntax:arg`
        assert head is not None  # every part of the pattern may match the empty string
        found = _category_colon(text, after + head.end())
        if found is None or found[1] != "command":
            continue
        atom = _first_atom(text[after + head.end() : found[0]])
        if atom:
            out.append(Entry(atom[0], library, f"{path}:{line_of(m.start('kw'))}", atom[1], atom[2]))
    for m in _PARSER_ATTR.finditer(text):
        if "command_parser" not in m.group("attrs"):
            continue
        if "trailing_parser" in m.group(0):
            continue  # `in`: extends a command, never starts one
        end = re.search(r"\n(?=\S)", text[m.end() :])
        body = text[m.end() : m.end() + (end.start() if end else len(text))]
        atom = _first_atom(body)
        if atom:
            out.append(Entry(atom[0], library, f"{path}:{line_of(m.start())}", atom[1], atom[2]))
        else:
            out.append(Entry(f"?{m.group('name')}", library, f"{path}:{line_of(m.start())}", True, "unresolved"))
    return out


def _files(source: str) -> tuple[str, list[tuple[str, str]]]:
    """(description, [(path, text)]) of the .lean files of LABEL=PATH or LABEL=GITDIR@COMMIT:SUBDIR."""
    if "@" in source and ":" in source.split("@", 1)[1]:
        gitdir, rest = source.split("@", 1)
        commit, sub = rest.split(":", 1)
        names = subprocess.run(
            ["git", "--git-dir", gitdir, "ls-tree", "-r", "--name-only", commit, "--", sub],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        names = [x for x in names if x.endswith(".lean")]
        # one `git cat-file --batch` for all blobs: a process per file takes minutes on Mathlib
        batch = subprocess.run(
            ["git", "--git-dir", gitdir, "cat-file", "--batch"],
            check=True,
            capture_output=True,
            input="".join(f"{commit}:{x}\n" for x in names).encode(),
        ).stdout
        files, k = [], 0
        for name in names:
            nl = batch.index(b"\n", k)
            size = int(batch[k:nl].split()[2])
            files.append((name, batch[nl + 1 : nl + 1 + size].decode("utf-8", "replace")))
            k = nl + 1 + size + 1
        return f"git {commit} {sub}", files
    root = Path(source)
    return str(root), [
        (str(p.relative_to(root.parent)), p.read_text(encoding="utf-8", errors="replace"))
        for p in sorted(root.rglob("*.lean"))
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", action="append", default=[], metavar="LABEL=PATH|LABEL=GITDIR@COMMIT:SUBDIR")
    ap.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="TSV",
        help="curated rows (same columns) for sources that cannot be scanned here, e.g. lean_core_commands.tsv",
    )
    ap.add_argument("--note", action="append", default=[], help="a header line (e.g. which revision a source is)")
    args = ap.parse_args(argv)
    entries: list[Entry] = []
    header = [
        "## Keywords that start a Lean 4 command, extracted by formalpi/lean/tools/extract_command_keywords.py",
        "## columns: keyword, library, first declaration site, reserved|nonreserved, optional prefix parsers",
    ]
    header += [f"## {n}" for n in args.note]
    for spec in args.source:
        label, src = spec.split("=", 1)
        desc, files = _files(src)
        found = [e for path, text in files for e in scan_file(path, text, label)]
        header.append(
            f"## source {label}: {desc} ({len(files)} .lean files, {len({e.keyword for e in found})} keywords)"
        )
        entries += found
    for path in args.extra:
        rows = [
            ln.rstrip("\n").split("\t")
            for ln in Path(path).read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("## ")
        ]
        header.append(f"## curated {Path(path).name}: {len(rows)} rows (see its header for where each was read)")
        entries += [Entry(r[0], r[1], r[2], r[3] == "reserved", r[4] if len(r) > 4 else "") for r in rows]
    seen: dict[tuple[str, str], Entry] = {}
    for e in entries:
        seen.setdefault((e.keyword, e.library), e)
    print("\n".join(header))
    for (kw, lib), e in sorted(seen.items()):
        print(f"{kw}\t{lib}\t{e.site}\t{'reserved' if e.reserved else 'nonreserved'}\t{e.prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
