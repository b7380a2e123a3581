import pytest

from golden_model.formats import FixedPointConfig, QFormat


@pytest.mark.parametrize("kwargs,error,message", [
    ({"bits": 1, "frac": 0}, ValueError, "bits"), ({"bits": 49, "frac": 0}, ValueError, "bits"),
    ({"bits": 8, "frac": -1}, ValueError, "frac"), ({"bits": 8.0, "frac": 2}, TypeError, "int"),
    ({"bits": True, "frac": 2}, TypeError, "int")])
def test_bad_qformat(kwargs, error, message):
    with pytest.raises(error, match=message):
        QFormat(**kwargs)


def test_activation_format_needs_an_integer_bit():
    with pytest.raises(ValueError, match="1.0 is representable"):
        FixedPointConfig(act=QFormat(8, 7))


def test_preact_fraction_cannot_exceed_accumulator():
    with pytest.raises(ValueError, match="accumulator fraction"):
        FixedPointConfig(weight=QFormat(8, 0), act=QFormat(8, 2), preact=QFormat(11, 7))


def test_bad_bias_bits_and_types():
    with pytest.raises(ValueError, match="bias_bits"):
        FixedPointConfig(bias_bits=1)
    with pytest.raises(TypeError, match="QFormat"):
        FixedPointConfig(weight=(8, 6))


def test_wide_bias_has_a_format():
    assert FixedPointConfig(bias_bits=40).bias == QFormat(40, 14)


def test_config_round_trips_through_dict():
    cfg = FixedPointConfig(weight=QFormat(6, 4))
    assert FixedPointConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="malformed"):
        FixedPointConfig.from_dict({"weight": {"bits": 8}})


def test_accumulator_width_is_exact():
    cfg = FixedPointConfig()
    # 44 products of 8x12 bits: |sum| < 44 * 2**19, plus a 24-bit bias, needs 27 bits signed.
    worst = 44 * (1 << 7) * (1 << 11) + (1 << 23)
    assert worst < 1 << (cfg.acc_bits(44) - 1)


def test_int32_fits_where_every_step_value_stays_below_2_to_31():
    """The default formats allow int32 up to 1024 inputs per neuron (an accumulator of 31 bits) and not
    past it; an activation format too wide for theta * |y_m| or for i * g in 31 bits never allows it."""
    cfg = FixedPointConfig()
    assert cfg.acc_bits(1024) == 31 and cfg.int32_fits(1024)
    assert cfg.acc_bits(1025) == 32 and not cfg.int32_fits(1025)
    assert not FixedPointConfig(act=QFormat(16, 8), cell=QFormat(14, 9)).int32_fits(8)   # 16 + 16 > 31
    assert FixedPointConfig(act=QFormat(15, 8), cell=QFormat(16, 9)).int32_fits(8)
