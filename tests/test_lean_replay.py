"""The replay of VALID verdicts (formalpi/lean/replay.py) through its scripted stand-in, and SafeVerify for real
where `lake` is on PATH."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from formalpi.analysis.report import ReportOptions, write_report
from formalpi.analysis.synthetic import eval_records, write_run
from formalpi.lean import verdict as strict
from formalpi.lean.canary import load_suite
from formalpi.lean.pool import LeanConfig, LeanPool
from formalpi.lean.replay import (
    ReplayOutcome,
    Replayer,
    ReplayRequest,
    ReplaySettings,
    _Ran,
    read_safe_verify,
    standin_commands,
)
from formalpi.lean.setup import REPL_BINARY, SAFE_VERIFY_BINARY, doctor_checks
from formalpi.records import Status
from tests.conftest import ROOT

DOUBLE = [sys.executable, "-m", "formalpi.lean.double"]
STATEMENT = "theorem t{i} (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n  sorry"
HEADER = "import Mathlib"


def _config(**kw) -> LeanConfig:
    kw = {"workers": 2, "timeout_s": 5.0, **standin_commands(), **kw}
    return LeanConfig(project_dir=ROOT, repl_command=DOUBLE, **kw)


def _item(i: int, proof: str) -> dict:
    return {"statement": STATEMENT.format(i=i), "proof": proof, "header": HEADER}


def _logging_replay(tmp_path: Path) -> tuple[list[str], Path]:
    """The stand-in's safe_verify behind a wrapper that logs each call."""
    log = tmp_path / "calls.log"
    wrapper = tmp_path / "logged_safe_verify.py"
    wrapper.write_text(
        f"import sys, runpy\nsys.path.insert(0, {str(ROOT)!r})\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "sys.argv = ['replay_double', 'safe_verify', *sys.argv[1:]]\n"
        "runpy.run_module('formalpi.lean.replay_double', run_name='__main__')\n"
    )
    return [sys.executable, str(wrapper)], log


def test_pool_replays_valid_verdicts_only_in_one_batch(tmp_path):
    argv, log = _logging_replay(tmp_path)
    items = [
        _item(0, "by\n  omega -- double:ok"),
        _item(1, "by\n  omega -- double:ok standin:kernel"),  # the REPL says valid, the kernel replay does not
        _item(2, "by\n  omega -- double:error standin:kernel"),  # an error: never replayed
        _item(3, "by\n  omega -- double:ok\n#eval 1"),
    ]  # refused by the pre-check: never replayed
    with LeanPool(_config(replay_command=argv)) as pool:
        v = pool.verify_many(items)
        assert [x.status for x in v] == [Status.VALID, Status.REJECTED, Status.ERROR, Status.REJECTED]
        assert v[1].reason.startswith("replay: the kernel replay of the submission failed: (kernel)")
        assert "#eval" in v[3].reason
        assert len(log.read_text().splitlines()) == 2 and pool.stats["replayed"] == 2
        again = pool.verify(**items[0])  # a cached verdict was replayed before it was cached
        assert again.status is Status.VALID and len(log.read_text().splitlines()) == 2
    with LeanPool(_config(replay_command=argv, replay=False)) as pool:
        assert pool.verify(**items[1]).status is Status.VALID  # off: the REPL's word stands
    assert len(log.read_text().splitlines()) == 2


def test_the_replayed_submission_is_what_the_repl_accepted_without_our_checks(tmp_path):
    argv, log = _logging_replay(tmp_path)
    captured = tmp_path / "sub.lean"
    keep = tmp_path / "keep_source.py"  # a compile step that keeps a copy of each source it is given
    keep.write_text(
        f"import shutil, sys, runpy\nsys.path.insert(0, {str(ROOT)!r})\n"
        f"shutil.copy(sys.argv[-1], {str(captured)!r} + '.' + str(len(sys.argv[-1])))\n"
        "sys.argv = ['replay_double', 'lean', *sys.argv[1:]]\n"
        "runpy.run_module('formalpi.lean.replay_double', run_name='__main__')\n"
    )
    with LeanPool(_config(replay_command=argv, replay_compile_command=[sys.executable, str(keep)])) as pool:
        assert pool.verify(**_item(0, "by\n  omega -- double:ok")).status is Status.VALID
    texts = sorted(p.read_text() for p in tmp_path.glob("sub.lean.*"))
    target = next(t for t in texts if ":= sorry" in t)
    sub = next(t for t in texts if "omega" in t)
    assert target == "import Mathlib\n\ntheorem t0 (x : ℕ) (h : x = 2) : x + 1 = 3 := sorry\n"
    assert sub.startswith("import Mathlib\n\ntheorem t0 (x : ℕ) (h : x = 2) : x + 1 = 3 := by")
    assert "#print axioms" not in sub and "example :" not in sub


def _replayer(tmp_path, **kw) -> Replayer:
    s = {
        "compile_command": standin_commands()["replay_compile_command"],
        "replay_command": standin_commands()["replay_command"],
        "timeout_s": 20.0,
        **kw,
    }
    return Replayer(ReplaySettings(project_dir=ROOT, **s))


def _req(
    submission: str, statement: str = "theorem t (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n", header: str = HEADER
) -> ReplayRequest:
    return ReplayRequest(header=header, statement=statement, name="t", submission=submission)


GOOD = "theorem t (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n  omega\n"


def test_findings_are_rejections_with_the_tools_reason(tmp_path):
    r = _replayer(tmp_path)
    try:
        got = r.replay_many(
            [
                _req(GOOD),
                _req("theorem t (x : ℕ) (h : x = 2) : x + 1 = 4 := by\n  omega\n"),  # another type
                _req("theorem u (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n  omega\n"),  # another name
                _req("axiom cheat : False\n\n" + GOOD.replace("omega", "exact cheat.elim")),
                _req("set_option debug.skipKernelTC true in\n" + GOOD),
                _req(GOOD + "-- standin:compile-error\n"),
                _req("theorem t {y : ℕ} (h0 : y = 2) : y + 1 = 3 := by\n  omega\n"),  # alpha-renamed: same type
            ]
        )
        # compile-time code that rewrites every .olean it finds: the trusted target is not on disk until the
        # submission's compile has ended, so a wrong proof after it is still judged against the trusted type
        tamper = r.replay(_req(GOOD.replace("3 := by", "4 := by") + "-- standin:tamper\n"))
    finally:
        r.close()
    assert tamper.outcome is ReplayOutcome.FINDING and tamper.reason == "t: theorem type mismatch", tamper
    assert got[0].outcome is ReplayOutcome.PASSED and got[0].reason == ""
    assert all(g.outcome is ReplayOutcome.FINDING for g in got[1:-1]), got
    assert got[-1].outcome is ReplayOutcome.PASSED, got[-1]
    assert got[1].reason == "t: theorem type mismatch"
    assert got[2].reason == "t: declaration not found in submission"
    assert got[3].reason.startswith("t uses disallowed axioms #[cheat]")
    assert "(kernel)" in got[4].reason
    assert "does not compile in a fresh `lean` process" in got[5].reason


def test_tool_failures_are_crashes(tmp_path):
    slow = _replayer(tmp_path, timeout_s=1.0)
    small = _replayer(tmp_path, memory_limit_mb=150.0)
    try:
        got = slow.replay_many(
            [_req(GOOD + "-- standin:crash\n"), _req(GOOD + "-- standin:hang\n"), _req(GOOD + "-- standin:silent\n")]
        )
        got.append(small.replay(_req(GOOD + "-- standin:grow=400\n")))
        bad_target = small.replay(_req(GOOD, header="import Mathlib -- standin:compile-error"))
    finally:
        slow.close()
        small.close()
    assert [g.outcome for g in got] == [ReplayOutcome.TOOL_FAILURE] * 4, got
    assert "exited 134" in got[0].reason and "timed out after 1s" in got[1].reason
    assert "without its closing 'Finished.'" in got[2].reason and "150 MB" in got[3].reason
    assert bad_target.outcome is ReplayOutcome.TOOL_FAILURE and bad_target.stage == "target"
    missing = _replayer(tmp_path, replay_command=["no-such-safe-verify-binary"])
    try:
        m = missing.replay(_req(GOOD))
    finally:
        missing.close()
    assert m.outcome is ReplayOutcome.TOOL_FAILURE and "cannot start `no-such-safe-verify-binary`" in m.reason
    with LeanPool(_config(replay_command=["no-such-safe-verify-binary"])) as pool:
        v = pool.verify(**_item(0, "by\n  omega -- double:ok"))
    assert v.status is Status.CRASH and v.reason.startswith("replay failed (safe_verify): cannot start")


def test_reading_safe_verify_output_in_its_own_format():
    """Lines as SafeVerify's Main.lean (a271595) and Lean's runtime print them; the kernel message is the one
    lean4checker's test.sh expects from the same `Environment.replay`."""
    t, s = Path("/w/target.olean"), Path("/w/sub.olean")
    head = (
        f"Currently running on Lean v4.24.0\nRunning SafeVerify on target file: {t} and submission file: {s}.\n"
        f"------------------\nReplaying {t}\nFinished setting up the environement.\nFinished replay. Found 1 "
        f"declarations.\n------------------\nReplaying {s}\nFinished setting up the environement.\n"
    )
    kernel = _Ran(1, head, "uncaught exception: (kernel) application type mismatch\n  False.elim @propext\n")
    assert read_safe_verify(kernel, t, s) == (
        ReplayOutcome.FINDING,
        "the kernel replay of the submission failed: (kernel) application type mismatch",
    )
    in_target = _Ran(
        1,
        head.split(f"Replaying {s}")[0].replace("Finished replay. Found 1 declarations.\n------------------\n", ""),
        "uncaught exception: (kernel) unknown constant 'x'\n",
    )
    assert read_safe_verify(in_target, t, s)[0] is ReplayOutcome.TOOL_FAILURE
    axioms = _Ran(
        1,
        head + "Finished replay. Found 3 declarations.\n",
        "uncaught exception: t used disallowed axioms. #[propext, cheat]\n",
    )
    assert read_safe_verify(axioms, t, s) == (ReplayOutcome.FINDING, "t uses disallowed axioms #[propext, cheat]")
    mismatch = _Ran(
        1,
        head + "Finished replay. Found 3 declarations.\n------------------\n",
        f"Found a problem in {s} with declaration t: theorem type mismatch\n"
        f"uncaught exception: SafeVerify check failed for {s}\n",
    )
    assert read_safe_verify(mismatch, t, s) == (ReplayOutcome.FINDING, "t: theorem type mismatch")
    missing = _Ran(
        1,
        head.split("Finished setting up the environement.\n", 1)[0] + f"Replaying {s}\n",
        f"uncaught exception: object file '{s}' does not exist\n",
    )
    assert read_safe_verify(missing, t, s)[0] is ReplayOutcome.TOOL_FAILURE
    assert read_safe_verify(_Ran(None, "", "", "timed out after 5s"), t, s)[0] is ReplayOutcome.TOOL_FAILURE
    assert read_safe_verify(_Ran(0, head + "Finished.\n", ""), t, s) == (ReplayOutcome.PASSED, "")


def test_forged_canaries_pass_a_bypassed_pre_check_and_the_fooled_repl_but_not_the_replay(monkeypatch):
    """Defence in depth: with the pre-check switched off, the REPL double answers F1, F2, the hijacked
    `#print axioms` and the kernel-skipping file header as the fooled REPL does (valid); the replay alone turns
    each into REJECTED. (With the pre-check on, the ported lexer refuses all four first: test_lean_canaries.)"""

    def no_whitelist(proof, trusted_name, header=""):
        head, _, body = proof.rpartition(f"theorem {trusted_name} ")
        return strict.ProofPlan(helpers=head, body=body[body.index(":=") + 2 :], restated=True)

    monkeypatch.setattr(strict, "plan_proof", no_whitelist)
    names = ["canary_f1_comment", "canary_f2_latin1", "canary_print_axioms_hijack", "canary_full_file_header"]
    cases = [c for c in load_suite() if c.name in names]
    assert [c.name for c in cases] == names
    with LeanPool(_config()) as pool:
        v = pool.verify_many([c.item() for c in cases])
    assert [x.status for x in v] == [Status.REJECTED] * 4 and all(x.reason.startswith("replay: ") for x in v), v
    with LeanPool(_config(replay=False)) as pool:
        assert [x.status for x in pool.verify_many([c.item() for c in cases])] == [Status.VALID] * 4


def test_replay_off_is_printed_under_every_table(tmp_path):
    correct = np.zeros((6, 2), dtype=bool)
    correct[:3] = True
    for s in (1, 2):
        write_run(
            tmp_path,
            "baseline",
            s,
            eval_records(correct, seed=s, condition="b"),
            method="baseline",
            manifest_extra={"lean_verifier": {"replay": True}},
        )
        write_run(
            tmp_path,
            "gold",
            s,
            eval_records(correct, seed=s, condition="gold"),
            condition="gold",
            manifest_extra={"lean_verifier": {"replay": False}},
        )
    text = write_report([tmp_path], tmp_path / "rep", ReportOptions(n_boot=100, plots=False)).read_text()
    note = "LEAN REPLAY OFF (LeanConfig.replay = false)"
    assert text.count(note) >= 4 and "| gold (!) |" in text and "| baseline (pass@1) |" in text
    for heading in ("## Domain × model × method", "## Budget", "## Path diversity"):
        assert note in text.split(heading, 1)[1].split("\n## ", 1)[0], heading


def test_lean_domain_records_the_replay_setting():
    from formalpi.domains.lean.domain import LeanDomain

    assert LeanDomain().verifier_settings() == {"replay": True}
    assert LeanDomain(LeanConfig(project_dir=ROOT, replay=False)).verifier_settings() == {"replay": False}

    class RemotePool:  # a pool given to the domain (RayLeanPool keeps its config the same way)
        config = LeanConfig(project_dir=ROOT, replay=False)

    assert LeanDomain(pool=RemotePool()).verifier_settings() == {"replay": False}


def _workspace(tmp_path: Path) -> Path:
    project = tmp_path / "lean_project"
    project.mkdir()
    for name in ("lakefile.toml", "lean-toolchain"):
        (project / name).write_text((ROOT / "lean_project" / name).read_text())
    (tmp_path / "lake-manifest.json").write_text((ROOT / "lake-manifest.json").read_text())
    repl = project / REPL_BINARY
    repl.parent.mkdir(parents=True)
    repl.write_text("#!/bin/sh\n")
    repl.chmod(0o755)
    return project


def test_doctor_fails_loudly_when_safeverify_is_not_built(tmp_path):
    from formalpi.cli import app

    project = _workspace(tmp_path)
    check = {c.name: c for c in doctor_checks(project)}["SafeVerify binary (replay)"]
    assert not check.ok and "lake build SafeVerify/safe_verify" in check.fix
    res = CliRunner().invoke(
        app, ["lean", "doctor", "--repl-command", " ".join(DOUBLE), "--project-dir", str(project)], terminal_width=300
    )
    assert res.exit_code == 1 and "SafeVerify" in res.output and "MISSING" in res.output, res.output
    sv = project / SAFE_VERIFY_BINARY
    sv.parent.mkdir(parents=True)
    sv.write_text("#!/bin/sh\n")
    sv.chmod(0o755)
    assert {c.name: c for c in doctor_checks(project)}["SafeVerify binary (replay)"].ok


def test_doctor_states_safeverifys_toolchain_mismatch(tmp_path):
    """The pinned SafeVerify (a271595) declares v4.23.0 and is built with the workspace's v4.24.0: doctor says so
    on its own row (documented, so it passes); any other declared toolchain means another commit: it fails."""
    from formalpi.lean.setup import PINNED_TOOLCHAIN, SAFE_VERIFY_TOOLCHAIN, doctor_rows

    project = _workspace(tmp_path)
    assert "SafeVerify toolchain" not in {c.name for c in doctor_checks(project)}  # not checked out: nothing to read
    tc = project / ".lake" / "packages" / "SafeVerify" / "lean-toolchain"
    tc.parent.mkdir(parents=True)
    tc.write_text(SAFE_VERIFY_TOOLCHAIN + "\n")
    check = {c.name: c for c in doctor_checks(project)}["SafeVerify toolchain"]
    assert check.ok and SAFE_VERIFY_TOOLCHAIN in check.detail and PINNED_TOOLCHAIN in check.detail
    assert any(r.checks == "SafeVerify toolchain" and "v4.23.0" in r.found for r in doctor_rows(doctor_checks(project)))
    tc.write_text("leanprover/lean4:v4.29.0\n")
    check = {c.name: c for c in doctor_checks(project)}["SafeVerify toolchain"]
    assert not check.ok and "v4.29.0" in check.detail


def test_setup_builds_safeverify_after_the_repl(tmp_path, monkeypatch):
    from formalpi.lean.setup import setup_steps

    assert [s.argv for s in setup_steps(tmp_path)][-2:] == [
        ["lake", "build", "REPL/repl"],
        ["lake", "build", "SafeVerify/safe_verify"],
    ]


def test_safeverify_is_pinned_in_the_workspace():
    import json
    import tomllib

    req = {r["name"]: r for r in tomllib.loads((ROOT / "lean_project" / "lakefile.toml").read_text())["require"]}
    pinned = {p["name"]: p for p in json.loads((ROOT / "lake-manifest.json").read_text())["packages"]}
    rev = "a271595435d473323802e458731a3f000655e142"
    assert req["SafeVerify"]["rev"] == rev and pinned["SafeVerify"]["rev"] == rev
    assert pinned["SafeVerify"]["url"] == req["SafeVerify"]["git"] == "https://github.com/GasStationManager/SafeVerify"


@pytest.mark.lean
def test_real_safeverify_replays_a_proof_and_finds_a_forgery():
    """Where Lean is installed and `formalpi lean setup` has run: the real compile and SafeVerify."""
    from formalpi.lean.setup import default_project_dir

    r = Replayer(ReplaySettings(project_dir=default_project_dir(), timeout_s=600.0))
    try:
        good, axiom, kernel, wrong = r.replay_many(
            [
                _req(GOOD),
                _req("axiom cheat : False\n\n" + GOOD.replace("omega", "exact cheat.elim")),
                _req(
                    "open Lean Elab Tactic in\nelab_rules : tactic | `(tactic| decide) => do "
                    "(← getMainGoal).assign (mkConst ``True.intro)\n\nset_option debug.skipKernelTC true in\n"
                    "theorem t (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n  decide\n"
                ),
                _req("theorem t (x : ℕ) (h : x = 2) : x + 1 = 3 ∨ True := Or.inl (by omega)\n"),
            ]
        )
    finally:
        r.close()
    assert good.outcome is ReplayOutcome.PASSED, good
    assert axiom.outcome is ReplayOutcome.FINDING and "cheat" in axiom.reason, axiom
    assert kernel.outcome is ReplayOutcome.FINDING, kernel
    assert wrong.outcome is ReplayOutcome.FINDING and "type mismatch" in wrong.reason, wrong
