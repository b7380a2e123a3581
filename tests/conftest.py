"""Fixtures shared by the test modules (helpers in support.py): the bundled workloads loaded once, and a
private user cache (``FUZZYMEMO_CACHE``) for every command a test runs. Simulations built in the test
process itself go to ``sim.runner.SIM_BUILD``, fixed when that module is imported: the real user cache,
shared with later runs (builds are keyed by configuration, so a design is built once per machine)."""

from __future__ import annotations

import functools
import os

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
    # Under pytest-xdist each worker has its own base folder (<run>/popen-gwN); the cache sits in the run's
    # folder so that the workers share it: builds are keyed by configuration and locked (sim.cache), so a
    # design two workers need is built once.
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    monkeypatch.setenv("FUZZYMEMO_CACHE", str(root / "fuzzymemo-cache"))
