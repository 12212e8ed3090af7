"""`formalpi generate-hints`: the cross-model file from a named model, in the format the cross-model rows read."""

from pathlib import Path

from typer.testing import CliRunner

from formalpi.domains.math.domain import MathDomain
from formalpi.cli import app
from formalpi.engine.conditions import get_condition, load_cross_model
from formalpi.pi_condition import reveals

ROOT = Path(__file__).resolve().parent.parent


def test_generate_hints_writes_verified_solutions_and_answer_free_hints(tmp_path):
    out = tmp_path / "cross.jsonl"
    sets = ["data.dataset=arith", "data.train_limit=20", "sampling.max_new_tokens=48", "model.dtype=auto"]
    res = CliRunner().invoke(
        app,
        [
            "generate-hints",
            str(ROOT / "experiments" / "math_cross_model_hint.toml"),
            "--model",
            "tiny",
            "--out",
            str(out),
            "--n",
            "2",
            "--seed",
            "1",
            *[a for s in sets for a in ("--set", s)],
        ],
    )
    assert res.exit_code == 0, res.output
    print(res.output)
    table = load_cross_model(out)  # the conditions' own reader accepts it
    said = " ".join(res.output.split())  # rich wraps to the terminal's width
    assert 0 < len(table) <= 20 and f"{len(table)} of 20 problems solved by tiny" in said
    with MathDomain() as dom:
        problems = {p.id: p for p in dom.problems("arith", "train", limit=20)}
        ids = sorted(table)
        verdicts = dom.verify_many([problems[i] for i in ids], [table[i]["solution"] for i in ids])
    assert all(v.passed for v in verdicts)  # every solution in the file is verified
    for pid, row in table.items():
        assert "hint" not in row or not reveals(row["hint"], problems[pid].gold), row
    hinted = [pid for pid, row in table.items() if "hint" in row]
    assert hinted  # level 4-5 chains have a first reduction that is not the answer
    from formalpi.pi_condition import PIContext
    from formalpi.records import Attempt, Status, Verdict

    p = problems[hinted[0]]
    ctx = PIContext(
        problem=p,
        attempt=Attempt(id="a", problem_id=p.id, prompt="q", completion="x"),
        verdict=Verdict(status=Status.WRONG),
        seed=0,
        extras={"cross_model": table},
    )
    assert table[p.id]["hint"] in get_condition("cross_model_hint", "math").pi(ctx)
