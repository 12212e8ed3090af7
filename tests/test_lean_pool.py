"""LeanPool mechanics against the REPL double (a real subprocess), plus real-Lean tests where `lake` exists."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import threading
import time

import psutil
import pytest

from formalpi.errors import ConfigError, LeanUnavailable
from formalpi.lean.details import lean_details
from formalpi.lean.pool import LeanConfig, LeanPool
from formalpi.lean.replay import standin_commands
from formalpi.records import Status
from tests.conftest import ROOT, shared_path

STATEMENT = "theorem t{i} (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n  sorry"
HEADER = "import Mathlib\nopen Real"


def _config(*flags: str, **kw) -> LeanConfig:
    kw.setdefault("workers", 2)
    kw.setdefault("timeout_s", 5.0)
    for k, v in standin_commands().items():  # the replay of VALID verdicts through its scripted stand-in
        kw.setdefault(k, v)
    kw.setdefault("replay", False)  # pool mechanics; the replay's own tests are in test_lean_replay.py
    return LeanConfig(project_dir=ROOT, repl_command=[sys.executable, "-m", "formalpi.lean.double", *flags], **kw)


def _item(i: int, marker: str = "ok") -> dict:
    return {"statement": STATEMENT.format(i=i), "proof": f"by\n  omega -- double:{marker}", "header": HEADER}


def _tree(pids: list[int]) -> set[int]:
    out = set(pids)
    for pid in pids:
        try:
            out |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
        except psutil.Error:
            pass
    return out


def _gone(pids: set[int]) -> bool:
    def dead(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    return all(dead(p) for p in pids)


def test_valid_error_and_strictness_through_the_pool() -> None:
    with LeanPool(_config(replay=True)) as pool:
        ok = pool.verify(**_item(0))
        assert ok.status is Status.VALID and lean_details(ok).axioms and ok.worker_id is not None and ok.time_s > 0
        err = pool.verify(**_item(1, "error"))
        assert err.status is Status.ERROR and "scripted error" in err.feedback
        rej = pool.verify(STATEMENT.format(i=2), "by\n  exact sorryAx _ -- double:ok", HEADER)
        assert rej.status is Status.REJECTED and "sorryAx" in rej.reason and rej.worker_id is None
        bad_ax = pool.verify(**_item(3, "ok double:axioms=propext,Lean.ofReduceBool"))
        assert bad_ax.status is Status.REJECTED and "Lean.ofReduceBool" in bad_ax.reason


def test_timeout_kills_the_worker_and_a_replacement_serves_the_next_request() -> None:
    # 3 s: long enough for the double to answer on a loaded machine; the bound below only says "killed at
    # the timeout, not much later" and is loose on purpose (tests assert no wall-clock speed)
    with LeanPool(_config(workers=1, timeout_s=3.0)) as pool:
        first = pool.verify(**_item(0))
        old_pids = _tree(pool.worker_pids())
        hung = pool.verify(**_item(1, "hang"))
        assert hung.status is Status.TIMEOUT and 3.0 <= hung.time_s < 60
        assert _gone(old_pids)
        after = pool.verify(**_item(2))
        assert after.status is Status.VALID and after.worker_id != first.worker_id
        assert pool.stats["killed"] == 1


def test_crashes_lose_no_request() -> None:
    items = [_item(i, "crash" if i % 5 == 0 else "ok") for i in range(30)]
    with LeanPool(_config(workers=3, crash_retries=1)) as pool:
        verdicts = pool.verify_many(items)
        assert len(verdicts) == 30
        for i, v in enumerate(verdicts):
            expected = Status.CRASH if i % 5 == 0 else Status.VALID
            assert v.status is expected, (i, v)
        assert pool.stats["crash_retries"] == 6  # each crashing request was retried once on a fresh worker
        assert pool.stats["verified"] == 30


def test_malformed_reply_and_silent_exit_are_crashes() -> None:
    with LeanPool(_config(workers=1, crash_retries=0)) as pool:
        assert pool.verify(**_item(0, "malformed")).status is Status.CRASH
        assert pool.verify(**_item(1, "exit")).status is Status.CRASH
        assert pool.verify(**_item(2)).status is Status.VALID


def test_repl_error_reply_retires_the_worker_and_is_a_crash() -> None:
    with LeanPool(_config(workers=1, crash_retries=1)) as pool:
        v = pool.verify(**_item(0, "replerror"))
        assert v.status is Status.CRASH and "REPL error" in v.reason
        assert pool.stats["crash_retries"] == 1 and pool.stats["killed"] == 2


def test_recycling_after_max_uses() -> None:
    with LeanPool(_config(workers=1, max_uses=3)) as pool:
        ids, pids = [], []
        for i in range(7):
            ids.append(pool.verify(**_item(i)).worker_id)
            pids.append(tuple(pool.worker_pids()))
        assert ids[0:3] == [ids[0]] * 3 and ids[3:6] == [ids[3]] * 3 and len(set(ids)) == 3
        assert pool.stats["retired"] == 2


def test_memory_limit_retires_a_growing_worker() -> None:
    # each command keeps 40 MB more; the limit is passed after a couple of proofs
    with LeanPool(_config("--grow-mb", "40", workers=1, memory_limit_mb=100, max_uses=1000)) as pool:
        ids = [pool.verify(**_item(i)).worker_id for i in range(6)]
        assert pool.stats["retired"] >= 1
        assert len(set(ids)) >= 2 and pool.stats["killed"] == 0  # retired for memory, not killed


def test_backpressure_queues_instead_of_failing() -> None:
    items = [{**_item(i), "proof": "by omega -- double:sleep=100 double:ok"} for i in range(10)]
    seen: set[int] = set()
    stop = threading.Event()
    with LeanPool(_config(workers=2)) as pool:

        def watch() -> None:
            while not stop.is_set():
                seen.add(len(pool.worker_pids()))
                time.sleep(0.01)

        t = threading.Thread(target=watch)
        t.start()
        t0 = time.monotonic()
        verdicts = pool.verify_many(items)
        wall = time.monotonic() - t0
        stop.set()
        t.join()
    assert [v.status for v in verdicts] == [Status.VALID] * 10
    assert wall >= 0.45  # 10 × 100 ms over 2 workers: at least 5 rounds
    assert max(seen) <= 2


def test_cache_hits() -> None:
    with LeanPool(_config(workers=1)) as pool:
        a = pool.verify(**_item(0, "sleep=200 double:ok"))
        t0 = time.monotonic()
        b = pool.verify(**_item(0, "sleep=200 double:ok"))
        assert time.monotonic() - t0 < 0.1
        assert b == a and pool.stats["cache_hits"] == 1
        b.reason = "mutated"  # a hit is a copy: the cache itself is not changed by callers
        assert pool.verify(**_item(0, "sleep=200 double:ok")).reason == a.reason
        pool.verify(**_item(1))
        assert pool.stats["cache_hits"] == 2


def test_timeouts_are_not_cached() -> None:
    with LeanPool(_config(workers=1, timeout_s=0.3)) as pool:
        for _ in range(2):
            assert pool.verify(**_item(0, "hang")).status is Status.TIMEOUT
        assert pool.stats["cache_hits"] == 0 and pool.stats["killed"] == 2


def test_no_process_left_after_close() -> None:
    pool = LeanPool(_config(workers=3, prewarm_header=HEADER))
    pool.verify_many([_item(i) for i in range(6)])
    deadline = time.monotonic() + 10
    while len(pool.worker_pids()) < 3 and time.monotonic() < deadline:  # pre-warm runs in the background
        time.sleep(0.05)
    pids = _tree(pool.worker_pids())
    assert len(pool.worker_pids()) == 3
    pool.close()
    assert pids and _gone(pids)
    with pytest.raises(LeanUnavailable, match="closed"):
        pool.verify(**_item(9))


def test_close_during_prewarm_leaves_nothing() -> None:
    me = psutil.Process()
    before = {c.pid for c in me.children(recursive=True)}
    pool = LeanPool(_config("--header-ms", "3000", workers=2, prewarm_header=HEADER))
    time.sleep(0.3)
    pool.close()
    time.sleep(0.1)
    after = {c.pid for c in me.children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE}
    assert after <= before


def test_headers_key_workers_and_lru_evicts() -> None:
    with LeanPool(_config(workers=1)) as pool:
        a = pool.verify(**_item(0))
        b = pool.verify(**{**_item(1), "header": "import Mathlib\nopen Nat"})
        c = pool.verify(**{**_item(2), "header": "\nimport Mathlib   \n\nopen Real\n"})  # same as HEADER
        assert a.status is b.status is c.status is Status.VALID
        assert len({a.worker_id, b.worker_id, c.worker_id}) == 3  # one slot: each switch evicts the LRU worker
        assert len(pool.worker_pids()) == 1


def test_verify_many_is_thread_safe() -> None:
    results: dict[int, list] = {}

    def run(k: int) -> None:
        items = [_item(100 * k + i, "error" if (i + k) % 3 == 0 else "ok") for i in range(15)]
        results[k] = pool.verify_many(items)

    with LeanPool(_config(workers=3)) as pool:
        threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert pool.stats["verified"] == 60
    for k, verdicts in results.items():
        for i, v in enumerate(verdicts):
            assert v.status is (Status.ERROR if (i + k) % 3 == 0 else Status.VALID)
            assert v.answer is not None and f"double:{'error' if (i + k) % 3 == 0 else 'ok'}" in v.answer


def test_averify() -> None:
    async def main(pool: LeanPool) -> list:
        return await asyncio.gather(*(pool.averify(**_item(i)) for i in range(4)))

    with LeanPool(_config()) as pool:
        assert [v.status for v in asyncio.run(main(pool))] == [Status.VALID] * 4


def test_bad_configuration_is_a_typed_error() -> None:
    with pytest.raises(LeanUnavailable, match="project_dir"):
        LeanPool(LeanConfig(project_dir=ROOT / "no-such-dir"))
    with pytest.raises(ConfigError, match="workers"):
        _config(workers=0)
    with LeanPool(LeanConfig(project_dir=ROOT, repl_command=["no-such-repl-binary"], workers=1)) as pool:
        with pytest.raises(LeanUnavailable, match="formalpi lean setup"):
            pool.verify(**_item(0))
    with pytest.raises(ValueError, match="item 0 needs keys"):
        LeanPool(_config()).verify_many([{"proof": "x"}])


def _recorded_checks(limit: int) -> list[tuple[dict, bool, bool]]:
    """(item, recorded clean?, recorded timeout?) for recorded real Mathlib checks of Goedel-Prover proofs."""
    root = shared_path("lean", "recorded-mathlib-checks")
    out = []
    for path in sorted((root / "output").glob("*.json"))[:limit]:
        result = json.loads(path.read_text())["results"][0]
        src = (root / "input" / (path.stem + ".lean")).read_text()
        m = re.search(r"(?m)^theorem\b", src)
        header, decl = src[: m.start()], src[m.start() :]
        cut = decl.index(":= by") + len(":= by")
        item = {"header": header, "statement": decl[:cut], "proof": "by" + decl[cut:]}
        msgs = (result.get("response") or {}).get("messages", [])
        out.append((item, not any(x["severity"] == "error" for x in msgs), "timed out" in str(result["error"])))
    return out


def test_recorded_mathlib_checks_through_the_pool() -> None:
    root = shared_path("lean", "recorded-mathlib-checks")
    checks = _recorded_checks(40)
    assert any(t for _, _, t in checks)
    flags = ("--mathlib-checks", str(root), "--latency-scale", "0.002")
    with LeanPool(_config(*flags, workers=4, timeout_s=1.0)) as pool:
        verdicts = pool.verify_many([c[0] for c in checks])
    assert sum(v.status is Status.VALID for v in verdicts) >= 30
    for (item, clean, timed_out), v in zip(checks, verdicts):
        if timed_out:
            assert v.status is Status.TIMEOUT
        elif clean:
            # recorded answers reach the verdict: linter warnings are not failures
            assert v.status is Status.VALID, (item["statement"][:60], v.reason)


# ---- real Lean (skipped unless `lake` is on PATH) ----------------------------------------------------------


def _minif2f(name: str) -> dict:
    for line in shared_path("data", "minif2f_lean4_v4.24.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["name"] == name:
            return {"header": row["header"], "statement": row["formal_statement"]}
    raise AssertionError(name)


@pytest.mark.lean
def test_real_lean_minif2f_verdicts() -> None:
    project = ROOT / "lean_project"
    if not (project / ".lake").exists():
        pytest.skip(f"{project} is not built: run `formalpi lean setup`")
    p = _minif2f("mathd_numbertheory_254")
    with LeanPool(LeanConfig(project_dir=project, workers=1, timeout_s=120, header_timeout_s=900)) as pool:
        items = [
            {**p, "proof": "norm_num"},
            {**p, "proof": "by\n  exact Nat.le_refl 0"},
            {**p, "proof": "by\n  native_decide"},
            {**_minif2f("mathd_numbertheory_229"), "proof": "norm_num"},
        ]
        v = pool.verify_many(items)
    assert v[0].status is Status.VALID
    assert set(lean_details(v[0]).axioms) <= {"propext", "Classical.choice", "Quot.sound"}
    assert v[1].status is Status.ERROR and v[1].feedback.startswith("line ")
    assert v[2].status is Status.REJECTED
    assert v[3].status is Status.VALID


# ---- robustness: hung, crashed and cancelled workers ----------------------------------------------------------


def test_bad_input_gets_its_own_verdict_and_the_batch_survives() -> None:
    """One lone surrogate (or a non-text proof) in a batch: a REJECTED verdict for it, the others checked."""
    items = [
        _item(0),
        {**_item(1), "proof": "by\n  omega -- \ud800 double:ok"},
        _item(2),
        {**_item(3), "proof": None},
        {**_item(4), "proof": "by\n  omega\x00"},
        {**_item(5), "statement": "theorem t5 : 1 = 1 := by -- \udcff\n"},
    ]
    with LeanPool(_config()) as pool:
        verdicts = pool.verify_many(items)
    assert [v.status for v in verdicts] == [
        Status.VALID,
        Status.REJECTED,
        Status.VALID,
        Status.REJECTED,
        Status.REJECTED,
        Status.REJECTED,
    ]
    assert "surrogate" in verdicts[1].reason and "line 2" in verdicts[1].reason
    json.dumps(verdicts[1].model_dump(mode="json"), ensure_ascii=False).encode("utf-8")  # storable as is


def test_oversized_proof_is_rejected_at_once_with_the_limit_named() -> None:
    big = "by\n" + "  norm_num\n" * 40_000  # 440 KB of tactic lines
    with LeanPool(_config(max_proof_bytes=64 * 1024)) as pool:
        v = pool.verify(STATEMENT.format(i=0), big, HEADER)
        assert v.status is Status.REJECTED and "65536 bytes" in v.reason and "max_proof_bytes" in v.reason
        assert pool.worker_pids() == []  # nothing was started for it


def test_a_10_mb_reply_is_read_whole() -> None:
    """The reader splits lines as they arrive: pexpect's buffer search made this quadratic (29 s for 10 MB)."""
    from formalpi.lean.repl import LeanRepl, Outcome

    with LeanRepl([sys.executable, "-m", "formalpi.lean.double"], ROOT) as repl:
        assert repl.command("import Mathlib", None, 10).outcome is Outcome.OK
        res = repl.command("theorem x : True := trivial -- double:ok double:bigreply=10", 0, timeout_s=10)
        assert res.outcome is Outcome.OK, res.detail
        assert max(len(m.data) for m in res.reply.messages) == 10 * 2**20
        again = repl.command("theorem y : True := trivial -- double:ok", 0, timeout_s=10)
        assert again.outcome is Outcome.OK and again.reply.env == 2  # the stream stays in step


def _wait_for(cond, limit_s: float = 60.0) -> bool:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_cancelling_averify_kills_and_replaces_its_worker() -> None:
    with LeanPool(_config(workers=1, timeout_s=120.0)) as pool:
        assert pool.verify(**_item(0)).status is Status.VALID
        (old_pid,) = pool.worker_pids()

        async def main() -> None:
            task = asyncio.create_task(pool.averify(**_item(1, "hang")))
            assert await asyncio.to_thread(_wait_for, lambda: pool._workers[0].state.value == "busy")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # checked here: leaving asyncio.run waits for the abandoned thread (an abandoned worker: the 120 s timeout)
            assert await asyncio.to_thread(_wait_for, lambda: _gone({old_pid})), "the worker was not killed"

        asyncio.run(main())
        after = pool.verify(**_item(2))  # served by the replacement, long before the 120 s timeout
        assert after.status is Status.VALID and pool.worker_pids() != [old_pid]
        assert pool.stats["cancelled"] == 1


def test_acquire_timeout_raises_a_clear_lean_unavailable() -> None:
    with LeanPool(_config(workers=1, timeout_s=30.0, acquire_timeout_s=0.5)) as pool:

        def hang() -> None:
            with contextlib.suppress(LeanUnavailable):  # the pool closes under it at the end
                pool.verify(**_item(0, "hang"))

        hung = threading.Thread(target=hang, daemon=True)
        hung.start()
        assert _wait_for(lambda: bool(pool._workers) and pool._workers[0].state.value == "busy")
        with pytest.raises(LeanUnavailable, match=r"acquire_timeout_s=0.5s \(1 busy"):
            pool.verify(**_item(1))


def test_a_reply_out_of_step_with_its_request_restarts_the_worker() -> None:
    with LeanPool(_config(workers=1, crash_retries=1)) as pool:
        assert pool.verify(**_item(0)).status is Status.VALID
        (pid,) = pool.worker_pids()
        skewed = pool.verify(**_item(1, "ok double:envskew=3"))
        assert skewed.status is Status.CRASH and "out of step" in skewed.reason
        assert pool.stats["env_mismatches"] == 2 and _gone({pid})
        assert pool.verify(**_item(2)).status is Status.VALID


# ---- checking any Lean code ----------------------------------------------------------------------------------

FILE = (
    "import Mathlib\nopen Real\n\ntheorem a (x : ℕ) : x + 0 = x := by simp -- double:ok\n\nexample : True := trivial\n"
)


def test_check_any_code_with_the_same_strict_verdicts() -> None:
    with LeanPool(_config()) as pool:
        ok = pool.check(FILE)
        assert ok.status is Status.VALID
        assert set(lean_details(ok).axioms) == {"propext", "Classical.choice", "Quot.sound"}
        bad = pool.check(FILE + "\n#eval 1\n")
        assert bad.status is Status.REJECTED and "#eval" in bad.reason and "line 8" in bad.reason
        native = pool.check(FILE.replace("double:ok", "double:ok double:axioms=Lean.ofReduceBool"))
        assert native.status is Status.REJECTED and "Lean.ofReduceBool" in native.reason
        err = pool.check("import Mathlib\n\ntheorem b : 1 = 2 := by simp -- double:error\n")
        assert err.status is Status.ERROR
        hdr = pool.check("import Mathlib\nset_option debug.skipKernelTC true\n\ntheorem c : True := trivial")
        assert hdr.status is Status.REJECTED and "debug" in hdr.reason  # not taken into the header


def test_check_reads_the_file_header_with_leans_grammar() -> None:
    """The code's own header is read as Lean reads a module header (comments anywhere, any `open` form), the same
    reader `prepare` uses for a whole-file completion: its imports become the worker's header, file-level
    `open` / whitelisted `set_option` lines become `… in` prefixes of the declarations after them."""
    files = [
        (
            "import Mathlib -- the prover's header\nimport Aesop\nset_option maxHeartbeats 400000\n\n"
            "theorem a (x : ℕ) : x + 0 = x := by simp -- double:ok\n"
        ),
        "/- a file comment -/\nimport Mathlib\nopen Nat hiding succ\n\ntheorem a : True := trivial -- double:ok\n",
    ]
    with LeanPool(_config()) as pool:
        for code in files:
            v = pool.check(code)
            assert v.status is Status.VALID, (code, v.reason)
        late = pool.check("import Mathlib\n\ntheorem a : True := trivial -- double:ok\nset_option maxHeartbeats 0\n")
        assert late.status is Status.REJECTED and "after" in late.reason
        other = pool.check(
            "import Mathlib\nimport FooBar.Baz\n\ntheorem a : True := trivial\n", header="import Mathlib"
        )
        assert other.status is Status.REJECTED and "FooBar.Baz" in other.reason


def test_cli_check_a_lean_file_and_stdin(tmp_path) -> None:
    from typer.testing import CliRunner

    from formalpi.cli import app

    path = tmp_path / "proof.lean"
    path.write_text(FILE)
    repl = f"{sys.executable} -m formalpi.lean.double"
    args = ["--repl-command", repl, "--project-dir", str(ROOT), "--workers", "1", "--replay", "standin"]
    ok = CliRunner().invoke(app, ["lean", "check", str(path), *args, "--out", str(tmp_path / "v.jsonl")])
    assert ok.exit_code == 0 and "valid" in ok.output, ok.output
    assert json.loads((tmp_path / "v.jsonl").read_text())["verdict"]["status"] == "valid"
    bad = CliRunner().invoke(app, ["lean", "check", "-", *args], input=FILE + "namespace Shadow\n")
    assert bad.exit_code == 1 and "rejected" in bad.output and "namespace" in bad.output, bad.output
