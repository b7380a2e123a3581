"""NumPy golden model of neuron-level fuzzy memoization in RNNs: the project's specification."""

from .formats import FixedPointConfig, QFormat
from .network import GRU, LSTM, Network
from .torch_import import from_torch, load_torch_checkpoint

__all__ = ["GRU", "LSTM", "FixedPointConfig", "Network", "QFormat", "from_torch", "load_torch_checkpoint"]
