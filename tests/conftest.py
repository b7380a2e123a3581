"""Fixtures shared by the test modules (helpers in support.py): the bundled workloads loaded once, and a
private user cache (``FUZZYMEMO_CACHE``) for every command a test runs. Simulations built in the test
process itself go to ``sim.runner.SIM_BUILD``, fixed when that module is imported: the real user cache,
shared with later runs (builds are keyed by configuration, so a design is built once per machine).

Verilator models of the tests are compiled at -O1 (``FUZZYMEMO_VERILATOR_OPT``, in their own build folders):
half the compile time of the default -O2, and the tests' runs are short.

``--full`` (``bash scripts/test.sh --full``) runs every test. The default run, what CI runs, leaves out the
tests marked ``slow`` (the long soaks, the deepest formal runs) and runs each case parametrized over both
simulators on one of them, alternating (every module still meets both)."""

from __future__ import annotations

import functools
import os

import pytest

from golden_model.calibration import config_for
from golden_model.fixed_model import FixedPointNetwork
from golden_model.workloads import load_workload
from sim.runner import OPT_ENV, SIMULATORS

os.environ.setdefault(OPT_ENV, "-O1")   # read at each build; the workers and commands inherit it


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="every test: also those marked slow and each case's second simulator (CI runs the rest)")


def _second_simulator(items) -> set:
    """The items that repeat a test case on its second simulator: a case parametrized over both (a ``sim``
    parameter) runs on one of them in the default run, alternating case by case through each module so
    that every module's cases meet both simulators."""
    cases: dict = {}
    for item in items:
        spec = getattr(item, "callspec", None)
        if spec is not None and spec.params.get("sim") in SIMULATORS:
            variant = tuple(part for part in spec.id.split("-") if part != spec.params["sim"])
            cases.setdefault((item.module.__name__, item.originalname, variant), []).append(item)
    repeats, turn = set(), {}
    for (module, _, _), runs in cases.items():
        if len(runs) > 1:
            first = SIMULATORS[turn.get(module, 0) % len(SIMULATORS)]
            turn[module] = turn.get(module, 0) + 1
            repeats |= {item for item in runs if item.callspec.params["sim"] != first}
    return repeats


def pytest_collection_modifyitems(config, items):
    if config.getoption("--full"):
        return
    left_out = _second_simulator(items) | {item for item in items if item.get_closest_marker("slow")}
    if left_out:
        config.hook.pytest_deselected(items=[item for item in items if item in left_out])
        items[:] = [item for item in items if item not in left_out]


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
