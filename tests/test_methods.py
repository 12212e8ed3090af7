"""The method registry: each trained method's trainer receives the run's one TrainContext record."""

import pytest

from formalpi.config import IPRSExperiment, OPSDExperiment, config_from_dict
from formalpi.domain import open_domain
from formalpi.engine import iprs, opsd
from formalpi.engine.context import TrainContext
from formalpi.engine.methods import METHODS
from formalpi.errors import ConfigError
from formalpi.runs import RunStore


@pytest.mark.parametrize(
    "method,module,function,cls",
    [("opsd", opsd, "train_opsd", OPSDExperiment), ("iprs", iprs, "train_iprs", IPRSExperiment)],
)
def test_the_trainer_receives_the_train_context_whole(monkeypatch, tmp_path, method, module, function, cls):
    seen: list[TrainContext] = []

    def trainer(ctx: TrainContext) -> str:  # the trainer's one parameter: the record
        seen.append(ctx)
        return str(tmp_path / "ckpt")

    monkeypatch.setattr(module, function, trainer)
    cfg = config_from_dict({"name": "m", "method": method, "runs_dir": str(tmp_path)})
    store = RunStore.open(tmp_path, "m", 3, cfg.model_dump(mode="json"), cfg.fingerprint())
    with open_domain("math") as domain:
        ctx = TrainContext(cfg, 3, store, domain, "start-model", extras={"reference_proofs": {"p": ["rfl"]}})
        assert METHODS[method].train(ctx) == str(tmp_path / "ckpt")
    assert seen == [ctx] and type(seen[0].cfg) is cls and seen[0].extras["reference_proofs"] == {"p": ["rfl"]}


def test_methods_without_a_trainer_say_so():
    cfg = config_from_dict({"name": "b", "method": "baseline"})
    with pytest.raises(ConfigError, match="'baseline' has no trainer of its own"):
        METHODS["baseline"].train(TrainContext(cfg, 0, None, None, "m"))  # type: ignore[arg-type]
    assert [m for m, entry in METHODS.items() if entry.trains] == ["retry", "opsd", "iprs"]
