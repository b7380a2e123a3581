# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the accelerator tile (hw/tile.py): every h_t equal to the golden
FixedPointNetwork.run, memo off / baseline tile / BNN memo on (reuse counts equal to the golden stats),
sequence starts, random valid gaps and back-pressure, run-time loading through `wr`, multi-layer runs
slot by slot, the cycle model, bad parameters. See docs/tile.md."""

from __future__ import annotations

import numpy as np

# ------------------------------------------------------------------------------------------------- tests
import pytest  # noqa: E402
from support import normal_network, random_inputs

from golden_model import intops
from golden_model.fixed_model import FixedPointNetwork  # noqa: E402
from golden_model.formats import FixedPointConfig
from golden_model.memo import PREDICTED, MemoPolicy  # noqa: E402
from hw import registry  # noqa: E402
from hw.checks import silence_unused  # noqa: E402
from hw.memo_table import MemoTable  # noqa: E402
from hw.tile import Tile  # noqa: E402
from hw.tile_bnn import BnnFrontEnd  # noqa: E402
from hw.tile_cycles import expected_cycles  # noqa: E402
from hw.tile_image import image_writes, memory_image  # noqa: E402
from hw.tile_params import TileParams  # noqa: E402
from sim.tile_amaranth import TileSequence, run_sequences


def _setup(cell, inputs=3, hidden=4, lanes=2, bnn_width=8, memo=True, layers=1, seed=3, image=True):
    fixed = FixedPointNetwork(normal_network(cell, inputs, hidden, layers=layers, seed=seed))
    params = TileParams.for_network(fixed, lanes=lanes, bnn_width=bnn_width, front_end=BnnFrontEnd if memo else None)
    img = memory_image(params, fixed)
    return fixed, params, img, Tile(params, img if image else None)


def _golden(fixed, x, policy=None):
    return fixed.run(x[None], policy=policy)


def _check(res, k, gold, params, steps):
    assert np.array_equal(res.h[k], gold.out[0]), f"sequence {k}:\n{res.h[k]}\n!=\n{gold.out[0]}"
    assert res.lasts[k] == [steps * params.hidden - 1]
    assert res.counters[k]["evaluations"] == steps * params.neurons
    assert res.counters[k]["reuses"] == int(gold.stats.reuses.sum())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("memo", [False, True], ids=["baseline", "memo_hw"])
def test_memo_off_equals_golden_and_cycle_model(cell, memo):
    """Baseline tile and memo tile with memo_enable=0: bit-exact, two sequences (the second starts from
    zero state), cycles exactly the baseline model (the same on both tiles)."""
    fixed, params, _, tile = _setup(cell, memo=memo)
    xs = random_inputs(fixed.config, 2, 3, 3, seed=11)
    res = run_sequences(tile, [TileSequence(xs[0]), TileSequence(xs[1][:2])])
    for k, x in enumerate((xs[0], xs[1][:2])):
        _check(res, k, _golden(fixed, x), params, len(x))
        assert res.counters[k]["cycles"] == expected_cycles(params, 3, len(x))
        assert res.counters[k]["stalls"] == 0


@pytest.mark.parametrize("cell,theta,form", [("lstm", 0.3, "relative"), ("gru", 0.3, "relative"),
                                             ("lstm", 2, "absolute"), ("gru", 2, "absolute"),
                                             ("lstm", (0, 4, 1, 2), "absolute"), ("gru", (0.5, 0, 0.2), "relative")])
def test_memo_on_equals_golden_with_gaps(cell, theta, form):
    """BNN memoization with real reuse under random x gaps and h back-pressure, at one threshold or one
    per gate; the second sequence checks that a sequence start clears the memo valid bits; reuses equal
    the golden stats."""
    fixed, params, _, tile = _setup(cell)
    xs = random_inputs(fixed.config, 2, 6, 3, seed=5, scale=0.3)
    theta_q = tuple(intops.quantize_threshold(t, form) for t in theta) if isinstance(theta, tuple) else \
        intops.quantize_threshold(theta, form)
    seqs = [TileSequence(x, memo_enable=1, theta=theta_q, form=int(form == "absolute")) for x in xs]
    res = run_sequences(tile, seqs, seed=7, gap=0.3, stall=0.3)
    policy = MemoPolicy(PREDICTED, (theta,) if isinstance(theta, tuple) else theta, form)
    total = 0
    for k, x in enumerate(xs):
        gold = _golden(fixed, x, policy)
        _check(res, k, gold, params, len(x))
        total += res.counters[k]["reuses"]
    assert total > 10, "the threshold should give real reuse"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_lanes_not_dividing_sizes(cell):
    """L = 2 divides neither n_x = 5 nor H = 3; B = 3 does not divide N = 8; memo on and off."""
    fixed, params, _, tile = _setup(cell, inputs=5, hidden=3, lanes=2, bnn_width=3, seed=8)
    xs = random_inputs(fixed.config, 2, 4, 5, seed=2, scale=0.3)
    theta = intops.quantize_threshold(3, "absolute")
    res = run_sequences(tile, [TileSequence(xs[0], memo_enable=1, theta=theta, form=1), TileSequence(xs[1])], gap=0.2,
                   stall=0.2)
    _check(res, 0, _golden(fixed, xs[0], MemoPolicy(PREDICTED, 3, "absolute")), params, 4)
    _check(res, 1, _golden(fixed, xs[1]), params, 4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_runtime_loading_and_slots(cell):
    """A 2-layer network on a tile built without weights: load the image through `wr`, run layer 0
    (slot 0, n_x = 3) and then layer 1 (slot 1, n_x = H) on layer 0's outputs, as the host does."""
    fixed, params, img, tile = _setup(cell, layers=2, image=False, seed=4)
    assert params.slots == 2 and params.input_size == 4
    x = random_inputs(fixed.config, 1, 3, 3, seed=9)[0]
    gold = fixed.run(x[None])
    # layer 0's outputs, from the golden model's first layer alone
    layer0 = FixedPointNetwork(type(fixed.net)(fixed.net.cell, 3, 4, fixed.net.layers[:1]), fixed.config)
    h0 = layer0.run(x[None]).out[0]
    writes = image_writes(params, img)
    res = run_sequences(tile, [TileSequence(x, slot=0), TileSequence(h0, slot=1)], writes=writes)
    assert np.array_equal(res.h[0], h0)
    assert np.array_equal(res.h[1], gold.out[0])


def test_memo_enable_off_costs_baseline_cycles():
    """The memo tile with memo_enable = 0 takes exactly the baseline tile's cycles; with memo on and all
    hits after the first step, a step costs about the BNN time (G*H*ceil(N/B) cycles plus a few)."""
    fixed, p_memo, img, tile = _setup("lstm", inputs=4, hidden=4, lanes=2, bnn_width=8)
    x = random_inputs(fixed.config, 1, 3, 4, seed=1)[0]
    x[:] = x[0]   # constant input: every neuron hits after the first step with a huge threshold
    base = run_sequences(Tile(TileParams.for_network(fixed, lanes=2, bnn_width=8), None),
                    [TileSequence(x)], writes=image_writes(TileParams.for_network(fixed, lanes=2), img))
    res = run_sequences(tile, [TileSequence(x), TileSequence(x, memo_enable=1, theta=65535, form=1)])
    assert res.counters[0]["cycles"] == base.counters[0]["cycles"] == expected_cycles(p_memo, 4, 3)
    gold = _golden(fixed, x, MemoPolicy(PREDICTED, 65535, "absolute"))
    _check(res, 1, gold, p_memo, 3)
    misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
    assert list(misses) == [16, 0, 0]
    assert res.counters[1]["cycles"] == expected_cycles(p_memo, 4, 3, misses)
    assert res.counters[1]["cycles"] < res.counters[0]["cycles"]


def test_memo_cycle_estimate():
    """With a mixed hit pattern the count-based estimate is within 5 % of the measured cycles."""
    fixed, params, _, tile = _setup("gru", inputs=6, hidden=4, lanes=2, bnn_width=4, seed=6)
    x = random_inputs(fixed.config, 1, 6, 6, seed=3, scale=0.3)[0]
    theta = intops.quantize_threshold(0.5, "relative")
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=theta)])
    gold = _golden(fixed, x, MemoPolicy(PREDICTED, 0.5))
    _check(res, 0, gold, params, 6)
    misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
    est = expected_cycles(params, 6, 6, misses)
    assert abs(res.counters[0]["cycles"] - est) <= 0.05 * est


@pytest.mark.parametrize("cell,inputs,hidden,lanes,bnn_width,theta,seed", [
    ("gru", 6, 4, 2, 4, 0.5, 6), ("lstm", 4, 4, 2, 8, 0.3, 3), ("gru", 2, 3, 2, 8, 0.5, 1)])
def test_memo_cycle_model_exact_on_hit_masks(monkeypatch, cell, inputs, hidden, lanes, bnn_width, theta, seed):
    """Free hits: with the golden model's hit mask of every step (in issue order) the cycle model equals
    the measured cycles on mixed hit patterns (GRU n waiting for its r included)."""
    from golden_model import memo as golden_memo
    calls, apply = [], golden_memo.MemoTable.apply

    def recording(self, cols, *args, **kwargs):
        out, hit = apply(self, cols, *args, **kwargs)
        calls.append((cols, hit[0].copy()))
        return out, hit

    monkeypatch.setattr(golden_memo.MemoTable, "apply", recording)
    fixed, params, _, tile = _setup(cell, inputs=inputs, hidden=hidden, lanes=lanes, bnn_width=bnn_width, seed=seed)
    x = random_inputs(fixed.config, 1, 8, inputs, seed=3, scale=0.3)[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=intops.quantize_threshold(theta, "relative"))])
    gold = _golden(fixed, x, MemoPolicy(PREDICTED, theta))
    _check(res, 0, gold, params, 8)
    G, nn = params.gates, params.neurons
    hits = np.zeros(nn, bool)
    rows, seen = [], 0
    for cols, hit in calls:
        hits[cols], seen = hit, seen + hit.size
        if seen == nn:
            rows.append([not hits[g * hidden + j] for j in range(hidden) for g in range(G)])
            seen = 0
    mask = np.array(rows)
    assert mask.shape == (8, nn) and 0 < mask[1:].sum() < 7 * nn
    assert res.counters[0]["cycles"] == expected_cycles(params, inputs, 8, mask)


class _TwoBitEpochs(BnnFrontEnd):
    """The BNN front end with a 2-bit-epoch memo table: the epoch wraps, with a sweep, every 3 sequences."""

    def __init__(self, params, image=None):
        super().__init__(params, image)
        silence_unused(self.memo)   # replaced
        self.memo = MemoTable(params.neurons, params.config.act.bits, params.b_bits, params.cache_update, epoch_bits=2)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_epoch_sweeps_in_the_tile(cell):
    """Seven memoizing sequences on a tile whose memo table wraps its epoch every 3 clears (sequence
    starts): bit-exact, the golden reuses, no update offered to the table while it sweeps (the merge does
    not look at ``update.ready``), and only the sequences whose start wraps the epoch take longer than on
    the default table (by at most the sweep's ``entries`` cycles)."""
    fixed, params, img, tile = _setup(cell, inputs=3, hidden=4, lanes=2, bnn_width=8, seed=3)
    small = TileParams.for_network(fixed, lanes=2, bnn_width=8, front_end=_TwoBitEpochs)
    swept = Tile(small, img)
    xs = random_inputs(fixed.config, 7, 3, 3, seed=5, scale=0.3)
    theta = intops.quantize_threshold(0.3, "relative")
    seqs = [TileSequence(x, memo_enable=1, theta=theta) for x in xs]
    memo, seen = swept.front_end.memo, {"sweep_cycles": 0, "blocked_updates": 0}

    async def monitor(ctx):
        while True:
            ready = ctx.get(memo.update.ready)
            seen["sweep_cycles"] += not ready
            seen["blocked_updates"] += ctx.get(memo.update.valid) and not ready
            await ctx.tick()

    # x always valid, h always ready: each sequence's cycles do not depend on when it starts
    res = run_sequences(swept, seqs, monitors=[monitor])
    base = run_sequences(tile, seqs)
    assert seen["blocked_updates"] == 0
    assert seen["sweep_cycles"] == 2 * params.neurons      # the 3rd and 6th sequence starts wrap
    policy = MemoPolicy(PREDICTED, 0.3)
    for k, x in enumerate(xs):
        _check(res, k, _golden(fixed, x, policy), params, len(x))
        cycles, base_cycles = res.counters[k]["cycles"], base.counters[k]["cycles"]
        if k in (2, 5):
            assert base_cycles < cycles <= base_cycles + params.neurons, k
        else:
            assert cycles == base_cycles, k


def test_image_words_match_golden_layout():
    fixed, params, img, _ = _setup("gru", inputs=3, hidden=4, lanes=2, bnn_width=8, image=False)
    q = fixed.layers[0][0]
    G, H = 3, 4
    # neuron n = j*G + g, first weight row, lane 1 = W[g*H + j, 1]
    j, g = 2, 1
    word = img["weight"][(j * G + g) * params.rows_per_neuron]
    lane1 = (word >> 8) & 0xFF
    assert (lane1 - 256 if lane1 >= 128 else lane1) == q.w[g * H + j, 1]
    assert img["bias_hn"][j] == int(q.bias_h[2 * H + j]) & ((1 << 24) - 1)
    # the sign rows hold [x ; h] reversed (hw.tile_bnn.sign_words): checked on every neuron, since a
    # palindromic row (this one's 1010101) looks the same either way
    for n in range(G * H):
        bits = intops.sign_bits(q.w[(n % G) * H + n // G])
        assert img["predictor"][n * params.sign_rows] == intops.pack_bits(bits[::-1], 8)[0]
    assert any(img["predictor"][n] != intops.pack_bits(intops.sign_bits(q.w[(n % G) * H + n // G]), 8)[0]
               for n in range(G * H))


def test_bad_parameters():
    cfg = FixedPointConfig()
    good = dict(cell="lstm", input_size=3, hidden=4, slots=1, lanes=2, bnn_width=8, config=cfg, front_end=BnnFrontEnd)
    for key, value, err in [("cell", "rnn", ValueError), ("cell", 3, TypeError), ("input_size", 0, ValueError),
                            ("hidden", 2.0, TypeError), ("lanes", 0, ValueError), ("bnn_width", True, TypeError),
                            ("slots", 0, ValueError), ("config", None, TypeError), ("front_end", 1, TypeError),
                            ("max_steps", 0, ValueError), ("cache_update", "never", ValueError),
                            ("input_size", 1 << 40, ValueError)]:
        with pytest.raises(err):
            TileParams(**{**good, key: value})
    params = TileParams(**good)
    with pytest.raises(TypeError):
        Tile(object())
    with pytest.raises(TypeError):
        Tile(params, image=[1, 2])
    with pytest.raises(ValueError):
        Tile(params, image={"weight": []})
    fixed = FixedPointNetwork(normal_network("gru", 3, 4))
    with pytest.raises(ValueError, match="GRU"):
        memory_image(params, fixed)
    fixed = FixedPointNetwork(normal_network("lstm", 3, 5))
    with pytest.raises(ValueError, match="hidden"):
        memory_image(params, fixed)
    with pytest.raises(TypeError):
        memory_image(params, object())
    with pytest.raises(ValueError):
        expected_cycles(params, 4, 1)   # n_x > input_size
    with pytest.raises(TypeError):
        TileParams.for_network("net")


def test_registry_entry_elaborates():
    from amaranth.hdl import Fragment
    tile = registry.build("tile", {"cell": "gru", "predictor": "none"})
    assert isinstance(tile, Tile) and not tile.params.memo and tile.params.cell == "gru"
    Fragment.get(tile, None)


def test_registry_predictor_option():
    """``predictor`` takes none and every predictor with hardware; low-rank's rank and factor bits reach
    the front-end class (configured through the scheme registry)."""
    from hw.tile_low_rank import LowRankFrontEnd
    assert registry.tile_predictors() == ("none", "bnn", "bnn-planes", "low-rank", "top-k", "low-precision")
    assert registry.build("tile", {}).params.front_end is BnnFrontEnd
    fe = registry.build("tile", {"predictor": "low-rank", "rank": 3, "factor_bits": 6}).params.front_end
    assert fe is LowRankFrontEnd.configure(3, 6) and (fe.rank, fe.bits) == (3, 6)
    top_k = registry.build("tile", {"predictor": "top-k", "k": 2, "weight_bits": 5}).params.front_end
    assert (top_k.k, top_k.weight_bits) == (2, 5)
    assert registry.build("tile", {"predictor": "bnn-planes", "planes": 2}).params.front_end.planes == 2
    with pytest.raises(ValueError, match="option predictor must be one of"):
        registry.build("tile", {"predictor": "oracle"})
    with pytest.raises(ValueError, match="rank must be an integer in 1..64"):
        registry.build("tile", {"predictor": "low-rank", "rank": 0})
    with pytest.raises(ValueError, match="predictor low-rank: the output rule .* cache_update must be 'compute'"):
        registry.build("tile", {"predictor": "low-rank", "cache_update": "always"})


def test_cache_update_always():
    """cache_update="always" (b_m follows b_t on reuses too) equals the golden policy of the same name."""
    fixed = FixedPointNetwork(normal_network("gru", 3, 4, seed=3))
    params = TileParams.for_network(fixed, lanes=2, bnn_width=8, cache_update="always", front_end=BnnFrontEnd)
    tile = Tile(params, memory_image(params, fixed))
    x = random_inputs(fixed.config, 1, 6, 3, seed=5, scale=0.3)[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=intops.quantize_threshold(0.3, "relative"))])
    gold = _golden(fixed, x, MemoPolicy(PREDICTED, 0.3, cache_update="always"))
    _check(res, 0, gold, params, 6)
    assert res.counters[0]["reuses"] > 0
