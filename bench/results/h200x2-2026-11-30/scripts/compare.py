"""Compare two run stores record by record: python3 compare.py RUN_A RUN_B (each <runs_dir>/<name>/<seed>)."""
import json, sys
from pathlib import Path
a, b = Path(sys.argv[1]), Path(sys.argv[2])
KEYS = {"eval": "problem_id", "attempts": "id", "verdicts": "attempt_id", "examples": "attempt_id"}
out = {"a": str(a), "b": str(b)}
for f, key in KEYS.items():
    pa, pb = a / f"{f}.jsonl", b / f"{f}.jsonl"
    if not pa.exists() and not pb.exists():
        continue
    ra = {r[key]: r for r in map(json.loads, pa.read_text().splitlines())} if pa.exists() else {}
    rb = {r[key]: r for r in map(json.loads, pb.read_text().splitlines())} if pb.exists() else {}
    norm = lambda r: json.dumps({k: v for k, v in r.items() if k not in ("wall_s", "created", "time")}, sort_keys=True)
    same = sum(norm(ra[k]) == norm(rb[k]) for k in ra if k in rb)
    row = {"a": len(ra), "b": len(rb), "identical": same}
    if f == "eval":  # first differing problems, by chunk of 32
        ids = list(ra)
        row["differing_positions"] = [i for i, k in enumerate(ids) if k in rb and norm(ra[k]) != norm(rb[k])][:40]
    if f == "attempts":
        first = [k for k in ra if k.endswith("|k0")]
        row["first_attempts"] = len(first)
        row["first_attempts_identical"] = sum(k in rb and norm(ra[k]) == norm(rb[k]) for k in first)
    out[f] = row
for side, d in (("a", a), ("b", b)):
    m = json.loads((d / "manifest.json").read_text())
    out[f"stages_{side}"] = {k: {x: v.get(x) for x in ("wall_s", "completion_tokens", "samples", "problems", "examples") if x in v}
                             for k, v in m.get("stages", {}).items()}
print(json.dumps(out))
