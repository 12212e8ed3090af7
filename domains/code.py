"""The code domain: HumanEval and MBPP (sanitized) from local files, checked in the sandbox; test-suite PI.

Programs are assembled as each benchmark defines it (see `humaneval_program`, `mbpp_program`). To grade, each
test (a top-level assert of HumanEval's `check`, a line of MBPP's `test_list`) runs separately inside the same
program, reporting one line per test, so the graded verifier's score is the fraction of tests passed and the
first failing test's assertion and error become the verdict's `feedback` (what test-suite PI shows).
"""

from __future__ import annotations

import ast
import gzip
import json
import re
import secrets
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from domains.code_sandbox import Limits, RunResult, RunStatus, run_many
from formalpi.engine.conditions import FAILED, TRY_AGAIN, PIContext, define, shuffled_partner
from formalpi.errors import DataError
from formalpi.paths import resolve_data_file
from formalpi.records import Problem, Status, Verdict

DATASETS = ("humaneval", "mbpp")
DEFAULT_FILES = {"humaneval": ("HumanEval.jsonl.gz", "HumanEval.jsonl"), "mbpp": ("sanitized-mbpp.json",)}
HUMANEVAL_URL = "https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz"
MBPP_URL = "https://raw.githubusercontent.com/google-research/google-research/master/mbpp/sanitized-mbpp.json"
# MBPP's own task-id ranges (Austin et al. 2021): the sanitized file keeps them
MBPP_SPLITS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601),
               "train": range(601, 975)}
HUMANEVAL_FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")
MBPP_FIELDS = ("task_id", "prompt", "code", "test_imports", "test_list")
FEEDBACK_CHARS = 1000  # a failing test's text and error, capped: it becomes a prompt
RESULT_TAG = "__formalpi_test__"


# ---- fetching and loading -----------------------------------------------------------------------------------


def _download(url: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            data = r.read()
    except OSError as e:
        raise DataError(f"could not download {url}: {e} (check the network, or copy the file to {dest})") from e
    tmp = dest.with_suffix(dest.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return dest


def fetch_humaneval(dest: Path) -> Path:
    """Download HumanEval (openai/human-eval, MIT) as `HumanEval.jsonl.gz` into `dest`."""
    path = _download(HUMANEVAL_URL, Path(dest) / DEFAULT_FILES["humaneval"][0])
    _read_humaneval(path)  # fail now, not at the first experiment, if what came back is not HumanEval
    return path


def fetch_mbpp(dest: Path) -> Path:
    """Download MBPP sanitized (google-research, CC-BY-4.0) as `sanitized-mbpp.json` into `dest`."""
    path = _download(MBPP_URL, Path(dest) / DEFAULT_FILES["mbpp"][0])
    _read_mbpp(path)
    return path


def _check_fields(row: object, fields: tuple[str, ...], where: str) -> dict:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    missing = [f for f in fields if f not in row]
    if missing:
        raise DataError(f"{where}: missing field(s) {', '.join(missing)} (expected {', '.join(fields)})")
    return row


def _read_humaneval(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    rows = []
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if line.strip():
                    rows.append(_check_fields(json.loads(line), HUMANEVAL_FIELDS, f"{path}:{i}"))
    except (OSError, EOFError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a HumanEval jsonl(.gz) file: {e}") from e
    return rows


def _read_mbpp(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not an MBPP sanitized JSON file: {e}") from e
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of MBPP problems (sanitized-mbpp.json), got "
                        f"{type(data).__name__}")
    for i, row in enumerate(data):
        _check_fields(row, MBPP_FIELDS, f"{path}[{i}]")
        if not isinstance(row["test_list"], list) or not isinstance(row["test_imports"], list):
            raise DataError(f"{path}[{i}]: test_list and test_imports must be JSON lists")
    return data


def check_units(test: str) -> list[str]:
    """HumanEval: the tests of `check(candidate)`: its top-level statements that assert (not `assert True`)."""
    tree = ast.parse(test)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            return [ast.unparse(s) for s in node.body if _is_test(s)]
    raise DataError("HumanEval test has no `def check(candidate)`")


def _is_test(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Assert):
        return not (isinstance(stmt.test, ast.Constant) and stmt.test.value is True)  # filler `assert True`
    return any(isinstance(n, ast.Assert) for n in ast.walk(stmt)) and not isinstance(stmt, ast.FunctionDef)


def humaneval_problem(row: dict) -> Problem:
    return Problem(id=row["task_id"], domain="code", text=row["prompt"], gold=row["canonical_solution"],
                   split="test", meta={"dataset": "humaneval", "entry_point": row["entry_point"],
                                       "test": row["test"], "tests": check_units(row["test"])})


def mbpp_problem(row: dict) -> Problem:
    tid = int(row["task_id"])
    split = next((s for s, r in MBPP_SPLITS.items() if tid in r), "test")
    return Problem(id=f"mbpp/{tid}", domain="code", text=row["prompt"], gold=row["code"], split=split,
                   meta={"dataset": "mbpp", "test_imports": list(row["test_imports"]),
                         "test_list": list(row["test_list"]), "tests": list(row["test_list"])})


# ---- program assembly -----------------------------------------------------------------------------------------


def humaneval_program(problem: Problem, completion: str) -> str:
    """HumanEval's own program: prompt + completion + "\\n" + test + "\\n" + f"check({entry_point})"."""
    return problem.text + completion + "\n" + problem.meta["test"] + "\n" + f"check({problem.meta['entry_point']})"


def mbpp_program(problem: Problem, code: str) -> str:
    """MBPP's own program: the code, then each line of test_imports and of test_list."""
    return "\n".join([code, *problem.meta["test_imports"], *problem.meta["test_list"]]) + "\n"


def reference_program(problem: Problem) -> str:
    """The benchmark's program for the dataset's own solution (canonical_solution / code)."""
    if problem.meta["dataset"] == "humaneval":
        return humaneval_program(problem, problem.gold or "")
    return mbpp_program(problem, problem.gold or "")


_REPORT_FN = '''
def __formalpi_report(i, test, exc):
    # builtins by module: a test may shadow `str` or `type` (HumanEval/38 and /50 bind `str` in check)
    import builtins as _b, json as _j, sys as _s
    err = ""
    if exc is not None:
        try:
            msg = _b.str(exc)
        except _b.BaseException:
            msg = "<unprintable>"
        err = (_b.type(exc).__name__ + (": " + msg if msg else ""))[:{cap}]
    _s.__stdout__.write("\\n{tag}{nonce} " + _j.dumps([i, exc is None, test, err]) + "\\n")
    _s.__stdout__.flush()
'''

_WRAP = '''try:
{body}
except MemoryError:
    raise
except BaseException as __formalpi_e:
    __formalpi_report({i}, {src!r}, __formalpi_e)
else:
    __formalpi_report({i}, {src!r}, None)
'''


def _wrapped(i: int, src: str, indent: str = "") -> str:
    body = "\n".join("    " + line for line in src.splitlines()) or "    pass"
    text = _WRAP.format(body=body, i=i, src=src)
    return "".join(indent + line + "\n" for line in text.splitlines())


def graded_program(problem: Problem, completion: str, nonce: str) -> str:
    """The benchmark's program with each test run separately and reported on its own line (tagged by `nonce`)."""
    report = _REPORT_FN.format(tag=RESULT_TAG, nonce=nonce, cap=FEEDBACK_CHARS)
    if problem.meta["dataset"] == "humaneval":
        tree = ast.parse(problem.meta["test"])
        parts = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "check":
                args = ast.unparse(node.args)
                body, i = [], 0
                for s in node.body:
                    if _is_test(s):
                        body.append(_wrapped(i, ast.unparse(s), "    "))
                        i += 1
                    elif not (isinstance(s, ast.Assert)):  # keep setup statements; drop `assert True`
                        body.append("".join("    " + ln + "\n" for ln in ast.unparse(s).splitlines()))
                parts.append(f"def check({args}):\n" + ("".join(body) or "    pass\n"))
            else:
                parts.append(ast.unparse(node) + "\n")
        test = "".join(parts)
        return (problem.text + completion + "\n" + report + "\n" + test + "\n"
                + f"check({problem.meta['entry_point']})\n")
    tests = "".join(_wrapped(i, t) for i, t in enumerate(problem.meta["test_list"]))
    return "\n".join([completion, report, *problem.meta["test_imports"], tests])


# ---- completion extraction --------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_START = re.compile(r"^(\s+\S|def |async def |class |import |from |@|#|[A-Za-z_][A-Za-z0-9_]*\s*=)")


def _parses(code: str) -> bool:
    try:
        ast.parse(code if not code[:1].isspace() else "def _f():\n" + code)
        return True
    except (SyntaxError, ValueError):
        return False


def extract_code(completion: str) -> str | None:
    """The program in a completion: the first python (or untagged) fenced block; else the text with stray prose
    before and after the code removed. An indented function body (HumanEval continuation) is kept as it is."""
    if not completion or not completion.strip():
        return None
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(completion)]
    for lang, body in blocks:
        if lang in ("python", "py", "python3", "") and body.strip():
            return body.rstrip() + "\n"
    lines = completion.rstrip().splitlines()
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
    if start is None:
        return None
    lines = lines[start:]
    end = len(lines)
    while end > 1 and not _parses("\n".join(lines[:end])):  # trailing prose: cut lines until the code parses
        end -= 1
    code = "\n".join(lines[:end]) if _parses("\n".join(lines[:end])) else "\n".join(lines)
    return code.rstrip() + "\n"


# ---- results to verdicts ----------------------------------------------------------------------------------------


def _test_lines(result: RunResult, nonce: str) -> dict[int, tuple[bool, str, str]]:
    out: dict[int, tuple[bool, str, str]] = {}
    prefix = f"{RESULT_TAG}{nonce} "
    for line in result.stdout.splitlines():
        if line.startswith(prefix):
            try:
                i, ok, test, err = json.loads(line[len(prefix):])
            except (ValueError, TypeError):
                continue
            out.setdefault(int(i), (bool(ok), str(test), str(err)))
    return out


def _last_error(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return lines[-1][:FEEDBACK_CHARS] if lines else ""


def verdict_from_run(problem: Problem, code: str, result: RunResult, nonce: str) -> Verdict:
    n = len(problem.meta["tests"])
    tests = _test_lines(result, nonce)
    passed = sum(ok for ok, _, _ in tests.values())
    score = passed / n if n else 0.0
    failures = [(test, err) for _, (ok, test, err) in sorted(tests.items()) if not ok]
    feedback = f"{failures[0][0]}\n{failures[0][1]}"[:FEEDBACK_CHARS] if failures else ""
    base = dict(answer=code, time_s=result.duration_s)
    if result.status is RunStatus.TIMEOUT:
        return Verdict(status=Status.TIMEOUT, score=score, reason="time limit", feedback=feedback or
                       "Timed out.", **base)
    if result.status is RunStatus.MEMORY:
        return Verdict(status=Status.MEMORY, score=score, reason="memory limit", feedback=feedback or
                       "MemoryError", **base)
    if result.status in (RunStatus.CRASH, RunStatus.KILLED):
        return Verdict(status=Status.CRASH, score=score, reason=f"process {result.status.value} "
                       f"(exit {result.returncode})", feedback=feedback or _last_error(result.stderr), **base)
    if result.status is RunStatus.PASSED and n and len(tests) == n and passed == n:
        return Verdict(status=Status.VALID, score=1.0, **base)
    if failures:
        return Verdict(status=Status.WRONG, score=score, reason=f"{len(failures)} of {n} tests failed",
                       feedback=feedback, **base)
    # no failing test, yet not all passed: the program died outside the tests (syntax error, early exit, ...)
    err = _last_error(result.stderr) or f"the program ended before its tests ran (exit {result.returncode})"
    return Verdict(status=Status.ERROR, score=score, reason=err, feedback=err, **base)


# ---- the domain ----------------------------------------------------------------------------------------------


class CodeDomain:
    """HumanEval / MBPP. `limits` and `workers` set the sandbox; one process per candidate."""

    name = "code"

    @staticmethod
    def conditions() -> tuple:
        """The code PI conditions (defined at the bottom of this module), for `get_condition(name, "code")`."""
        return (test_suite.condition, shuffled_test_suite.condition)

    def __init__(self, limits: Limits | None = None, workers: int | None = None) -> None:
        self.limits = limits or Limits(timeout_s=10.0, memory_mb=1024)
        self.workers = workers

    def problems(self, dataset: str = "humaneval", split: str = "test", path: str | None = None,
                 limit: int | None = None, seed: int = 0) -> list[Problem]:
        """HumanEval (split "test" or "all") or MBPP sanitized ("train"/"validation"/"test"/"prompt"/"all"),
        in file order; `limit` keeps the first N."""
        if dataset not in DATASETS:
            raise DataError(f"data.dataset: {dataset!r} is not a code dataset (use one of {', '.join(DATASETS)})")
        file = resolve_data_file(dataset, path, DEFAULT_FILES[dataset])
        if dataset == "humaneval":
            if split not in ("test", "all"):
                raise DataError(f"data split {split!r}: HumanEval has only 'test' (or use 'all')")
            probs = [humaneval_problem(r) for r in _read_humaneval(file)]
        else:
            if split not in (*MBPP_SPLITS, "all"):
                raise DataError(f"data split {split!r}: MBPP splits are {', '.join(MBPP_SPLITS)} or 'all'")
            probs = [p for p in map(mbpp_problem, _read_mbpp(file)) if split in ("all", p.split)]
        if limit is not None:
            if limit <= 0:
                raise DataError(f"data limit: must be > 0 (got {limit})")
            probs = probs[:limit]
        return probs

    def prompt(self, problem: Problem) -> str:
        if problem.meta["dataset"] == "humaneval":
            return ("Complete the following Python function. Answer with the complete function in a "
                    f"```python code block.\n\n```python\n{problem.text}```")
        return (f"{problem.text}\nYour code should pass this test:\n\n{problem.meta['test_list'][0]}\n\n"
                "Answer with the Python code in a ```python code block.")

    def extract(self, completion: str) -> str | None:
        return extract_code(completion)

    def verify_many(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[Verdict]:
        """Every (problem, completion) in its own sandbox, in parallel; VALID only when every test passes."""
        if len(problems) != len(completions):
            raise ValueError(f"verify_many: {len(problems)} problems but {len(completions)} completions")
        verdicts: list[Verdict | None] = [None] * len(problems)
        jobs: list[tuple[int, str, str]] = []  # (index, code, nonce)
        programs: list[str] = []
        for i, (p, c) in enumerate(zip(problems, completions)):
            code = self.extract(c)
            if code is None:
                verdicts[i] = Verdict(status=Status.NO_ANSWER, reason="no code in the completion")
                continue
            nonce = secrets.token_hex(8)  # so a program's own prints cannot pass for test results by accident
            jobs.append((i, code, nonce))
            programs.append(graded_program(p, code, nonce))
        results = run_many(programs, workers=self.workers, limits=self.limits)
        for (i, code, nonce), res in zip(jobs, results):
            verdicts[i] = verdict_from_run(problems[i], code, res, nonce)
        return [v for v in verdicts if v is not None]

    def verify(self, problem: Problem, completion: str) -> Verdict:
        return self.verify_many([problem], [completion])[0]

    def signature(self, completion: str) -> str:
        """Canonical code (ast round trip drops comments and formatting); else whitespace-collapsed text."""
        code = extract_code(completion) or completion
        try:
            return ast.unparse(ast.parse(code))
        except (SyntaxError, ValueError):
            return " ".join(code.split())


# ---- the code PI conditions -------------------------------------------------------------------------------------


@define("test_suite", domains={"code"})
def test_suite(ctx: PIContext) -> str:
    """The failure bit and the failing test's assertion and error: "Your answer is incorrect. This test failed:
    <assert ...> <AssertionError: ...>. Try again."

    From the verdict's feedback; a run that died outside the tests shows its error instead.
    """
    shown = ctx.verdict.feedback or ctx.verdict.reason or "no test passed"
    return f"{FAILED} This test failed:\n{shown}\n{TRY_AGAIN}"


@define("shuffled_test_suite", domains={"code"})
def shuffled_test_suite(ctx: PIContext) -> str:
    """The test-suite format with a test of ANOTHER problem (seeded shuffle): "Your answer is incorrect. This test
    failed: <another problem's assert> AssertionError. Try again." (the matched control for test-suite PI)."""
    other = shuffled_partner(ctx)
    test = ctx.rng.choice(other.meta["tests"]) if other.meta.get("tests") else "assert False"
    return f"{FAILED} This test failed:\n{test}\nAssertionError\n{TRY_AGAIN}"
