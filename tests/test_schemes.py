"""The registry of reuse schemes and predictors (golden_model.schemes) and ``fuzzymemo schemes``."""

import json

import numpy as np
import pytest
from support import smooth_inputs, uniform_network

from fuzzymemo.cli import main
from golden_model import schemes
from golden_model.calibration import calibrate_formats
from golden_model.fixed_model import FixedPointNetwork
from golden_model.formats import FixedPointConfig
from golden_model.memo import ORACLE, PREDICTED, MemoPolicy
from golden_model.predictors import LowRank
from golden_model.schemes import registry
from golden_model.schemes.predictor import PredictorEntry
from golden_model.workloads import load_workload


def test_first_entries_and_kinds():
    assert schemes.names() == ["memo", "bnn", "bnn-planes", "low-rank", "top-k", "low-precision", "oracle", "crew",
                              "delta", "similarity"]
    assert [e.kind for e in schemes.entries()] == ["scheme"] + ["predictor"] * 5 + ["oracle"] + ["scheme"] * 3
    assert schemes.names(("oracle",)) == ["oracle"]
    assert schemes.get("bnn").scheme == "memo" and schemes.get("oracle").scheme == "memo"


def test_unknown_names_and_parameters_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown predictor 'lowrank'; registered: bnn"):
        schemes.get("lowrank", ("predictor",))
    with pytest.raises(ValueError, match=r"unknown scheme 'bnn'"):   # a predictor is not a scheme
        schemes.get("bnn", ("scheme",))
    memo = schemes.get("memo")
    with pytest.raises(ValueError, match=r"has no parameter rank; it takes predictor, form, cache_update"):
        memo.golden_policy(0.1, rank=4)
    with pytest.raises(ValueError, match=r"form must be one of \['relative', 'absolute'\]"):
        memo.golden_policy(0.1, form="sideways")
    with pytest.raises(ValueError, match=r"unknown predictor or oracle 'nope'"):
        memo.golden_policy(0.1, predictor="nope")
    with pytest.raises(ValueError, match="registered twice"):
        schemes.register(schemes.get("bnn"))
    with pytest.raises(TypeError, match="must be a ReuseEntry"):
        schemes.register(object())


def test_golden_policies_are_the_memo_policies():
    memo = schemes.get("memo")
    assert memo.golden_policy(0.25) == MemoPolicy(PREDICTED, 0.25)
    assert memo.golden_policy((1, 2), predictor="oracle", form="absolute") == \
        MemoPolicy(ORACLE, (1, 2), "absolute")
    assert memo.golden_policy(3, form="absolute", cache_update="always") == \
        MemoPolicy(PREDICTED, 3, "absolute", "always")
    with pytest.raises(ValueError, match="oracle caches only computed outputs"):
        memo.golden_policy(0.1, predictor="oracle", cache_update="always")


def test_registry_policy_runs_bit_exact_with_the_direct_policy():
    w = load_workload("basic_motions")
    model = FixedPointNetwork(w.network, FixedPointConfig.from_dict(w.network.meta["fixed_point"]))
    x, lengths = w.x[:6], w.lengths[:6]
    via_registry = model.run(x, lengths, schemes.get("memo").golden_policy(0.2))
    direct = model.run(x, lengths, MemoPolicy(PREDICTED, 0.2))
    assert np.array_equal(via_registry.out, direct.out)
    assert np.array_equal(via_registry.stats.reuses, direct.stats.reuses)
    assert via_registry.stats.reuses.sum() > 0


def test_costs_per_neuron():
    cfg = FixedPointConfig()
    bnn = schemes.get("bnn").cost(44, cfg)
    assert (bnn.bit_ops, bnn.macs, bnn.state_bits) == (44, 0.0, 44 + 7)
    assert bnn.mac_equivalent == pytest.approx(44 / 64)
    assert schemes.get("oracle").cost(44, cfg).mac_equivalent == 0   # a bound, counted free
    low_rank = schemes.get("low-rank").cost_at(44, cfg, neurons=128)
    assert low_rank.mac_equivalent == pytest.approx(4 + 4 * 44 / 128)
    assert schemes.get("low-rank").cost_at(44, cfg, 128, {"rank": 8}).macs == 8
    assert schemes.get("memo").cost(44, cfg).state_bits == cfg.act.bits + 1


def test_cli_lists_json(capsys):
    assert main(["schemes", "--json", "--inputs", "100", "--neurons", "50"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and [r["name"] for r in rows] == schemes.names()
    for r in rows:
        assert {"name", "kind", "parameters", "cost"} <= set(r)
        assert r["cost"]["inputs"] == 100 and r["cost"]["baseline_macs"] == 100 and r["cost"]["neurons"] == 50
    assert rows[1]["cost"]["bit_ops"] == 100
    low_rank = next(r for r in rows if r["name"] == "low-rank")
    assert low_rank["cost"]["mac_equivalent"] == pytest.approx(4 + 4 * 100 / 50)
    assert [p["name"] for p in rows[0]["parameters"]] == ["predictor", "form", "cache_update", "rule"]
    assert main(["schemes"]) == 0
    text = capsys.readouterr().out
    assert "bnn" in text and "--cache-update (compute|always)" in text and "N = 44 inputs" in text
    assert "--rank: rank r of the factorization (default 4)" in text


def test_cli_bad_inputs_exit_2(capsys):
    assert main(["schemes", "--inputs", "zero"]) == 2
    assert "--inputs: takes a whole number, not 'zero'" in capsys.readouterr().err


def test_a_new_entry_appears_by_registration_alone(monkeypatch, capsys):
    class Tiny(PredictorEntry):
        name, summary = "tiny", "a test predictor"
        parameters = (schemes.Parameter("rank", int, 2, "factors"),)

        def make(self, rank):
            return LowRank(rank)

        def cost(self, inputs, config, neurons=1, *, rank):
            return schemes.Cost(inputs, macs=float(rank), state_bits=16, neurons=neurons, formula="r MACs")

    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))
    schemes.register(Tiny())
    assert schemes.names(("predictor",))[-1] == "tiny"
    # the golden model runs it by name, with its parameters, through the memo scheme
    net = uniform_network("gru", seed=3)
    x = smooth_inputs(2, 5, net.input_size)
    model = FixedPointNetwork(net, calibrate_formats(net, x))
    policy = schemes.get("memo").golden_policy(0.2, predictor="tiny", predictor_params={"rank": 3})
    assert policy.predictor == LowRank(3) and policy.rule == "output"
    assert model.run(x, policy=policy).stats.reuses.sum() > 0
    assert main(["schemes", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["tiny"]["cost"]["macs"] == 2.0 and rows["tiny"]["parameters"][0]["default"] == 2
    assert Tiny().resolve({"rank": 4}) == {"rank": 4}
    with pytest.raises(ValueError, match="rank must be of type int, not"):
        Tiny().resolve({"rank": "4"})
