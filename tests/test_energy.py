"""The energy model of a tile run (fuzzymemo/energy.py, docs/energy.md): hand-checked events of a small
tile, breakdowns that are counts x table, a reuse tile that reuses nothing costing at least the
baseline, the table file's overrides and errors, and the JSON entries of ``fuzzymemo run``."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.hdl import Elaboratable

from fuzzymemo import energy
from fuzzymemo.energy import DEFAULT_TABLE, breakdown, energy_figures, load_table, tile_events
from hw.checks import silence_unused
from hw.tile_bnn import BnnFrontEnd
from hw.tile_bnn_planes import BitPlaneFrontEnd
from hw.tile_low_precision import LowPrecisionFrontEnd
from hw.tile_low_rank import LowRankFrontEnd
from hw.tile_params import CrewShape, TileParams
from hw.tile_top_k import TopKFrontEnd

STEPS = 2


def _params(**kw) -> TileParams:
    return TileParams(cell="lstm", input_size=4, hidden=4, lanes=4, **kw)   # weight Q8.6, act Q12.8, acc 25 b


def _counters(p, reuses=0, cycles=100, **own):
    return {"cycles": cycles, "evaluations": STEPS * p.neurons, "reuses": reuses, "stalls": 0, **own}


def _pass(p, memo_enable=1, **kw):
    return [{"n_x": 4, "counters": _counters(p, **kw), "memo_enable": memo_enable}]


def _total(events):
    return sum(breakdown(events).values())


def _find(events, name):
    (e,) = [e for e in events if e.name.startswith(name)]
    return e


def test_baseline_events_by_hand():
    p = _params()
    ev = tile_events(p, _pass(p), STEPS)
    mac = _find(ev, "MAC")
    assert mac.count == STEPS * 16 * 8                      # every neuron of every step: n_x + H = 8 MACs
    assert mac.pj == pytest.approx(0.2 * 8 * 12 / 64 + 0.03 * 25 / 8)   # 8x12-bit multiply, 25-bit add
    w = _find(ev, "weight read")
    assert w.count == STEPS * 16 * 2 * 32                   # two 32-bit words (4 lanes x 8 bits) per neuron
    assert w.pj == pytest.approx(10 / 64 * math.sqrt(1024 / 65536))    # 1 kbit memory: the floor
    assert _find(ev, "bias read").count == STEPS * 16 * 24
    assert _find(ev, "datapath register").count == 100 * (4 * 20 + 4 * 25 + 12)
    assert _find(ev, "cell update").count == STEPS * 4
    assert {e.component for e in ev} <= set(energy.COMPONENTS)


def test_breakdown_is_counts_times_table():
    p = _params()
    ev = tile_events(p, _pass(p), STEPS)
    want = {}
    for e in ev:
        want[e.component] = want.get(e.component, 0.0) + e.count * e.pj
    assert breakdown(ev) == pytest.approx(want)
    doubled = {k: (2 * v if k.endswith("_pj") else v) for k, v in DEFAULT_TABLE.items()}
    assert _total(tile_events(p, _pass(p), STEPS, doubled)) == pytest.approx(2 * _total(ev))
    no_memory = DEFAULT_TABLE | {"sram_bit_pj": 0.0}
    assert "weight_memory" not in {e.component for e in tile_events(p, _pass(p), STEPS, no_memory)
                                   if e.energy_pj}


@pytest.mark.parametrize("front_end", [BnnFrontEnd, BitPlaneFrontEnd.configure(3), LowRankFrontEnd,
                                       LowPrecisionFrontEnd, TopKFrontEnd])
def test_memo_table_reads_are_as_wide_as_the_tables_entries(front_end):
    """The energy model's memo-table entry is the width of the table the front end builds (MemoTable:
    y_m, b_m, |b_m| and the epoch tag; OutputRuleTable: y_m, p_m, s_m), not restated."""
    p = _params(front_end=front_end)
    built = front_end(p)
    table = built.memo if front_end is BnnFrontEnd else built.table
    for part in (built, *vars(built).values()):   # built to be read, never elaborated
        if isinstance(part, Elaboratable):
            silence_unused(part)
    assert front_end.table_entry_bits(p) == table.entry_bits
    ev = tile_events(p, _pass(p), STEPS)
    read = _find(ev, "memo table read")
    assert read.count == STEPS * p.neurons * table.entry_bits


@pytest.mark.parametrize("front_end", [BnnFrontEnd, BitPlaneFrontEnd.configure(3), LowRankFrontEnd])
def test_reuse_tile_reusing_nothing_costs_at_least_the_baseline(front_end):
    base, memo = _params(), _params(front_end=front_end)
    e_base = _total(tile_events(base, _pass(base), STEPS))
    e_memo = _total(tile_events(memo, _pass(memo), STEPS))
    assert e_memo > e_base
    # reuse saves the skipped neurons' MACs, weight and operand reads
    e_half = _total(tile_events(memo, _pass(memo, reuses=16, cycles=60), STEPS))
    assert e_half < e_memo


#: the per-step work of a front end that runs on every element whatever the enable
PER_STEP = {LowRankFrontEnd: "projection MAC", TopKFrontEnd: "top-k change and insert"}


@pytest.mark.parametrize("front_end", [BnnFrontEnd, BitPlaneFrontEnd.configure(3), LowRankFrontEnd, TopKFrontEnd])
def test_memoization_disabled_charges_no_scoring(front_end):
    """memo_enable 0: the front end's feeder is idle and the memo table untouched, so the tile costs the
    baseline's events, plus the per-step work of the low-rank projection and the top-k change tracking."""
    base, memo = _params(), _params(front_end=front_end)
    events = tile_events(memo, _pass(memo, memo_enable=0), STEPS)
    extra = {e.name for e in events} - {e.name for e in tile_events(base, _pass(base), STEPS)}
    per_step = PER_STEP.get(front_end)
    assert extra == {e.name for e in events if per_step and e.name.startswith(per_step)}
    assert not [e for e in events if e.component == "memo_table"]
    if per_step is None:
        assert _total(events) == pytest.approx(_total(tile_events(base, _pass(base), STEPS)))


def test_top_k_change_tracking_by_hand():
    """Every element of every step: a subtract and k compares at act + 1 bits; k MACs per evaluation."""
    p = _params(front_end=TopKFrontEnd)
    ev = tile_events(p, _pass(p), STEPS)
    k, bits = TopKFrontEnd.entries(p), p.config.act.bits + 1
    track = _find(ev, "top-k change and insert")
    assert track.count == STEPS * 8 and track.pj == pytest.approx((1 + k) * energy.add_pj(DEFAULT_TABLE, bits))
    assert _find(ev, "top-k MAC").count == STEPS * p.neurons * k


def test_delta_changing_every_input_costs_at_least_the_baseline():
    base, delta = _params(), _params(delta=True)
    corrections = STEPS * delta.columns * delta.neuron_groups   # every input of every step changed
    own = {"x_changed": STEPS * 4, "h_changed": STEPS * 4, "corrections": corrections}
    e_base = _total(tile_events(base, _pass(base), STEPS))
    assert _total(tile_events(delta, _pass(delta, **own), STEPS)) >= e_base
    quiet = {"x_changed": 1, "h_changed": 1, "corrections": 2 * delta.neuron_groups}
    assert _total(tile_events(delta, _pass(delta, **quiet), STEPS)) < e_base


def test_crew_products_are_counted_in_groups_of_m():
    p = _params(crew=CrewShape(unique_max=4, multipliers=2))
    ev = tile_events(p, _pass(p, products=10), STEPS)
    assert _find(ev, "multiply").count == 20
    assert _find(ev, "product bank write").count == 20 * 20
    assert _find(ev, "product bank read").count == STEPS * 16 * 8 * 20   # one product per weight, by index
    assert not [e for e in ev if e.name.startswith("MAC")]


def _fake_run(p, **kw):
    return SimpleNamespace(params=p), SimpleNamespace(passes=_pass(p, **kw), lengths=np.array([STEPS]))


def test_energy_figures_keys_and_saving():
    base, memo = _params(), _params(front_end=BnnFrontEnd)
    r = energy_figures(_fake_run(base), _fake_run(memo, reuses=12, cycles=70))
    for key in ("energy_baseline_pj", "energy_pj", "energy_saving", "energy_baseline_nj", "energy_scheme_nj",
                "energy_breakdown_baseline_pj", "energy_breakdown_pj", "energy_table"):
        assert key in r, key
    assert r["energy_saving"] == pytest.approx(1 - r["energy_pj"] / r["energy_baseline_pj"])
    assert sum(r["energy_breakdown_pj"].values()) == pytest.approx(r["energy_pj"])
    assert r["energy_scheme_nj"] == pytest.approx(r["energy_pj"] / 1000)
    assert "saving" in energy.energy_line({**r, "scheme": "memo"})


def test_table_files_override_and_refuse(tmp_path):
    (tmp_path / "t.json").write_text(json.dumps({"mul_pj": 0.5}))
    (tmp_path / "t.toml").write_text("add_pj = 0.06\nregister_bit_pj = 0\n")
    assert load_table(tmp_path / "t.json") == DEFAULT_TABLE | {"mul_pj": 0.5}
    assert load_table(tmp_path / "t.toml") == DEFAULT_TABLE | {"add_pj": 0.06, "register_bit_pj": 0.0}
    assert load_table() == DEFAULT_TABLE
    for name, text, message in [("a.json", "{", "not valid JSON"), ("b.toml", "x = ", "not valid TOML"),
                                ("c.json", '{"mull_pj": 1}', "unknown entries mull_pj"),
                                ("d.json", '{"add_pj": -1}', "add_pj must be a finite number >= 0"),
                                ("e.json", '{"add_pj": "big"}', "add_pj must be a finite number >= 0"),
                                ("f.json", '{"sram_ref_bits": 0}', "sram_ref_bits must be > 0"),
                                ("g.json", "[1]", "must be a table")]:
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=message):
            load_table(tmp_path / name)
    with pytest.raises(ValueError, match="cannot read it"):
        load_table(tmp_path / "missing.json")


@pytest.mark.icarus
def test_cli_run_reports_energy(tmp_path, capsys):
    """``fuzzymemo run`` with an energy table file (on Icarus: one sequence, the energy needs only counts)."""
    from fuzzymemo.cli import main

    (tmp_path / "table.toml").write_text("register_bit_pj = 0.02\n")
    out = tmp_path / "run.json"
    assert main(["run", "--workload", "digits", "--limit", "1", "--sim", "icarus", "--threshold", "0.2", "--quiet",
                 "--energy-table", str(tmp_path / "table.toml"), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["energy_table"] == str(tmp_path / "table.toml")
    assert r["energy_baseline_pj"] > 0 and r["energy_pj"] > 0 and r["energy_saving"] < 1
    assert sum(r["energy_breakdown_baseline_pj"].values()) == pytest.approx(r["energy_baseline_pj"])
    assert "energy baseline" in capsys.readouterr().out
