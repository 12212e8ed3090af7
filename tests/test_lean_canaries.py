"""The canary suite through the real LeanPool, with the REPL double answering the replies real Lean gives
(formalpi/lean/canaries/replies.jsonl: each row's `provenance` says recorded format or written to match Lean)."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from formalpi.errors import CanaryError
from formalpi.lean.details import lean_details
from formalpi.lean import verdict as strict
from formalpi.lean.double import split_checks
from formalpi.lean.canary import (
    CanaryGuard,
    DecidedBy,
    batch_canaries,
    choose_canaries,
    load_suite,
    verify_with_canaries,
)
from formalpi.lean.pool import LeanConfig, LeanPool
from formalpi.lean.replay import standin_commands
from formalpi.lean.selftest import mismatches, run_selftest, run_selftest_with_pool, selftest_table
from formalpi.records import Status, Verdict

ROOT = Path(__file__).resolve().parent.parent
REPLIES = ROOT / "formalpi" / "lean" / "canaries" / "replies.jsonl"
DOUBLE = [sys.executable, "-m", "formalpi.lean.double", "--replies", str(REPLIES)]


def no_whitelist(proof, trusted_name, header=""):
    """The verifier with its pre-check switched off: every command the model wrote reaches Lean (what came before
    the last restated theorem is sent ahead of it, as the earliest verifier did)."""
    found = list(re.finditer(r"(?m)^theorem\s+\S+.*?:=", proof, re.S))
    if not found:
        return strict.ProofPlan(body=proof)
    last = found[-1]
    return strict.ProofPlan(helpers=proof[: last.start()], body=proof[last.end() :], restated=True)


def double_config(**kw) -> LeanConfig:
    return LeanConfig(
        project_dir=ROOT,
        repl_command=DOUBLE,
        workers=kw.pop("workers", 2),
        timeout_s=kw.pop("timeout_s", 1.5),
        **{**standin_commands(), **kw},
    )


@pytest.fixture(scope="module")
def suite():
    return load_suite()


def test_suite_covers_every_required_forgery(suite):
    names = {c.name for c in suite}
    required = {
        "canary_sorry",
        "canary_admit",
        "canary_apply_search",
        "canary_native_decide",
        "canary_axiom",
        "canary_skip_kernel",
        "canary_eval_modify_env",
        "canary_elab",
        "canary_implemented_by",
        "canary_weaker_restated",
        "canary_instance",
        "canary_notation",
        "canary_partial",
        "canary_unsafe",
        "canary_runaway",
        "canary_omega",
        "canary_decide",
        "canary_simp",
        "canary_nlinarith",
        # one per class that fooled an earlier pre-check
        "canary_shadow_namespace",
        "canary_shadow_open",
        "canary_guard_msgs",
        "canary_by_elab",
        "canary_notation3",
        "canary_debug_guillemets",
        "canary_dotted_ofreducebool",
        "canary_root_sorryax",
        "canary_raw_string_elab",
        "canary_interpolated_elab",
        "canary_term_mode",
        "canary_comment_before_by",
        "canary_helper_after",
        # tokenizer slips that reach Lean, and a prover's full file
        "canary_f1_comment",
        "canary_f2_latin1",
        "canary_print_axioms_hijack",
        "canary_full_file_header",
    }
    assert required <= names
    assert len(names) == len(suite)  # unique names
    assert {c.needs for c in suite} == {"core", "mathlib"}
    assert next(c for c in suite if c.name == "canary_runaway").expected is Status.TIMEOUT
    assert not any(c.quick and c.expected is Status.TIMEOUT for c in suite)  # --quick never waits for a timeout


def test_replies_match_what_the_pool_sends(suite, monkeypatch):
    """Each known reply is keyed by the exact command the pool sends; drift in verdict.prepare shows here."""
    by_name = {c.name: c for c in suite}
    rows = [json.loads(line) for line in REPLIES.read_text().splitlines()]
    assert all(r["provenance"] for r in rows)
    for r in rows:
        c = by_name[r["canary"]]
        if r.get("bypass"):
            with monkeypatch.context() as m:
                m.setattr(strict, "plan_proof", no_whitelist)
                prep = strict.prepare(c.statement, c.proof, c.header)
        else:
            prep = strict.prepare(c.statement, c.proof, c.header)
        assert isinstance(prep, strict.PreparedProof) and split_checks(prep.cmd)[0] == r["cmd"], c.name


def test_selftest_against_the_double(suite):
    rows = run_selftest_with_pool(double_config(), quick=False)
    Console(width=140).print(selftest_table(rows))  # shown with `pytest -s`
    assert mismatches(rows) == []
    assert [r.name for r in rows] == [c.name for c in suite]
    for r in rows:  # every case is caught by the layer the suite says
        assert r.decided_by is r.expected_decided_by, r
    by = {d: sorted(r.name for r in rows if r.decided_by is d) for d in DecidedBy}
    assert by[DecidedBy.AXIOMS] == ["canary_decide_native"]
    assert by[DecidedBy.REPL] == ["canary_stop"]
    assert by[DecidedBy.STATEMENT] == ["canary_weaker_restated"]  # its own weaker declaration, then our type check
    assert by[DecidedBy.WALL_CLOCK] == ["canary_runaway"]
    # F1, F2 and the hijacked `#print axioms` are refused by the ported lexer's whitelist before Lean; the replay
    # alone catching them (pre-check bypassed) is test_lean_replay.py's test_forged_canaries_pass_a_bypassed_…
    assert by[DecidedBy.REPLAY] == []
    assert {"canary_f1_comment", "canary_f2_latin1", "canary_print_axioms_hijack"} <= set(by[DecidedBy.PRE_CHECK])
    assert len(by[DecidedBy.PRE_CHECK]) == 27 and len(by[DecidedBy.ALL_CHECKS]) == 9


def test_quick_selftest_is_a_subset_without_timeouts(suite):
    rows = run_selftest_with_pool(double_config(), quick=True)
    assert {r.name for r in rows} == {c.name for c in suite if c.quick}
    assert mismatches(rows) == [] and all(r.got is not Status.TIMEOUT for r in rows)


def test_selftest_reports_a_mismatch(suite):
    """A verifier that calls everything valid fails every forged case."""
    rows = run_selftest(lambda items: [Verdict(status=Status.VALID, score=1.0) for _ in items], suite=suite)
    assert {r.name for r in mismatches(rows)} == {c.name for c in suite if not c.expected.passed}


# ---- canaries in every batch ------------------------------------------------------------------------------


def _echo(items):  # a verify_many that marks each item by its index, judging canaries correctly
    out = []
    for it in items:
        forged = any(c.item() == it and not c.expected.passed for c in load_suite())
        out.append(Verdict(status=Status.REJECTED if forged else Status.VALID, answer=it["proof"]))
    return out


def test_canaries_are_mixed_in_and_removed(suite):
    items = [
        {"statement": f"theorem t{i} : True := by\n", "proof": f"  trivial -- {i}", "header": ""} for i in range(7)
    ]
    seen = []

    def spy(batch):
        seen.append(batch)
        return _echo(batch)

    out = verify_with_canaries(spy, items, 3, random.Random(5), suite)
    assert [v.answer for v in out] == [it["proof"] for it in items]  # order kept, no canary verdict returned
    assert len(seen[0]) == 10
    canary_slots = [k for k, it in enumerate(seen[0]) if it not in items]
    out2_seen = []
    verify_with_canaries(lambda b: out2_seen.append(b) or _echo(b), items, 3, random.Random(5), suite)
    assert out2_seen[0] == seen[0]  # seeded: same canaries at the same positions
    assert len(canary_slots) == 3
    chosen = choose_canaries(3, random.Random(5), suite)
    assert sum(not c.expected.passed for c in chosen) == 2 and sum(c.expected.passed for c in chosen) == 1
    true, false = batch_canaries(suite)
    assert all(c.expected is not Status.TIMEOUT for c in false) and all(c.expected.passed for c in true)


def test_a_misjudged_canary_raises_naming_it(suite):
    with pytest.raises(CanaryError, match=r"canary canary_\w+ .* judged valid, expected"):
        verify_with_canaries(lambda b: [Verdict(status=Status.VALID) for _ in b], [], 2, random.Random(0), suite)


def _all_forged_per_batch(suite) -> int:
    return 2 * len(batch_canaries(suite)[1])  # ceil(n/2) known-false = every cheap forged canary


def test_broken_precheck_stops_at_the_first_batch(suite, monkeypatch):
    """The textual pre-check switched off: the local-instance forgery reaches Lean, which accepts it."""
    monkeypatch.setattr(strict, "plan_proof", no_whitelist)
    items = [{"statement": c.statement, "proof": c.proof, "header": c.header} for c in suite[:2]]
    with LeanPool(double_config(workers=2, replay=False)) as pool:  # the broken layer alone (the replay would
        # catch some of these forgeries itself; test_lean_replay.py covers it)
        guard = CanaryGuard(pool.verify_many, _all_forged_per_batch(suite), seed=0, suite=suite)
        with pytest.raises(CanaryError, match="canary_instance"):
            guard(items)
        assert guard.batches == 1


def test_broken_sorry_warning_check_is_still_caught_by_the_axiom_check(suite, monkeypatch):
    """Defence in depth: without the sorry-warning check, `stop` is refused by `#print axioms` (sorryAx)."""
    monkeypatch.setattr(strict, "has_sorry_warning", lambda messages: False)
    stop = next(c for c in suite if c.name == "canary_stop")
    with LeanPool(double_config(replay=False)) as pool:  # the REPL-layer checks alone
        v = pool.verify(stop.statement, stop.proof, header=stop.header)
        assert v.status is Status.REJECTED and "sorryAx" in lean_details(v).axioms
        repl_layer = [c for c in suite if c.decided_by is not DecidedBy.REPLAY]  # the replay's need the replay
        guard = CanaryGuard(pool.verify_many, _all_forged_per_batch(repl_layer), seed=0, suite=repl_layer)
        assert guard([]) == []


def test_broken_sorry_and_axiom_checks_stop_at_the_first_batch(suite, monkeypatch):
    monkeypatch.setattr(strict, "has_sorry_warning", lambda messages: False)
    with LeanPool(double_config(check_axioms=False, replay=False)) as pool:  # the broken layers alone
        repl_layer = [c for c in suite if c.decided_by is not DecidedBy.REPLAY]  # the replay's need the replay
        guard = CanaryGuard(pool.verify_many, _all_forged_per_batch(repl_layer), seed=1, suite=repl_layer)
        with pytest.raises(CanaryError, match="canary_(stop|decide_native)"):
            guard([])
        assert guard.batches == 1


def test_cli_selftest_exit_codes(monkeypatch):
    from formalpi.cli import app

    cmd = " ".join(DOUBLE)
    ok = CliRunner().invoke(
        app,
        [
            "lean",
            "selftest",
            "--quick",
            "--repl-command",
            cmd,
            "--project-dir",
            str(ROOT),
            "--workers",
            "2",
            "--timeout",
            "2",
            "--replay",
            "standin",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "canary_decide_native" in ok.output and "all 19 canaries" in ok.output
    monkeypatch.setattr(strict, "plan_proof", no_whitelist)
    bad = CliRunner().invoke(
        app,
        [
            "lean",
            "selftest",
            "--quick",
            "--repl-command",
            cmd,
            "--project-dir",
            str(ROOT),
            "--workers",
            "2",
            "--timeout",
            "2",
            "--replay",
            "off",
        ],
    )
    assert bad.exit_code == 1 and "MISMATCH" in bad.output and "LEAN REPLAY OFF" in bad.output


@pytest.mark.lean
def test_selftest_on_real_lean():
    from formalpi.lean.setup import default_project_dir

    rows = run_selftest_with_pool(LeanConfig(project_dir=default_project_dir(), workers=2, timeout_s=30.0))
    Console(width=140).print(selftest_table(rows))
    assert mismatches(rows) == []


def test_pool_verify_many_mixes_canaries_and_rechecks_them_every_batch(suite):
    """`LeanConfig.canaries_per_batch` wires the guard into the pool itself; canaries bypass the result cache."""
    genuine = next(c for c in suite if c.expected is Status.VALID)
    items = [{"statement": genuine.statement, "proof": genuine.proof, "header": genuine.header}] * 2
    with LeanPool(double_config(canaries_per_batch=4)) as pool:
        first = pool.verify_many(items)
        verified = pool.stats["verified"]
        second = pool.verify_many(items)
        assert len(first) == len(second) == 2 and all(v.status is Status.VALID for v in first + second)
        assert pool.stats["verified"] - verified == 4  # the 4 canaries were checked again, the 2 items cached


def test_pool_with_broken_verifier_stops_at_its_first_batch(suite, monkeypatch):
    monkeypatch.setattr(strict, "plan_proof", no_whitelist)
    with LeanPool(double_config(canaries_per_batch=_all_forged_per_batch(suite), replay=False)) as pool:
        with pytest.raises(CanaryError, match="canary_"):
            pool.verify_many([])


def test_replay_off_with_canaries_in_every_batch_raises_nothing(suite):
    """With the replay switched off, the pre-check + REPL layers alone judge every forged canary (F1, F2 and the
    hijacked `#print axioms` included) correctly, so the guard does not stop a healthy verifier."""
    with LeanPool(double_config(canaries_per_batch=_all_forged_per_batch(suite), replay=False)) as pool:
        assert pool.verify_many([]) == []
        assert pool.stats["replayed"] == 0
