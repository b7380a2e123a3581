"""Choice of fixed-point formats: given the bit widths, pick the fraction bits from the network's
weights and the ranges its signals reach on calibration data (largest fraction that still holds
the largest magnitude, so nothing saturates on that data)."""

from __future__ import annotations

import math

import numpy as np

from .float_model import cell_abs_max
from .formats import FixedPointConfig, QFormat
from .network import LSTM, Network
from .sequences import check_batch

#: The sigmoid/tanh tables cover arguments in [-8, 8]: beyond that both are within 2**-11 of their limit.
PREACT_RANGE = 8.0
#: Headroom on the observed cell-state range for unseen inputs.
CELL_MARGIN = 2.0


def frac_for(bits: int, magnitude: float, max_frac: int | None = None) -> int:
    """Largest fraction so that ``magnitude`` fits a signed ``bits``-bit format."""
    if magnitude <= 0:
        frac = bits - 1
    else:
        frac = math.floor(math.log2(((1 << (bits - 1)) - 1) / magnitude))
    if max_frac is not None:
        frac = min(frac, max_frac)
    if frac < 0:
        raise ValueError(f"a magnitude of {magnitude:.4g} does not fit {bits} bits even with no fraction bits")
    return frac


def calibrate_formats(net: Network, x, lengths=None, weight_bits=8, act_bits=12, cell_bits=14,
                      preact_bits=10, bias_bits=24) -> FixedPointConfig:
    """Formats of the given widths for ``net`` calibrated on the batch ``x``."""
    x, lengths = check_batch(x, lengths, net.input_size)
    weights = [np.concatenate([w.w_ih.ravel(), w.w_hh.ravel()]) for layer in net.layers for w in layer]
    w_max = float(max(np.abs(w).max() for w in weights))
    # Activations hold x, h and gate outputs up to 1.0, which needs one integer bit.
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
    act_max = max(float(np.abs(x[valid]).max()), 1.0)
    act = QFormat(act_bits, frac_for(act_bits, act_max, max_frac=act_bits - 2))
    weight = QFormat(weight_bits, frac_for(weight_bits, w_max))
    # Saturation at +-PREACT_RANGE is harmless, so the table spends all its bits inside that range.
    preact = QFormat(preact_bits, preact_bits - 1 - int(math.log2(PREACT_RANGE)))
    c_max = cell_abs_max(net, x, lengths) * CELL_MARGIN if net.cell == LSTM else 1.0
    cell = QFormat(cell_bits, frac_for(cell_bits, max(c_max, 1.0)))
    return FixedPointConfig(weight=weight, act=act, cell=cell, preact=preact, bias_bits=bias_bits)


def config_for(net: Network, x, lengths=None) -> FixedPointConfig:
    """The formats stored with the model (``meta["fixed_point"]``, written when it was calibrated on its
    training data), else formats calibrated on the given batch with the default widths."""
    stored = net.meta.get("fixed_point")
    if stored is not None:
        return FixedPointConfig.from_dict(stored)
    return calibrate_formats(net, x, lengths)


#: Widths each format takes in :func:`width_study` (one format varied at a time, the others at default).
STUDY_WIDTHS = {"weight_bits": (4, 5, 6, 7, 8, 10), "act_bits": (6, 8, 10, 12, 14),
                "cell_bits": (10, 12, 14, 16), "preact_bits": (8, 9, 10, 11, 12)}


def width_study(net: Network, x, y, lengths=None, widths=None) -> list[dict]:
    """Fixed-point accuracy against the bit width of each format, formats recalibrated at every width
    on the same data. Rows: format, bits, accuracy, loss against float (pp), the calibrated config."""
    from .fixed_model import FixedPointNetwork

    x, lengths = check_batch(x, lengths, net.input_size)
    float_acc = float(np.mean(net.predict(x, lengths) == y))
    rows = []
    for name, values in (widths or STUDY_WIDTHS).items():
        for bits in values:
            try:
                cfg = calibrate_formats(net, x, lengths, **{name: bits})
                acc = float(np.mean(FixedPointNetwork(net, cfg).predict(x, lengths) == y))
            except ValueError as e:  # a width too narrow for the data is a result, not a failure
                rows.append({"format": name, "bits": bits, "accuracy": None, "error": str(e)})
                continue
            rows.append({"format": name, "bits": bits, "accuracy": acc, "loss_pp": (float_acc - acc) * 100,
                         "float_accuracy": float_acc, "config": str(cfg)})
    return rows
