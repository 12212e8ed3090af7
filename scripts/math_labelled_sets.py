"""Build the labelled math-checker sets in tests/data/math_labelled/ (JSONL, one case a line).

    python scripts/math_labelled_sets.py --math-verify /path/to/huggingface/Math-Verify [--math500 PATH]

mathverify_suite.jsonl: every literal (gold, prediction, expected) case of the parametrized tests in
huggingface/Math-Verify's tests/ (MIT licence, (c) 2024 The HuggingFace Team; the commit is recorded per case),
read with `ast` (no code of theirs is run or copied). Each case records how its prediction is written:
  boxed  the prediction contains a \\boxed{}: given to the checker as a whole completion;
  bare   one math expression (optionally in $…$, $$…$$, \\(…\\), \\[…\\]): given as `\\boxed{…}`;
  prose  anything else (the answer sits unboxed in a sentence): our checker answers NO_ANSWER by design.
The gold is de-delimited the same way (a gold with boxes: its boxes joined by ", ").

math500_rewrites.jsonl: MATH-500 (HuggingFaceH4/MATH-500, MIT licence; ../shared/data/math500.jsonl) gold answers
written as models write them (expect valid), near misses in the same dress (expect not_valid) and reward hacks that
must stay refused (expect not_valid), one `class` each; see `math500_cases` for each class's template. The
`sympy_rewrite` class is math-verify's parse of the reference answer printed back by sympy's LaTeX printer.

lmeval_normalisations.jsonl: each normalisation rule of lm-evaluation-harness's MATH graders (EleutherAI, MIT
licence; hendrycks_math `strip_string`, minerva_math `normalize_final_answer`) as one form a model writes (valid),
and the same form one digit off (not_valid).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "math_labelled"
_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


def _box_contents(s: str) -> list[str]:
    out, i = [], 0
    while (j := s.find("\\boxed{", i)) >= 0:
        depth, k = 0, j + 6
        while k < len(s):
            if s[k] == "{":
                depth += 1
            elif s[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        out.append(s[j + 7 : k].strip())
        i = k + 1
    return out


def undelimit(s: str) -> str | None:
    """The expression inside one pair of math delimiters (or the whole string if it has none); None if prose."""
    t = s.strip()
    for a, b in _DELIMS:
        if t.startswith(a) and t.endswith(b) and len(t) > len(a) + len(b):
            inner = t[len(a) : -len(b)].strip()
            return None if "$" in inner.replace("\\$", "") else inner
    if "$" in t.replace("\\$", "") or "\\(" in t or "\\[" in t or "\n" in t:
        return None
    words = re.findall(r"(?<![\\A-Za-z])[A-Za-z]{4,}", re.sub(r"\\[A-Za-z]+\{[^{}]*\}", " ", t))
    return None if words else t


def gold_of(s: str) -> str:
    """The gold answer: its boxes joined by ", " when only separators ("and", commas, `+`) stand between them (the
    reading the upstream labels use: `\\boxed{1} papers and \\boxed{2}` is 1, 2, `\\boxed{1} no no \\boxed{2}` is 2)."""
    boxes = _box_contents(s)
    if len(boxes) > 1:
        between = re.sub(r"\\boxed\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", "\0", s).split("\0")[1:-1]
        joined = all("and" in b.split() or not re.sub(r"[\s,+$\\]", "", b) for b in between)
        return ", ".join(dict.fromkeys(boxes)) if joined else boxes[-1]
    if boxes:
        return boxes[0]
    inner = undelimit(s)
    return inner if inner is not None else s.strip()


def mathverify_cases(repo: Path) -> list[dict]:
    commit = (
        subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    cases = []
    for f in sorted((repo / "tests").glob("test_*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for dec in fn.decorator_list:
                if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                    continue
                names = [x.strip() for x in ast.literal_eval(dec.args[0]).split(",")]
                if not {"gold", "pred"} <= set(names):
                    continue
                label = "expected" if "expected" in names else "result"
                for elt in dec.args[1].elts:
                    try:
                        row = dict(zip(names, ast.literal_eval(elt)))
                    except ValueError:
                        continue
                    if not isinstance(row.get("gold"), str) or not isinstance(row.get("pred"), str):
                        continue
                    options = {k: v for k, v in row.items() if k not in ("gold", "pred", label)}
                    pred = row["pred"]
                    if "\\boxed" in pred:
                        form, completion = "boxed", pred
                    elif (inner := undelimit(pred)) is not None and inner:
                        form, completion = "bare", "\\boxed{" + inner + "}"
                    else:
                        form, completion = "prose", pred
                    cases.append(
                        {
                            "set": "mathverify",
                            "class": f"{f.stem}.{fn.name}",
                            "form": form,
                            "gold": gold_of(row["gold"]),
                            "completion": completion,
                            "expect": "valid" if int(row[label]) else "not_valid",
                            "source": f"huggingface/Math-Verify@{commit[:12]} {f.relative_to(repo)}::{fn.name}",
                            "upstream_gold": row["gold"],
                            "upstream_pred": pred,
                            "options": options,
                        }
                    )
    return cases


_INT = re.compile(r"-?[0-9]+")
_NEGFRAC = re.compile(r"-\\frac\{([0-9]+)\}\{([0-9]+)\}")
_PROSE = "Prices rose by 2.5% over the year and by 10% the year after, so the answer is $\\boxed{{{}}}$."


def _bump(gold: str) -> str:
    return str(int(gold) + 1)


def _interval_forms(gold: str) -> list[str]:
    """The same set written as an inequality in x (only for the plain intervals MATH-500 has)."""
    g = gold.replace("\\left", "").replace("\\right", "").replace(" ", "")
    m = re.fullmatch(r"([\(\[])([^,]+),([^,]+)([\)\]])", g)
    if not m:
        return []
    lo, a, b, hi = m.groups()
    if lo == "(" and hi == ")" and "infty" not in a + b:
        return []  # `(a, b)` is as often a point as an interval: not rewritten
    lo_rel, hi_rel = ("\\le" if lo == "[" else "<"), ("\\le" if hi == "]" else "<")
    if a == "-\\infty" and b != "\\infty":
        return [f"x {hi_rel} {b}", f"{b} {hi_rel.replace('le', 'ge').replace('<', '>')} x"]
    if b == "\\infty":
        return [f"x {lo_rel.replace('le', 'ge').replace('<', '>')} {a}", f"{a} {lo_rel} x"]
    return [f"{a} {lo_rel} x {hi_rel} {b}", f"x \\in {gold}"]


def math500_cases(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out: list[dict] = []

    def add(cls: str, expect: str, gold: str, completion: str, uid: str) -> None:
        out.append(
            {
                "set": "math500",
                "class": cls,
                "gold": gold,
                "completion": completion,
                "expect": expect,
                "source": f"HuggingFaceH4/MATH-500 {uid}",
            }
        )

    for k, r in enumerate(rows):
        g, uid = r["answer"], r["unique_id"]
        is_int = bool(_INT.fullmatch(g))
        if k % 4 == 0:
            add("percent_in_prose", "valid", g, _PROSE.format(g), uid)
            add("bold_wrapper", "valid", g, f"The answer is $\\boxed{{\\mathbf{{{g}}}}}$.", uid)
            add("bold_wrapper", "valid", g, f"The answer is $\\boxed{{\\boldsymbol{{{g}}}}}$.", uid)
            add("nested_box", "valid", g, f"So $\\boxed{{\\boxed{{{g}}}}}$.", uid)
        if is_int and k % 3 == 0:
            add("text_wrapper", "valid", g, f"The answer is \\boxed{{\\textbf{{{g}}}}}.", uid)
            add("text_wrapper", "valid", g, f"The answer is \\boxed{{\\text{{{g}}}}}.", uid)
            add("percent_in_prose_near_miss", "not_valid", g, _PROSE.format(_bump(g)), uid)
            add("bold_wrapper_near_miss", "not_valid", g, f"$\\boxed{{\\mathbf{{{_bump(g)}}}}}$", uid)
            add("nested_box_near_miss", "not_valid", g, f"$\\boxed{{\\boxed{{{_bump(g)}}}}}$", uid)
            add("text_wrapper_near_miss", "not_valid", g, f"$\\boxed{{\\text{{{_bump(g)}}}}}$", uid)
            add("hack_hedge", "not_valid", g, f"$\\boxed{{{g} \\text{{ or }} {_bump(g)}}}$", uid)
            add("hack_several_boxes", "not_valid", g, f"It is $\\boxed{{{g}}}$ or $\\boxed{{{_bump(g)}}}$.", uid)
            add("hack_chain", "not_valid", g, f"$\\boxed{{x = {g}+{g}+1 = {_bump(g)} = {g}}}$", uid)
            add("hack_hedge", "not_valid", g, f"$\\boxed{{{g}, {_bump(g)}}}$", uid)
        if m := _NEGFRAC.fullmatch(g):
            add("frac_negative_numerator", "valid", g, f"$\\boxed{{\\frac{{-{m[1]}}}{{{m[2]}}}}}$", uid)
            add("frac_negative_numerator_near_miss", "not_valid", g, f"$\\boxed{{\\frac{{{m[1]}}}{{{m[2]}}}}}$", uid)
        for form in _interval_forms(g):
            add("inequality_interval", "valid", g, f"$\\boxed{{{form}}}$", uid)
            ascii_form = re.sub(r"\\([lg])e(?![a-z])", lambda m: "<=" if m[1] == "l" else ">=", form)
            if ascii_form != form:
                add("ascii_relation", "valid", g, f"$\\boxed{{{ascii_form}}}$", uid)
            flipped = form.replace("\\le", "@").replace("<", "\\le").replace("@", "<")
            if flipped != form and "\\in" not in form:
                add("inequality_interval_near_miss", "not_valid", g, f"$\\boxed{{{flipped}}}$", uid)
        if "percent" in r["problem"].lower() and is_int:
            add("percent_sign", "valid", g, f"$\\boxed{{{g}\\%}}$", uid)
            add("percent_sign_near_miss", "not_valid", g, f"$\\boxed{{{_bump(g)}\\%}}$", uid)
        if re.fullmatch(r"-?[0-9]+, ?-?[0-9]+(, ?-?[0-9]+)*", g) and not re.fullmatch(r"[0-9]{1,3}(,[0-9]{3})+", g):
            parts = [p.strip() for p in g.split(",")]
            add(
                "list_words",
                "valid",
                g,
                "$\\boxed{" + ", ".join(parts[:-1]) + " \\text{ and } " + parts[-1] + "}$",
                uid,
            )
            add("box_per_element", "valid", g, " and ".join(f"$\\boxed{{{p}}}$" for p in parts), uid)
            add("box_per_element_near_miss", "not_valid", g, " and ".join(f"$\\boxed{{{p}}}$" for p in parts[:-1]), uid)
            add(
                "box_per_element_near_miss",
                "not_valid",
                g,
                " and ".join(f"$\\boxed{{{p}}}$" for p in parts + [_bump(parts[0])]),
                uid,
            )
    out.extend(_probes())
    return out


def _probes() -> list[dict]:
    """Hand-written cases for the forms MATH-500's golds do not have (lists with words, ASCII `!=`)."""
    rows = [
        ("list_words", "valid", r"6 \text{ and } 8", r"$\boxed{6, 8}$"),
        ("list_words", "valid", "6, 8", r"$\boxed{6 \text{ and } 8}$"),
        ("list_words", "valid", r"6 \text{ and } 8", r"$\boxed{8 \text{ and } 6}$"),
        ("list_words_near_miss", "not_valid", r"6 \text{ and } 8", r"$\boxed{6, 9}$"),
        ("box_per_element", "valid", "(2,2), (6,2)", r"The pairs are $\boxed{(2,2)}$ and $\boxed{(6,2)}$."),
        ("box_per_element_near_miss", "not_valid", "(2,2), (6,2)", r"$\boxed{(2,2)}$ and $\boxed{(6,3)}$."),
        ("ascii_relation", "valid", r"x \ne 3", r"$\boxed{x != 3}$"),
        ("ascii_relation", "valid", r"x \le 5", r"$\boxed{x <= 5}$"),
        ("ascii_relation", "valid", r"x \ge 5", r"$\boxed{x >= 5}$"),
        ("ascii_relation_near_miss", "not_valid", r"x \le 5", r"$\boxed{x >= 5}$"),
        ("inequality_interval", "valid", r"x \le 5", r"$\boxed{5 \geq x}$"),
        ("inequality_interval", "valid", r"x \in [-2,7]", r"$\boxed{-2 \le x \le 7}$"),
        ("inequality_interval_near_miss", "not_valid", r"x \le 5", r"$\boxed{5 \leq x}$"),
        ("percent_sign", "valid", "28\\%", r"$\boxed{28}$"),
        ("hack_chain", "not_valid", "11", r"$\boxed{x = 5+5+1 = 7 = 11}$"),
        ("hack_restated", "not_valid", "11", r"$\boxed{5+5+1}$"),
    ]
    return [
        {"set": "math500", "class": c, "gold": g, "completion": t, "expect": e, "source": "hand-written probe"}
        for c, e, g, t in rows
    ]


# The normalisations of lm-evaluation-harness's MATH grader (EleutherAI/lm-evaluation-harness, MIT licence,
# lm_eval/tasks/hendrycks_math/utils.py `strip_string`, minerva_math's `normalize_final_answer`), one pair each:
# (what the rule makes equal, gold, prediction). Each is a form a model writes; expected valid.
_LMEVAL = [
    ("\\! removed", "10080", "10,\\!080"),
    ("dfrac/tfrac", "\\frac{3}{4}", "\\dfrac{3}{4}"),
    ("tfrac", "\\frac{3}{4}", "\\tfrac34"),
    ("\\left \\right", "(1,2)", "\\left(1,2\\right)"),
    ("degrees", "30", "30^\\circ"),
    ("degrees", "30", "30^{\\circ}"),
    ("dollar", "5", "\\$5"),
    ("units \\text{ …}", "12", "12\\text{ cm}"),
    ("units \\text{ …}", "12", "12 \\text{ square units}"),
    ("percent removed", "28", "28\\%"),
    ("leading dot", "0.5", ".5"),
    ("0.5 is 1/2", "\\frac{1}{2}", "0.5"),
    ("k = prefix", "7", "k = 7"),
    ("sqrt3", "2\\sqrt{3}", "2\\sqrt3"),
    ("frac12", "\\frac{1}{2}", "\\frac12"),
    ("frac1{72}", "\\frac{1}{72}", "\\frac1{72}"),
    ("a/b", "\\frac{3}{4}", "3/4"),
    ("spaces", "x^2+1", "x^2 + 1"),
    ("minerva: \\text{} removed", "\\text{(C)}", "(C)"),
    ("minerva: \\mathrm", "5", "\\mathrm{5}"),
    ("minerva: \\textbf", "5", "\\textbf{5}"),
    ("minerva: \\boxed", "5", "\\boxed{5}"),
    ("minerva: thousands", "1000", "1,000"),
]


def lmeval_cases() -> list[dict]:
    src = "EleutherAI/lm-evaluation-harness lm_eval/tasks/hendrycks_math/utils.py, minerva_math/utils.py"
    out = [
        {
            "set": "lmeval",
            "class": "lmeval_normalisation",
            "rule": rule,
            "gold": g,
            "completion": "The answer is $\\boxed{" + p + "}$.",
            "expect": "valid",
            "source": src,
        }
        for rule, g, p in _LMEVAL
    ]
    # the same forms, one value off: must not pass
    out += [
        {
            "set": "lmeval",
            "class": "lmeval_normalisation_near_miss",
            "rule": rule,
            "gold": g,
            "completion": "The answer is $\\boxed{" + p.replace("5", "6").replace("2", "3") + "}$.",
            "expect": "not_valid",
            "source": src,
        }
        for rule, g, p in _LMEVAL
        if ("5" in p or "2" in p)
    ]
    return out


def sympy_rewrites(path: Path) -> list[dict]:
    import logging

    from math_verify import parse
    from sympy import Basic, latex

    sys.path.insert(0, str(ROOT))
    from formalpi.domains.math.extraction import extract_answer

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            parsed = parse("\\boxed{" + (extract_answer(r["solution"]) or "") + "}")
            if parsed and isinstance(parsed[0], Basic) and (text := latex(parsed[0])) != r["answer"]:
                out.append(
                    {
                        "set": "math500",
                        "class": "sympy_rewrite",
                        "gold": r["answer"],
                        "completion": "\\boxed{" + text + "}",
                        "expect": "valid",
                        "source": f"HuggingFaceH4/MATH-500 {r['unique_id']}",
                    }
                )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--math-verify", type=Path, required=True, help="a checkout of huggingface/Math-Verify")
    ap.add_argument("--math500", type=Path, default=ROOT.parent / "shared" / "data" / "math500.jsonl")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, cases in (
        ("mathverify_suite.jsonl", mathverify_cases(args.math_verify)),
        ("math500_rewrites.jsonl", math500_cases(args.math500) + sympy_rewrites(args.math500)),
        ("lmeval_normalisations.jsonl", lmeval_cases()),
    ):
        with (OUT / name).open("w", encoding="utf-8") as fh:
            for c in cases:
                fh.write(json.dumps(c, ensure_ascii=False) + "\n")
        print(f"{name}: {len(cases)} cases")


if __name__ == "__main__":
    main()
