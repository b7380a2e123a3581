"""The user cache of simulation builds (sim/cache.py) and ``fuzzymemo cache``."""

import fcntl
import os

import pytest

from fuzzymemo.cli import main
from sim import cache


def _build(root, name, sim, size, when):
    d = root / name / sim
    d.mkdir(parents=True)
    (d / "sim.vvp").write_bytes(b"x" * size)
    (d / ".lock").write_text("")
    for f in (d / "sim.vvp", d / ".lock", d):
        os.utime(f, (when, when))
    return d


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("FUZZYMEMO_SIM_BUILD", str(tmp_path / "builds"))
    return tmp_path / "builds"


def test_location(monkeypatch, tmp_path):
    monkeypatch.delenv("FUZZYMEMO_SIM_BUILD", raising=False)
    monkeypatch.setenv("FUZZYMEMO_CACHE", str(tmp_path / "c"))
    assert cache.sim_build_root() == tmp_path / "c" / "sim_build"
    monkeypatch.delenv("FUZZYMEMO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.user_cache() == tmp_path / "xdg" / "fuzzymemo"


def test_entries_and_trim_least_recently_used_first(root):
    old = _build(root, "tile_a-1", "icarus", 3000, 1_000_000)
    mid = _build(root, "tile_a-1", "verilator", 2000, 2_000_000)
    new = _build(root, "tile_b-2", "icarus", 1000, 3_000_000)
    listing = cache.entries(root)
    assert [e.path for e in listing] == [old, mid, new] and [e.bytes for e in listing] == [3000, 2000, 1000]
    removed, busy = cache.trim(2500, root)
    assert [e.path for e in removed] == [old, mid] and not busy    # 6000 -> 3000 -> 1000 bytes
    assert not old.exists() and not mid.exists() and new.exists()
    assert not (root / "tile_a-1").exists()                          # an emptied design folder goes too


def test_a_build_in_use_is_kept(root):
    busy = _build(root, "tile_a-1", "icarus", 100, 1_000_000)
    idle = _build(root, "tile_b-1", "icarus", 100, 2_000_000)
    with open(busy / ".lock") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        removed, kept = cache.trim(0, root)
    assert [e.path for e in removed] == [idle] and [e.path for e in kept] == [busy] and busy.exists()


@pytest.mark.parametrize("text, value", [("0", 0), ("1024", 1024), ("2K", 2048), ("1.5M", 3 << 19), ("2GB", 2 << 30)])
def test_parse_size(text, value):
    assert cache.parse_size(text) == value


def test_cli(root, capsys):
    _build(root, "tile_a-1", "icarus", 2048, 1_000_000)
    _build(root, "tile_b-1", "verilator", 1024, 2_000_000)
    assert main(["cache", "--list"]) == 0
    out = capsys.readouterr().out
    assert "2 builds, 3.0 KiB" in out and "tile_a-1/icarus" in out
    assert main(["cache", "--max-size", "1K"]) == 0
    assert "removed 1 builds (2.0 KiB)" in capsys.readouterr().out
    assert main(["cache", "--clean"]) == 0
    assert "0 builds" in capsys.readouterr().out
    assert main(["cache", "--max-size", "lots"]) == 2
    assert "--max-size: a size is a number" in capsys.readouterr().err
