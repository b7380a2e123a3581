"""Registry entries of the datapath units: options, format parsing, clear errors."""

import pytest

from golden_model.formats import FixedPointConfig, QFormat
from hw import registry
from hw.activation import ActivationUnit
from hw.checks import parse_qformat, silence_unused
from hw.dot_product import DotProductUnit
from hw.gru import GruCandidateUnit, GruStateUnit
from hw.lstm_cell import LstmCellUnit

BLOCKS = {"dot_product": DotProductUnit, "activation": ActivationUnit, "lstm_cell": LstmCellUnit,
          "gru_candidate": GruCandidateUnit, "gru_state": GruStateUnit}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_defaults_are_the_default_formats(name):
    unit = registry.build(name)
    assert isinstance(unit, BLOCKS[name])
    assert unit.config == FixedPointConfig()
    silence_unused(unit)


def test_options_reach_the_unit():
    unit = registry.build("dot_product", {"lanes": "3", "max_inputs": "40", "weight": "Q6.4", "act": "10.7",
                                          "bias_bits": "20"})
    assert (unit.lanes, unit.max_inputs) == (3, 40)
    assert unit.config.weight == QFormat(6, 4) and unit.config.act == QFormat(10, 7)
    assert unit.config.bias_bits == 20
    silence_unused(unit)


@pytest.mark.parametrize("text", ["Q8", "8,6", "Qx.y", "", "Q1.0", "Q8.-1"])
def test_bad_format_text(text):
    with pytest.raises(ValueError, match="Q<bits>.<frac>"):
        parse_qformat(text)


def test_bad_option_values_name_the_problem():
    with pytest.raises(ValueError, match="option weight"):
        registry.build("activation", {"weight": "eight"})
    with pytest.raises(ValueError, match="lanes must be in 1"):
        registry.build("dot_product", {"lanes": "0"})
    with pytest.raises(ValueError, match="preactivation fraction"):
        registry.build("activation", {"preact": "Q11.15"})
