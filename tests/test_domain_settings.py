"""A domain's `[verify]` table is validated at load by the domain's own settings type and reaches the domain
wherever it is built: the run, a shard worker (formalpi/engine/shard.py) and the CLI's domain for `--executor`.

Each test sets a key in a TOML file and checks that the domain behaves differently, in this process and in a
shard worker; a key the chosen domain does not read is an error naming it (it used to be ignored silently).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from formalpi.config import load_config
from formalpi.domain import open_domain
from formalpi.engine import shard as shard_mod
from formalpi.engine.backends import Completion
from formalpi.engine.shard import GenStage, ShardJob, run_worker
from formalpi.errors import ConfigError
from formalpi.lean.replay import standin_commands
from formalpi.records import EvalRecord, Problem, Status
from tests.conftest import ROOT, shared_path


def _toml(tmp_path: Path, domain: str, verify: str) -> Path:
    path = tmp_path / f"{domain}.toml"
    path.write_text(
        f'name = "settings/{domain}"\ndomain = "{domain}"\nruns_dir = "{tmp_path / "runs"}"\n'
        f'[model]\npath = "unused"\ndevice = "cpu"\n[eval]\nn = 1\n[verify]\n{verify}\n'
    )
    return path


class _Scripted:
    """The model, scripted (the only double here): every prompt gets `text`. The verifier is the real one."""

    def __init__(self, text: str) -> None:
        self.text = text

    def chat_prompt(self, turns) -> str:
        return "".join(t for _, t in turns)

    def generate(self, prompts, params):
        return [[Completion(self.text, 1, 1) for _ in range(params.n)] for _ in prompts]

    def close(self) -> None:
        pass


def _shard_eval(tmp_path: Path, cfg, problems: list[Problem], completion: str, monkeypatch) -> list[EvalRecord]:
    """One shard worker's eval stage, in this process, with the run's config as the worker receives it."""
    import formalpi.engine.backends as backends

    monkeypatch.setattr(backends, "generator_for", lambda *a, **k: _Scripted(completion))
    store_dir = tmp_path / f"shard{len(list(tmp_path.glob('shard*')))}"
    store_dir.mkdir()
    problems_file = store_dir / "problems.jsonl"
    problems_file.write_text("".join(p.model_dump_json() + "\n" for p in problems))
    job = ShardJob(
        stage=GenStage.EVAL,
        config=cfg.model_dump(mode="json"),
        seed=1,
        model_path="unused",
        shard=0,
        store_dir=str(store_dir),
        problems_file=str(problems_file),
        chunk_size=shard_mod.eval_chunk_size(),
    )
    run_worker(job)
    from formalpi.runs import RunStore

    return RunStore(store_dir).read("eval", EvalRecord)


# ---- math --------------------------------------------------------------------------------------------------


def test_math_settings_from_the_toml_reach_the_domain_and_unknown_keys_are_refused(tmp_path, monkeypatch):
    cfg = load_config(_toml(tmp_path, "math", "timeout_s = 3.5\nworkers = 1"))
    assert cfg.verify == {"timeout_s": 3.5, "workers": 1}
    with open_domain(cfg.domain, cfg.verify) as d:
        assert (d.verifier.timeout_s, d.verifier.workers) == (3.5, 1)
    # a shard worker builds its domain from the same table
    built = []
    import formalpi.domain as domain_mod

    real = domain_mod.open_domain
    monkeypatch.setattr(
        domain_mod, "open_domain", lambda name, settings=None, **k: built.append(real(name, settings, **k)) or built[-1]
    )
    p = Problem(id="p", domain="math", text="1+1", gold="2")
    records = _shard_eval(tmp_path, cfg, [p], "\\boxed{2}", monkeypatch)
    assert records[0].correct == [True]
    assert (built[0].verifier.timeout_s, built[0].verifier.workers) == (3.5, 1)
    # `allow_weak_sandbox` is the code domain's: for math it is an error naming the file and the key
    with pytest.raises(
        ConfigError,
        match=r"math\.toml: verify\.allow_weak_sandbox: not a setting of the math "
        r"domain \(known keys here: timeout_s, workers\)",
    ):
        load_config(_toml(tmp_path, "math", "allow_weak_sandbox = true"))
    with pytest.raises(ConfigError, match=r"verify\.timeout_s: Input should be greater than 0"):
        load_config(_toml(tmp_path, "math", "timeout_s = -1"))


# ---- code --------------------------------------------------------------------------------------------------

# the first call takes longer than a 1 s budget, well within the default 10 s
SLOW = "    import time\n    if '_slept' not in globals():\n        globals()['_slept'] = time.sleep(2.5)\n"


@pytest.mark.usefixtures("full_sandbox")
def test_code_timeout_from_the_toml_decides_verdicts_also_in_a_shard_worker(tmp_path, monkeypatch):
    cfg = load_config(_toml(tmp_path, "code", "timeout_s = 1.0\nworkers = 1"))
    assert cfg.verify["timeout_s"] == 1.0 and cfg.verify["allow_weak_sandbox"] is False
    default = load_config(_toml(tmp_path, "code", "workers = 1"))
    with open_domain("code", cfg.verify) as d:
        p = d.problems("humaneval", "test", path=str(shared_path("data", "HumanEval.jsonl.gz")), limit=1)[0]
        slow = SLOW + p.gold  # the reference body (the domain completes the prompt), slowed
        assert d.verify_many([p], [slow])[0].status is Status.TIMEOUT
    with open_domain("code", default.verify) as d:
        assert d.verify_many([p], [slow])[0].status is Status.VALID
    assert _shard_eval(tmp_path, cfg, [p], slow, monkeypatch)[0].correct == [False]
    assert _shard_eval(tmp_path, default, [p], slow, monkeypatch)[0].correct == [True]


# ---- lean --------------------------------------------------------------------------------------------------

STATEMENT = "theorem t0 (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n"
PROOF = "  omega -- double:ok " + "-" * 60  # accepted by the REPL double; 85 bytes


def test_lean_config_is_settable_from_the_toml_also_in_a_shard_worker(tmp_path, monkeypatch):
    double = [sys.executable, "-m", "formalpi.lean.double"]
    common = f"project_dir = {str(ROOT)!r}\nrepl_command = {double!r}\nworkers = 1\ntimeout_s = 10.0\n" + "".join(
        f"{k} = {list(v)!r}\n" for k, v in standin_commands().items()
    )  # the replay through its scripted stand-in
    small = load_config(_toml(tmp_path, "lean", common + "max_proof_bytes = 64"))
    assert small.verify["max_proof_bytes"] == 64 and small.verify["repl_command"] == double
    default = load_config(_toml(tmp_path, "lean", common))
    p = Problem(
        id="t0", domain="lean", text=STATEMENT, meta={"header": "import Mathlib", "formal_statement": STATEMENT}
    )
    with open_domain("lean", small.verify) as d:
        v = d.verify_many([p], [PROOF])[0]
        assert v.status is Status.REJECTED and "max_proof_bytes" in v.reason
    with open_domain("lean", default.verify) as d:
        assert d.verify_many([p], [PROOF])[0].status is Status.VALID
    assert _shard_eval(tmp_path, small, [p], PROOF, monkeypatch)[0].correct == [False]
    assert _shard_eval(tmp_path, default, [p], PROOF, monkeypatch)[0].correct == [True]
    with pytest.raises(ConfigError, match=r"verify\.memory_mb: not a setting of the lean domain"):
        load_config(_toml(tmp_path, "lean", "memory_mb = 10"))
