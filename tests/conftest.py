"""Fixtures shared by the test modules (helpers in support.py): the bundled workloads loaded once, and a
private user cache so that no test writes into the real ~/.cache/fuzzymemo."""

from __future__ import annotations

import functools

import pytest

from golden_model.calibration import config_for
from golden_model.fixed_model import FixedPointNetwork
from golden_model.workloads import load_workload


@functools.cache
def _workload(name: str):
    w = load_workload(name)
    return FixedPointNetwork(w.network, config_for(w.network, w.x, w.lengths)), w


@pytest.fixture(scope="session")
def workload():
    """``workload(name)`` -> (FixedPointNetwork with the model's stored formats, Workload), loaded once."""
    return _workload


@pytest.fixture(autouse=True)
def _user_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FUZZYMEMO_CACHE", str(tmp_path_factory.getbasetemp() / "fuzzymemo-cache"))
