"""Fixed-point number formats of the datapath.

Every integer the hardware holds is a two's-complement number of a :class:`QFormat`: ``bits`` wide with
``frac`` fractional bits, so the integer ``q`` stands for ``q / 2**frac``. :class:`FixedPointConfig`
groups the formats of one network; the RTL is elaborated from the same object.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: Widest integer the golden model lets any intermediate reach (numpy int64 with a margin).
MAX_INTERMEDIATE_BITS = 62

#: Fractional bits of a relative threshold: theta is held as the unsigned integer round(theta * 2**8).
THETA_FRAC = 8
#: Width of the run-time threshold register (relative: theta < 256; absolute: up to 65535).
THETA_BITS = 16
#: Width of a delta threshold (theta_x, theta_h) in the tile: one half of the THETA_BITS word each.
DELTA_THETA_BITS = THETA_BITS // 2
#: The largest delta threshold (activation LSBs) the tile's registers hold; calibration searches no further.
DELTA_THETA_MAX = (1 << DELTA_THETA_BITS) - 1


@dataclass(frozen=True)
class QFormat:
    """Signed fixed-point format: ``bits`` total (sign included), ``frac`` of them fractional."""

    bits: int
    frac: int

    def __post_init__(self):
        for name in ("bits", "frac"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"QFormat.{name} must be an int, not {type(value).__name__}")
        if not 2 <= self.bits <= 48:  # 48: the widest bias (FixedPointConfig.bias_bits)
            raise ValueError(f"QFormat.bits must be in 2..48, not {self.bits}")
        if not 0 <= self.frac < self.bits + 16:
            raise ValueError(f"QFormat.frac must be in 0..{self.bits + 15}, not {self.frac}")

    @property
    def min_int(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def max_int(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def scale(self) -> float:
        return float(1 << self.frac)

    @property
    def max_value(self) -> float:
        return self.max_int / self.scale

    def __str__(self):
        return f"Q{self.bits}.{self.frac}"


@dataclass(frozen=True)
class FixedPointConfig:
    """Number formats of one network's datapath.

    weight   -- weights of both matrices (W_ih, W_hh)
    act      -- inputs x, hidden state h and every gate output (sigmoid/tanh results)
    cell     -- LSTM cell state c
    preact   -- argument of the sigmoid/tanh tables (saturated symmetrically)
    bias_bits -- width of a bias; its fraction is weight.frac + act.frac (the accumulator's)
    """

    weight: QFormat = QFormat(8, 6)
    act: QFormat = QFormat(12, 8)
    cell: QFormat = QFormat(14, 9)
    preact: QFormat = QFormat(10, 6)
    bias_bits: int = 24

    def __post_init__(self):
        for name in ("weight", "act", "cell", "preact"):
            if not isinstance(getattr(self, name), QFormat):
                raise TypeError(f"FixedPointConfig.{name} must be a QFormat")
        if not isinstance(self.bias_bits, int) or not 2 <= self.bias_bits <= 48:
            raise ValueError(f"FixedPointConfig.bias_bits must be an int in 2..48, not {self.bias_bits!r}")
        if self.act.frac > self.act.bits - 2:
            raise ValueError(
                f"activation format {self.act} must keep at least one integer bit so that a gate "
                f"output of 1.0 is representable (frac <= bits - 2)")
        if self.preact.bits > 16:
            raise ValueError(f"preactivation format {self.preact} needs a table of 2**{self.preact.bits - 1} "
                             f"entries; at most 16 bits are allowed")
        if self.act.frac + self.act.bits + 1 > MAX_INTERMEDIATE_BITS // 2:
            raise ValueError(f"activation format {self.act} is too wide for exact integer products")
        if self.acc_frac < self.preact.frac:
            raise ValueError(
                f"preactivation fraction ({self.preact.frac}) must not exceed the accumulator fraction "
                f"weight.frac + act.frac = {self.acc_frac}")

    @property
    def acc_frac(self) -> int:
        """Fraction bits of a dot product: the sum of weight and activation fractions."""
        return self.weight.frac + self.act.frac

    @property
    def bias(self) -> QFormat:
        return QFormat(self.bias_bits, self.acc_frac)

    def acc_bits(self, n_inputs: int) -> int:
        """Width of an exact accumulator of ``n_inputs`` products plus the bias."""
        if n_inputs < 1:
            raise ValueError("a dot product needs at least one input")
        product_bits = self.weight.bits + self.act.bits
        return max(product_bits + (n_inputs - 1).bit_length(), self.bias_bits) + 1

    def int32_fits(self, n_inputs: int) -> bool:
        """Whether the golden model may hold a neuron's per-step values in int32 (golden_model.intops) for
        neurons of up to ``n_inputs`` inputs: the accumulator with its rounding add; the gate products
        f * c, i * g, o * tanh(c) and z * (h - n); and the output compare theta * |y_m| and
        |y - y_m| << THETA_FRAC of the oracle, all below 2**31 in magnitude. (Wider values, the GRU's
        r * acc_h and every predictor score, stay int64.)"""
        return (self.acc_bits(n_inputs) <= 31
                and self.act.bits + self.cell.bits <= 31
                and 2 * self.act.bits + 1 <= 31
                and self.act.bits + max(THETA_BITS, THETA_FRAC + 1) <= 31)

    def check_sizes(self, n_inputs: int) -> None:
        """Raise if a neuron of ``n_inputs`` inputs would overflow the golden model's int64 arithmetic."""
        # The GRU candidate multiplies the recurrent accumulator by r (act bits).
        widest = self.acc_bits(n_inputs) + self.act.bits
        if widest > MAX_INTERMEDIATE_BITS:
            raise ValueError(f"formats {self} with {n_inputs} inputs need {widest}-bit intermediates; "
                             f"at most {MAX_INTERMEDIATE_BITS} are supported")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FixedPointConfig:
        try:
            return cls(weight=QFormat(**data["weight"]), act=QFormat(**data["act"]),
                       cell=QFormat(**data["cell"]), preact=QFormat(**data["preact"]),
                       bias_bits=data["bias_bits"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed fixed-point configuration {data!r}: {e}") from None

    def __str__(self):
        return (f"weight {self.weight}, act {self.act}, cell {self.cell}, preact {self.preact}, "
                f"bias Q{self.bias_bits}.{self.acc_frac}")
