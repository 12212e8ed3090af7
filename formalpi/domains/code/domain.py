"""The code domain: HumanEval and MBPP (sanitized) from local files, checked in the sandbox; test-suite PI.

To grade, the candidate's program alone (HumanEval: prompt + completion; MBPP: the code) runs in a sandbox
(formalpi/domains/code/sandbox.py) and answers calls; each test (a statement of HumanEval's `check`, a line of MBPP's
`test_list`) runs on the TRUSTED side (formalpi/domains/code/judge.py) against proxies of the candidate's functions, so
the candidate can pass only by returning the right plain values. The score is the fraction of tests passed; the
first failing test (its dataset text) and its typed outcome become the verdict's `feedback` (what test-suite PI
shows): never a file's contents, only the test, the outcome and a capped, cleaned exception message.
`humaneval_program` / `mbpp_program` assemble each benchmark's own program (used by the benchmark).
"""

from __future__ import annotations

import ast
import builtins
import gzip
import json
import re
import urllib.request
import warnings
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from formalpi.domains.code.judge import Judgement, JudgePool, JudgeSpec, stdlib_module
from formalpi.domains.code.sandbox import Limits
from formalpi.pi_condition import FAILED, TRY_AGAIN, PIContext, define, shuffled_partner
from formalpi.domain import DomainBase, SettingsSection
from formalpi.errors import DataError
from formalpi.paths import resolve_data_file
from formalpi.records import Problem, Status, Verdict

DATASETS = ("humaneval", "mbpp")
DEFAULT_FILES = {"humaneval": ("HumanEval.jsonl.gz", "HumanEval.jsonl"), "mbpp": ("sanitized-mbpp.json",)}
HUMANEVAL_URL = "https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz"
MBPP_URL = "https://raw.githubusercontent.com/google-research/google-research/master/mbpp/sanitized-mbpp.json"
# MBPP's own task-id ranges (Austin et al. 2021): the sanitized file keeps them
MBPP_SPLITS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}
HUMANEVAL_FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")
MBPP_FIELDS = ("task_id", "prompt", "code", "test_imports", "test_list")
FEEDBACK_CHARS = 1000  # a failing test's text and error, capped: it becomes a prompt


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
        raise DataError(
            f"{path}: expected a JSON list of MBPP problems (sanitized-mbpp.json), got {type(data).__name__}"
        )
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
    return Problem(
        id=row["task_id"],
        domain="code",
        text=row["prompt"],
        gold=row["canonical_solution"],
        split="test",
        meta={
            "dataset": "humaneval",
            "entry_point": row["entry_point"],
            "test": row["test"],
            "tests": check_units(row["test"]),
        },
    )


def mbpp_problem(row: dict) -> Problem:
    tid = int(row["task_id"])
    split = next((s for s, r in MBPP_SPLITS.items() if tid in r), "test")
    return Problem(
        id=f"mbpp/{tid}",
        domain="code",
        text=row["prompt"],
        gold=row["code"],
        split=split,
        meta={
            "dataset": "mbpp",
            "test_imports": list(row["test_imports"]),
            "test_list": list(row["test_list"]),
            "tests": list(row["test_list"]),
        },
    )


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


def _free_names(sources: Sequence[str]) -> list[str]:
    """Names the test sources read and never bind, in first-use order."""
    loads: list[str] = []
    bound: set[str] = set()
    for src in sources:
        for node in ast.walk(_parse_quietly(src)):
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    if node.id not in loads:
                        loads.append(node.id)
                else:
                    bound.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return [n for n in loads if n not in bound]


def judge_spec(problem: Problem) -> JudgeSpec:
    """See `_judge_spec`; cached per problem (a problem is judged once per sample)."""
    m = problem.meta
    key = (
        problem.id,
        m["dataset"],
        problem.text,
        problem.gold,
        m.get("entry_point"),
        m.get("test"),
        tuple(m.get("test_list") or ()),
        tuple(m.get("test_imports") or ()),
    )
    spec = _SPECS.get(key)
    if spec is None:
        if len(_SPECS) >= 8192:
            _SPECS.clear()
        spec = _SPECS[key] = _judge_spec(problem)
    return spec


_SPECS: dict[tuple, JudgeSpec] = {}


def _judge_spec(problem: Problem) -> JudgeSpec:
    """What the trusted side runs for `problem`, from the dataset alone (never from a candidate).

    HumanEval: the prompt (its helper functions, e.g. `encode_cyclic`, are the TRUSTED ones, whatever the
    candidate redefines) and the test module, then each statement of `check`'s body; `candidate` and the entry
    point's name are the candidate's function. MBPP: `test_imports`, then each assert; a name the asserts call
    is the candidate's when the reference defines it or it is neither a builtin nor a stdlib module (which the
    trusted side imports itself, e.g. `sys` in task 596)."""
    if problem.meta["dataset"] == "humaneval":
        entry = problem.meta["entry_point"]
        tree = ast.parse(problem.meta["test"])
        check = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
        if check is None:
            raise DataError(f"{problem.id}: HumanEval test has no `def check(candidate)`")
        arg = check.args.args[0].arg if check.args.args else "candidate"
        units = tuple((ast.unparse(s), _is_test(s)) for s in check.body if _is_test(s) or not isinstance(s, ast.Assert))
        return JudgeSpec(
            prelude=problem.text + "\n" + problem.meta["test"], units=units, proxies=((arg, entry), (entry, entry))
        )
    tests = list(problem.meta["test_list"])
    prelude = "\n".join(problem.meta["test_imports"])
    bound = set(_free_names([prelude])) | {
        (a.asname or a.name).split(".")[0]
        for n in ast.walk(ast.parse(prelude))
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    }
    defined = _top_level_names(problem.gold or "")
    proxies, imports = [], []
    for name in _free_names(tests):
        if name in defined or not (hasattr(builtins, name) or name in bound or stdlib_module(name)):
            proxies.append((name, name))
        elif stdlib_module(name) and name not in bound and not hasattr(builtins, name):
            imports.append(f"import {name}")
    return JudgeSpec(
        prelude="\n".join([prelude, *imports]), units=tuple((t, True) for t in tests), proxies=tuple(proxies)
    )


def _parse_quietly(src: str) -> ast.Module:
    """ast.parse of dataset text without its SyntaxWarnings/DeprecationWarnings (e.g. "\\w" in a string)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        return ast.parse(src)


def _top_level_names(code: str) -> set[str]:
    try:
        tree = _parse_quietly(code)
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def candidate_source(problem: Problem, code: str) -> str:
    """What runs in the sandbox: the candidate's program only (HumanEval: prompt + completion; MBPP: the code)."""
    if problem.meta["dataset"] == "humaneval":
        return problem.text + code
    return code


# ---- completion extraction --------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_START = re.compile(r"^(\s+\S|def |async def |class |import |from |@|#|[A-Za-z_][A-Za-z0-9_]*\s*=)")


def _parses(code: str) -> bool:
    try:
        _parse_quietly(code if not code[:1].isspace() else "def _f():\n" + code)
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


def verdict_from_judgement(problem: Problem, code: str, j: Judgement) -> Verdict:
    """VALID only when every test passed on the trusted side; otherwise the first failing test's outcome types
    the verdict and its test (trusted text) and typed error become the feedback test-suite PI shows."""
    n = len(j.tests)
    passed = sum(t.outcome == "passed" for t in j.tests)
    score = passed / n if n else 0.0
    if j.load != "ok":
        detail = j.load_detail or j.load
        status = {"timeout": Status.TIMEOUT, "memory": Status.MEMORY, "crash": Status.CRASH}.get(j.load, Status.ERROR)
        shown = "Timed out." if j.load == "timeout" else f"the program failed to load: {detail}"
        return Verdict(
            status=status,
            score=score,
            reason=f"load {j.load}: {detail}"[:FEEDBACK_CHARS],
            feedback=shown[:FEEDBACK_CHARS],
            answer=code,
            time_s=j.duration_s,
        )
    if n and passed == n:
        return Verdict(status=Status.VALID, score=1.0, answer=code, time_s=j.duration_s)
    if not n:
        return Verdict(
            status=Status.ERROR, score=0.0, reason="the problem has no tests", answer=code, time_s=j.duration_s
        )
    first = next(t for t in j.tests if t.outcome != "passed")
    status = {"timeout": Status.TIMEOUT, "not_run": Status.TIMEOUT, "memory": Status.MEMORY, "crash": Status.CRASH}.get(
        first.outcome, Status.WRONG
    )
    feedback = f"{first.test}\n{first.detail or first.outcome}"[:FEEDBACK_CHARS]
    failed = n - passed
    return Verdict(
        status=status,
        score=score,
        reason=f"{failed} of {n} tests failed (first: {first.outcome})",
        feedback=feedback,
        answer=code,
        time_s=j.duration_s,
    )


# ---- the domain ----------------------------------------------------------------------------------------------


class CodeSettings(SettingsSection):
    """The code domain's `[verify]` table."""

    timeout_s: float = Field(default=10.0, gt=0)  # per candidate: loading plus every call (or the whole program)
    memory_mb: int = Field(default=1024, gt=0)  # per candidate process (RLIMIT_AS) and its container (cgroup)
    workers: int = Field(default=2, gt=0)  # trusted judge processes, each with its warm sandboxes
    allow_weak_sandbox: bool = False  # run candidates where the sandbox lacks layers (recorded, reported)


class CodeDomain(DomainBase):
    """HumanEval / MBPP. Candidates run in warm sandboxes (formalpi/domains/code/sandbox.py) and answer calls; the tests
    run on the trusted side (formalpi/domains/code/judge.py), in `workers` trusted worker processes.

    `allow_weak_sandbox`: run candidates even where the machine cannot give every isolation layer (then
    `isolation()["weak"]` is true, the run's manifest records it and the report says so)."""

    name = "code"
    Settings = CodeSettings

    @classmethod
    def conditions(cls) -> tuple:
        """The code PI conditions (defined at the bottom of this module), for `get_condition(name, "code")`."""
        return (test_suite.condition, shuffled_test_suite.condition)

    def __init__(self, settings: CodeSettings | None = None, limits: Limits | None = None) -> None:
        """`limits`: the sandbox's full limits (process count, tmpfs size, ...) where the settings' timeout and
        memory are not enough (tests, benchmarks); by default they come from the settings."""
        settings = settings or CodeSettings()
        self.settings = settings
        self.limits = limits or Limits(timeout_s=settings.timeout_s, memory_mb=settings.memory_mb)
        self.workers = settings.workers
        self.allow_weak_sandbox = settings.allow_weak_sandbox
        self._pool: JudgePool | None = None
        self._pool_key: tuple | None = None

    def _judges(self) -> JudgePool:
        key = (self.limits, self.workers, self.allow_weak_sandbox)
        if self._pool is None or self._pool_key != key:  # limits changed: new sandboxes
            self.close()
            self._pool = JudgePool(self.limits, workers=self.workers or 2, allow_weak=self.allow_weak_sandbox)
            self._pool_key = key
        return self._pool

    def isolation(self) -> dict:
        """The sandbox layers candidates of this domain run under (for the run's manifest)."""
        return self._judges().layers()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def problems(
        self,
        dataset: str = "humaneval",
        split: str = "test",
        path: str | None = None,
        limit: int | None = None,
        seed: int = 0,
    ) -> list[Problem]:
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
            return (
                "Complete the following Python function. Answer with the complete function in a "
                f"```python code block.\n\n```python\n{problem.text}```"
            )
        return (
            f"{problem.text}\nYour code should pass this test:\n\n{problem.meta['test_list'][0]}\n\n"
            "Answer with the Python code in a ```python code block."
        )

    def extract(self, completion: str) -> str | None:
        return extract_code(completion)

    def verify_many(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[Verdict]:
        """Every (problem, completion) in a fresh sandbox child, judged on the trusted side; VALID only when every
        test passes."""
        if len(problems) != len(completions):
            raise ValueError(f"verify_many: {len(problems)} problems but {len(completions)} completions")
        verdicts: list[Verdict | None] = [None] * len(problems)
        jobs: list[tuple[int, str]] = []
        specs: list[JudgeSpec] = []
        sources: list[str] = []
        for i, (p, c) in enumerate(zip(problems, completions)):
            code = self.extract(c)
            if code is None:
                verdicts[i] = Verdict(status=Status.NO_ANSWER, reason="no code in the completion")
                continue
            jobs.append((i, code))
            specs.append(judge_spec(p))
            sources.append(candidate_source(p, code))
        for (i, code), j in zip(jobs, self._judges().judge_many(specs, sources)):
            verdicts[i] = verdict_from_judgement(problems[i], code, j)
        return [v for v in verdicts if v is not None]

    def verify(self, problem: Problem, completion: str) -> Verdict:
        return self.verify_many([problem], [completion])[0]

    def signature(self, completion: str) -> str:
        """Canonical code (ast round trip drops comments and formatting); else whitespace-collapsed text."""
        code = extract_code(completion) or completion
        try:
            return ast.unparse(_parse_quietly(code))
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
