"""Shared arguments of the commands that run a model on data: a bundled workload or a user model
file with an .npz data file."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from golden_model.calibration import config_for
from golden_model.fixed_model import FixedPointNetwork
from golden_model.network import Network
from golden_model.workloads import ALL_WORKLOADS, DEFAULT_WORKLOAD, SPLITS, load_data, load_workload

from .args import at_least

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    name: str
    model: FixedPointNetwork
    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray

    def first(self, n: int) -> Source:
        """The first ``n`` sequences, same model (same formats)."""
        return Source(self.name, self.model, self.x[:n], self.y[:n], self.lengths[:n])


def add_source_arguments(parser, default_workload: bool = False, splits: bool = True,
                         data_help: str = "data for --model") -> None:
    """--workload | --model with --data, --limit, and (``splits``) --split: the bundled workload's split.
    Commands whose split is fixed (calibrate: calibration; evaluate: test) leave --split out."""
    group = parser.add_mutually_exclusive_group(required=not default_workload)
    group.add_argument("--workload", choices=ALL_WORKLOADS,
                       help=f"a bundled workload{f' (default {DEFAULT_WORKLOAD})' if default_workload else ''}")
    if splits:
        parser.add_argument("--split", choices=SPLITS, help="the bundled workload's data split (default test; "
                                                            "the calibration split is held out of training)")
    group.add_argument("--model", metavar="MODEL", help="a model file written by 'fuzzymemo import-torch'")
    parser.add_argument("--data", metavar="DATA.npz", help=f"{data_help}: x (batch, time, features), y, "
                                                           f"optional lengths")
    parser.add_argument("--limit", type=at_least(1), metavar="N", help="use only the first N sequences")


def load_source(args, apply_limit: bool = True, split: str | None = None) -> Source:
    """The model and data the arguments name (a bundled workload's ``split``, else its ``--split``, else its
    test split); ``--limit`` applied unless ``apply_limit`` is False (then the caller takes
    :meth:`Source.first` itself). The formats are the model's stored ones or calibrated on
    all of the data, with or without --limit."""
    if args.model is not None:
        if args.data is None:
            raise ValueError("--model needs --data DATA.npz")
        if getattr(args, "split", None) is not None:
            raise ValueError("--split goes with --workload; --model takes its data from --data")
        net = Network.load(args.model)
        x, y, lengths = load_data(args.data)
        name = args.model
    else:
        if args.data is not None:
            raise ValueError("--data goes with --model; a bundled workload brings its own data")
        split = split or getattr(args, "split", None) or "test"
        workload = load_workload(args.workload or DEFAULT_WORKLOAD, split)
        net, x, y, lengths, name = workload.network, workload.x, workload.y, workload.lengths, workload.name
    # formats first, on all the data, so that --limit never changes the quantization
    model = FixedPointNetwork(net, config_for(net, x, lengths))
    if net.head is not None and np.size(y):
        classes = net.head.weight.shape[0]
        bad = (y < 0) | (y >= classes)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"label {int(y[i])} of sequence {i} is outside the readout's classes 0..{classes - 1}")
    clipped, total = model.input_saturation(x, lengths)
    if clipped:
        log.warning(f"{clipped} of {total} input values ({clipped / total:.2%}) lie outside the activation format "
                    f"{model.config.act} and saturate (the formats were calibrated on other data)")
    src = Source(name, model, x, y, lengths)
    return src.first(args.limit) if apply_limit and args.limit is not None else src
