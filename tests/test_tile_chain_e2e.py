# amaranth: UnusedElaboratable=no
"""End-to-end runs with the layers sequenced in hardware (``fuzzymemo run --layers-in-hardware``,
hw.layer_chain.LayerChain through fuzzymemo.compiled and sim.tile_tb): the bundled 2-layer digits LSTM on
Verilator (``--full``) and a 2-layer bidirectional LSTM on Icarus (the chain's own cocotb tests cover both
models on both simulators), BNN memoization with valid gaps on x and back-pressure on h. The last layer is
bit-exact and every pass's counters equal the golden counts and the host-driven mode's, pass by pass;
without gaps the tile's cycles are the host-driven mode's too. Also the CLI flag, on the memoizing
(``--full``) and on the delta tile."""

from __future__ import annotations

import functools
import json

import pytest
from e2e_cases import assert_exact, bidir_data, bidir_model, sliced, workload_model

from fuzzymemo.cli import main
from fuzzymemo.compiled import CompiledModel
from golden_model import intops


@functools.cache
def _compiled(name: str, chained: bool) -> CompiledModel:
    model = workload_model(name)[0] if name == "digits" else bidir_model()
    # buffers of 16 steps (the data's longest): Amaranth writes a memory's initial contents bit by bit, so the
    # default 4096-step buffers take about 15 s to convert
    return CompiledModel(model, predictor="bnn", layers_in_hardware=chained, max_steps=16)


def _data(name: str):
    return sliced("digits")[1:] if name == "digits" else bidir_data()


def _counts(run) -> list[tuple]:
    return [(p["slot"], p["counters"]["evaluations"], p["counters"]["reuses"]) for p in run.passes]


@pytest.mark.parametrize("sim,name", [pytest.param("verilator", "digits", marks=pytest.mark.slow),
                                      ("icarus", "bidir")])
def test_chained_equals_host_driven(sim, name):
    x, lengths = _data(name)
    for valid, ready in ((0.7, 0.6), (1.0, 1.0)):
        host, chain = (_compiled(name, chained).run(sim, x, lengths, threshold=0.3, form=intops.RELATIVE,
                                                     valid_prob=valid, ready_prob=ready, seed=3,
                                                     run_name=f"chain-{name}-{chained}")
                       for chained in (False, True))
        assert_exact(chain)
        assert len(chain.outputs) == 1 and (chain.outputs[0] == host.outputs[-1]).all()
        assert _counts(chain) == _counts(host) and chain.counters["reuses"] > 0
        if valid == ready == 1.0:   # nothing waits: the same tile cycles, pass by pass
            assert [p["counters"]["cycles"] for p in chain.passes] == [p["counters"]["cycles"] for p in host.passes]


@pytest.mark.parametrize("scheme", [   # the memoizing chain is checked through the API above, the delta chain only here
    pytest.param(["--threshold", "0.3", "--form", "relative", "--predictor", "bnn"], id="memo", marks=pytest.mark.slow),
    pytest.param(["--scheme", "delta", "--threshold", "16"], id="delta")])
def test_cli_layers_in_hardware(scheme, tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["run", "--workload", "digits", "--limit", "2", "--layers-in-hardware", "--max-steps", "16", *scheme,
                 "--json", str(out), "--quiet"]) == 0
    r = json.loads(out.read_text())
    assert r["layers_in_hardware"] is True and r["bit_exact"] and r["counters_match_golden"] and r["reuse"] > 0
    assert "(layers sequenced in hardware)" in capsys.readouterr().out


def test_chain_buffers_default_to_the_data_s_longest_sequence():
    """``fuzzymemo run --layers-in-hardware`` without ``--max-steps`` sizes the chain (its buffers and the
    tile's step counter) to the data's longest sequence rounded up to a power of two; an explicit
    ``--max-steps`` and the host-driven mode (the tile's own default) are left alone."""
    from argparse import Namespace

    import numpy as np

    from fuzzymemo.commands.run import chain_max_steps

    def steps(max_steps, chained, lengths):
        return chain_max_steps(Namespace(max_steps=max_steps, layers_in_hardware=chained), np.array(lengths))

    assert steps(None, True, [3, 8, 5]) == 8
    assert steps(None, True, [3, 9]) == 16
    assert steps(None, True, [1]) == 1
    assert steps(100, True, [3, 9]) == 100
    assert steps(None, False, [3, 9]) is None
