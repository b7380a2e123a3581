"""Shared arguments of the commands that run a model on data: a bundled workload or a user model
file with an .npz data file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden_model.calibration import config_for
from golden_model.fixed_model import FixedPointNetwork
from golden_model.network import Network
from golden_model.workloads import DEFAULT_WORKLOAD, WORKLOADS, load_data, load_workload


@dataclass(frozen=True)
class Source:
    name: str
    model: FixedPointNetwork
    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray


def add_source_arguments(parser, default_workload: bool = False) -> None:
    group = parser.add_mutually_exclusive_group(required=not default_workload)
    group.add_argument("--workload", choices=WORKLOADS,
                       help=f"a bundled workload{f' (default {DEFAULT_WORKLOAD})' if default_workload else ''}")
    group.add_argument("--model", metavar="MODEL", help="a model file written by 'fuzzymemo import-torch'")
    parser.add_argument("--data", metavar="DATA.npz", help="data for --model: x (batch, time, features), y, "
                                                           "optional lengths")
    parser.add_argument("--limit", type=int, metavar="N", help="use only the first N sequences")


def load_source(args) -> Source:
    if args.model is not None:
        if args.data is None:
            raise ValueError("--model needs --data DATA.npz")
        net = Network.load(args.model)
        x, y, lengths = load_data(args.data)
        name = args.model
    else:
        if args.data is not None:
            raise ValueError("--data goes with --model; a bundled workload brings its own data")
        workload = load_workload(args.workload or DEFAULT_WORKLOAD)
        net, x, y, lengths, name = workload.network, workload.x, workload.y, workload.lengths, workload.name
    if args.limit is not None:
        if args.limit < 1:
            raise ValueError(f"--limit must be at least 1, not {args.limit}")
        x, y, lengths = x[:args.limit], y[:args.limit], lengths[:args.limit]
    return Source(name, FixedPointNetwork(net, config_for(net, x, lengths)), x, y, lengths)
