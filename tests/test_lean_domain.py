"""MiniF2F adapter: loading, conversion of the .lean files, proof extraction, verification through the pool."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from formalpi.domain import Domain
from formalpi.domains.lean.domain import (
    MINIF2F_FILE,
    LeanDomain,
    convert_minif2f_checkout,
    extract_proof,
    load_minif2f,
    minif2f_problems,
    proof_signature,
)
from formalpi.errors import DataError
from formalpi.lean.canary import load_suite
from formalpi.lean.pool import LeanConfig
from formalpi.lean.replay import standin_commands
from formalpi.records import Problem, Status
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parent.parent
DOUBLE = [
    sys.executable,
    "-m",
    "formalpi.lean.double",
    "--replies",
    str(ROOT / "formalpi" / "lean" / "canaries" / "replies.jsonl"),
]


@pytest.fixture(scope="module")
def minif2f() -> Path:
    return shared_path("data", MINIF2F_FILE)


def test_loads_minif2f_splits(minif2f, monkeypatch):
    monkeypatch.setenv("FORMALPI_DATA", str(minif2f.parent))
    dom = LeanDomain()
    test, valid = dom.problems(split="test"), dom.problems(split="valid", limit=5)
    assert len(test) == 244 and len(valid) == 5
    p = test[0]
    assert p.id == "aime_1983_p1" and p.domain == "lean" and p.text.endswith(":= by\n")
    assert p.meta["header"].startswith("import Mathlib") and p.meta["formal_statement"] == p.text
    prompt = dom.prompt(p)
    assert prompt.endswith(p.meta["header"] + p.text) and "```lean4" in prompt
    assert isinstance(dom, Domain)


def test_converting_the_lean_files_reproduces_the_jsonl(minif2f, tmp_path):
    """Build a checkout in the repository's layout (MiniF2F/Test/<name>.lean = header + statement + `sorry`)."""
    rows = load_minif2f(minif2f)
    for r in rows:
        d = tmp_path / "MiniF2F" / {"test": "Test", "valid": "Valid"}[r.split]
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{r.name}.lean").write_text(r.header + r.formal_statement.rstrip("\n") + " sorry")
    converted = convert_minif2f_checkout(tmp_path)
    key = lambda r: (r.split, r.name)  # noqa: E731
    assert sorted(converted, key=key) == sorted(rows, key=key)


def test_bad_files_give_typed_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("FORMALPI_DATA", str(tmp_path))
    with pytest.raises(DataError, match="formalpi data fetch minif2f"):
        LeanDomain().problems(split="test")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"name": "a", "split": "test", "header": "", "formal_statement": "theorem a : True := by\\n"}\n'
        '{"name": "b", "split": "test", "header": ""}\n'
    )
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'formal_statement'"):
        load_minif2f(bad)
    bad.write_text("{oops\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: not JSON"):
        load_minif2f(bad)
    good = tmp_path / "good.jsonl"
    good.write_text('{"name": "a", "split": "test", "header": "", "formal_statement": "theorem a : True := by\\n"}\n')
    with pytest.raises(DataError, match=r"no rows with split 'train' \(the file has: test\)"):
        minif2f_problems(good, "train")
    with pytest.raises(DataError, match="reads 'minif2f'"):
        LeanDomain().problems(dataset="math500")


@pytest.mark.parametrize(
    "completion, body",
    [
        (
            "  nlinarith [sq_nonneg (a - b)]\n```\n\nThis proof uses the square trick.",
            "  nlinarith [sq_nonneg (a - b)]",
        ),
        ("```lean4\ntheorem t (a : ℕ) : a = a := by\n  rfl\n```\nDone.", "by\n  rfl"),
        ("Let me think.\n```lean\n  simp\n```\nBetter:\n```lean4\n  omega\n```", "  omega"),
        ("  omega\n\nThe proof is complete because omega decides it.", "  omega"),
        ("  norm_num\n\n### Explanation\nnorm_num evaluates.", "  norm_num"),
        ("  intro x\n  Nat.le_refl x", "  intro x\n  Nat.le_refl x"),
        ("```lean4\n  exact h -- truncated", "  exact h -- truncated"),
        ("", None),
        ("```lean4\n```", None),
        ("   \n", None),
    ],
)
def test_extract_proof(completion, body):
    assert extract_proof(completion) == body


def test_helper_lemmas_reach_the_verifier():
    """A completion with a helper lemma before the restated theorem is checked with its helper (the old domain
    sent only the body, so the helper was unknown to Lean)."""
    cases = {c.name: c for c in load_suite()}
    c = cases["canary_omega"]
    prob = Problem(id="p", domain="lean", text=c.statement, meta={"header": c.header, "formal_statement": c.statement})
    completion = (
        "```lean4\nlemma aux (a b : ℕ) (h₀ : a + b = 10) (h₁ : a = 3) : b = 7 := by omega -- double:ok\n\n"
        "theorem canary_omega (a b : ℕ) (h₀ : a + b = 10) (h₁ : a = 3) : b = 7 := by\n"
        "  exact aux a b h₀ h₁\n```"
    )
    with LeanDomain(
        LeanConfig(project_dir=ROOT, repl_command=DOUBLE, workers=1, timeout_s=5, **standin_commands())
    ) as dom:
        v = dom.verify_many([prob], [completion])[0]
    assert v.status is Status.VALID and v.answer == "by\n  exact aux a b h₀ h₁"


def test_signature_ignores_comments_and_layout():
    a = LeanDomain().signature("  nlinarith [sq_nonneg (a - b)] -- uses a square\n  /- done -/")
    assert a == proof_signature("nlinarith   [sq_nonneg (a - b)]") == "nlinarith [sq_nonneg (a - b)]"


def test_verify_many_through_the_pool():
    """Canary statements as problems: the double answers them with the replies real Lean gives."""
    cases = {c.name: c for c in load_suite()}
    probs = [
        Problem(
            id=n,
            domain="lean",
            text=cases[n].statement,
            meta={"header": cases[n].header, "formal_statement": cases[n].statement},
        )
        for n in ("canary_omega", "canary_weaker_restated", "canary_sorry", "canary_omega")
    ]
    completions = [
        "  omega\n```\nThat is all.",
        "```lean4\n" + cases["canary_weaker_restated"].proof + "\n```",
        "  sorry",
        "I could not find a proof.\n```lean4\n```",
    ]
    cfg = LeanConfig(project_dir=ROOT, repl_command=DOUBLE, workers=2, timeout_s=5, **standin_commands())
    with LeanDomain(cfg) as dom:
        vs = dom.verify_many(probs, completions)
        pids = dom.pool().worker_pids()
        assert pids
    # the weaker restatement is sent as the model wrote it; the type check against the trusted statement fails
    assert [v.status for v in vs] == [Status.VALID, Status.REJECTED, Status.REJECTED, Status.NO_ANSWER]
    assert vs[0].score == 1.0 and vs[0].answer == "  omega" and vs[1].score == 0.0
    assert vs[1].reason.startswith("statement check") and "type mismatch" in vs[1].reason
    import psutil

    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)


def test_cli_check_counts_statuses(minif2f, tmp_path):
    from formalpi.cli import app

    proofs = tmp_path / "proofs.jsonl"
    proofs.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {"name": "mathd_algebra_10", "proof": "  sorry"},
                {"name": "mathd_algebra_10", "proof": "  native_decide"},
                {"name": "aime_1983_p1", "proof": "  nlinarith"},  # not recorded: the double answers a scripted error
            ]
        )
    )
    res = CliRunner().invoke(
        app,
        [
            "lean",
            "check",
            str(proofs),
            "--minif2f",
            str(minif2f),
            "--repl-command",
            " ".join(DOUBLE),
            "--project-dir",
            str(ROOT),
            "--workers",
            "2",
            "--out",
            str(tmp_path / "v.jsonl"),
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    assert "proofs/s" in res.output and "rejected" in res.output and "error" in res.output
    lines = [json.loads(x) for x in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [x["verdict"]["status"] for x in lines] == ["rejected", "rejected", "error"]
    proofs.write_text('{"name": "no_such_problem", "proof": "  simp"}\n')
    res = CliRunner().invoke(
        app,
        [
            "lean",
            "check",
            str(proofs),
            "--minif2f",
            str(minif2f),
            "--repl-command",
            " ".join(DOUBLE),
            "--project-dir",
            str(ROOT),
        ],
    )
    assert res.exit_code != 0 and isinstance(res.exception, DataError) and "no_such_problem" in str(res.exception)


def test_full_file_completions_in_prover_formats_are_verified() -> None:
    """Completions as Kimina-Prover / DeepSeek-Prover / Goedel-Prover write them (a fenced whole file with its own
    header, prose around it), through `LeanDomain.verify_many` and the double; f346383 refused the first two
    ("forbidden construct `import`")."""
    rows = {r["name"]: r for r in map(json.loads, shared_path("data", MINIF2F_FILE).read_text().splitlines())}
    row = rows["mathd_algebra_176"]
    prob = Problem(
        id=row["name"],
        domain="lean",
        text=row["formal_statement"],
        meta={"header": row["header"], "formal_statement": row["formal_statement"]},
    )
    own = (
        "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n\n"
    )
    decl = row["formal_statement"] + "  ring\n"
    completions = [
        f"Let me expand.\n```lean4\n{own}/-- Expand both sides. -/\n{decl}```\nDone.",  # Kimina
        f"```lean4\n{own}{decl}```",  # DeepSeek-Prover V2 / Goedel
        "  ring\n```",
    ]  # DeepSeek-Prover V1.5: continues the prompt's open block
    cfg = LeanConfig(
        project_dir=ROOT,
        workers=1,
        timeout_s=10,
        repl_command=[sys.executable, "-m", "formalpi.lean.double", "--unknown", "ok"],
        **standin_commands(),
    )  # the replay (on by default) through its scripted stand-in
    with LeanDomain(cfg) as dom:
        vs = dom.verify_many([prob] * 3, completions)
    assert [(v.status, v.reason) for v in vs] == [(Status.VALID, "")] * 3
