"""The REPL client: every recorded reply parses into the typed models; framing, timeouts, crashes, garbage."""

from __future__ import annotations

import json
import re
import shutil
import sys

import psutil
import pytest

from formalpi.errors import LeanUnavailable
from formalpi.lean.protocol import CommandReply, ReplError, TacticReply, parse_reply
from formalpi.lean.repl import LeanRepl, Outcome
from tests.conftest import ROOT, shared_path


def _blocks(text: str) -> list[str]:
    return [b for b in re.split(r"\n[ \t]*\n", text) if b.strip()]


def _double(*flags: str) -> LeanRepl:
    return LeanRepl([sys.executable, "-m", "formalpi.lean.double", *flags], ROOT)


@pytest.mark.parametrize("version", ["v4.24.0", "v4.33.0-rc2"])
def test_every_recorded_reply_parses(version: str) -> None:
    root = shared_path("lean", "repl-transcripts", version)
    outs = sorted(root.rglob("*.expected.out"))
    assert any("Mathlib" in str(p) for p in outs)
    n = {CommandReply: 0, TacticReply: 0, ReplError: 0}
    for out in outs:
        for block in _blocks(out.read_text()):
            obj = json.loads(block, strict=False)
            reply = parse_reply(obj)
            n[type(reply)] += 1
            if isinstance(reply, CommandReply):  # nothing of the wire lost: messages/sorries round-trip
                assert len(reply.messages) == len(obj.get("messages", []))
                assert len(reply.sorries) == len(obj.get("sorries", []))
                for m, raw in zip(reply.messages, obj.get("messages", [])):
                    assert m.data == raw["data"] and m.severity == raw["severity"]
            if isinstance(reply, TacticReply):
                assert reply.proof_status == obj.get("proofStatus")
    assert n[CommandReply] > 100 and n[TacticReply] > 20 and n[ReplError] >= 2, n


def test_sorry_warning_quote_style_differs_between_versions() -> None:
    old = shared_path("lean", "repl-transcripts", "v4.24.0", "readme.expected.out").read_text()
    new = shared_path("lean", "repl-transcripts", "v4.33.0-rc2", "readme.expected.out").read_text()
    assert "declaration uses 'sorry'" in old
    assert "declaration uses `sorry`" in new


def test_round_trip_against_recorded_replies() -> None:
    transcripts = shared_path("lean", "repl-transcripts", "v4.24.0")
    with _double("--transcripts", str(transcripts)) as repl:
        head = repl.command("import Mathlib\nopen Real", None, 10)
        assert head.outcome is Outcome.OK and head.reply.env == 0
        res = repl.command("theorem foo (x : Int) : x = x := by sorry", 0, 10)
        assert res.outcome is Outcome.OK
        assert res.reply.sorries[0].goal == "x : Int\n⊢ x = x"
        assert res.reply.messages[0].data == "declaration uses 'sorry'"
        # `#print ...` inside a JSON request is answered (the REPL only skips raw input starting with `#`)
        ax = repl.command("#print axioms foo", res.reply.env, 10)
        assert ax.outcome is Outcome.OK and "sorryAx" in ax.reply.messages[0].data
        bad = repl.command("def f := 1", 99, 10)
        assert isinstance(bad.reply, ReplError) and bad.reply.message == "Unknown environment."


def test_long_single_line_request_is_not_truncated() -> None:
    # a pty would cut a line at 4096 bytes; pipes must not
    with _double("--unknown", "ok") as repl:
        res = repl.command("theorem big : True := by\n" + "  trivial\n" * 2000, None, 10)
        assert res.outcome is Outcome.OK and res.reply.env == 0


def test_timeout_kills_the_process_group() -> None:
    repl = _double()
    res = repl.command("example : True := trivial -- double:hang", None, 0.5)
    assert res.outcome is Outcome.TIMEOUT and 0.4 < res.elapsed_s < 3
    assert not repl.alive and not psutil.pid_exists(repl.pid)  # killed and reaped


def test_crash_mid_reply_is_a_typed_outcome() -> None:
    repl = _double()
    res = repl.command("x -- double:crash", None, 5)
    assert res.outcome is Outcome.CRASH and res.raw.startswith('{"env": 7') and "exit code 3" in res.detail
    again = repl.command("x", None, 5)  # writing to a dead process is a crash too, not an exception
    assert again.outcome is Outcome.CRASH


def test_exit_without_output_and_malformed_reply() -> None:
    with _double() as repl:
        assert repl.command("x -- double:exit", None, 5).outcome is Outcome.CRASH
    repl = _double()
    res = repl.command("x -- double:malformed", None, 5)
    assert res.outcome is Outcome.MALFORMED and "not JSON" in res.raw and not repl.alive


def test_stderr_is_drained_not_mixed_into_replies() -> None:
    noisy = (
        "import sys\nfor i in range(5000): sys.stderr.write('noise %d\\n' % i)\nsys.stderr.flush()\n"
        "from formalpi.lean.double import main; main(['--unknown', 'ok'])"
    )
    with LeanRepl([sys.executable, "-c", noisy], ROOT) as repl:
        res = repl.command("theorem t : True := trivial", None, 10)
        assert res.outcome is Outcome.OK and res.reply.env == 0
        assert "noise 4999" in repl.stderr_tail()


def test_missing_command_is_a_typed_error() -> None:
    with pytest.raises(LeanUnavailable, match="formalpi lean setup"):
        LeanRepl(["definitely-not-a-lean-repl"], ROOT)


@pytest.mark.lean
def test_real_repl_answers_header_and_a_proof() -> None:
    project = ROOT / "lean_project"
    if not (project / ".lake" / "packages" / "REPL").exists():
        pytest.skip(f"{project} is not built: run `formalpi lean setup`")
    assert shutil.which("lake")
    with LeanRepl(["lake", "env", ".lake/packages/REPL/.lake/build/bin/repl"], project) as repl:
        head = repl.command("import Mathlib", None, 600)
        assert head.outcome is Outcome.OK and head.reply.env == 0
        res = repl.command("theorem t (a b : ℕ) : a + b = b + a := by omega", 0, 120)
        assert res.outcome is Outcome.OK and not res.reply.errors
        ax = repl.command("#print axioms t", res.reply.env, 60)
        assert "depends on axioms" in ax.reply.messages[0].data or "does not depend" in ax.reply.messages[0].data


@pytest.mark.lean
def test_real_repl_answers_the_verifier_checks_as_the_double_assumes() -> None:
    """The answers formalpi/lean/double.py ASSUMES for the verifier's own checks, confirmed on real Lean: the
    type check is silent when the type matches and an error on its own line when not; `#print axioms _root_.N`
    gives one info message on its own line quoting N; env numbers go up by one per command."""
    from formalpi.lean import verdict as strict
    from formalpi.lean.double import split_checks

    project = ROOT / "lean_project"
    if not (project / ".lake" / "packages" / "REPL").exists():
        pytest.skip(f"{project} is not built: run `formalpi lean setup`")
    with LeanRepl(["lake", "env", ".lake/packages/REPL/.lake/build/bin/repl"], project) as repl:
        assert repl.command("import Mathlib", None, 600).reply.env == 0
        prep = strict.prepare("theorem t (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n", "  omega", "import Mathlib")
        res = repl.command(prep.cmd, 0, 300)
        assert res.outcome is Outcome.OK and res.reply.env == 1
        v = strict.judge(prep, res.reply)
        assert v.status.value == "valid", (v.reason, res.raw)
        ((line, name),) = prep.axiom_lines
        ours = [m for m in res.reply.messages if m.pos and m.pos.line == line]
        assert len(ours) == 1 and ours[0].severity == "info" and ours[0].data.startswith(f"'{name}' ")
        wrong = split_checks(prep.cmd)[0] + "\n\nexample : ∀ (x : ℕ), x = x := @_root_.t\n"
        res2 = repl.command(wrong, 0, 300)
        assert res2.reply.env == 2
        assert [m.pos.line for m in res2.reply.errors] == [wrong.count("\n")]
