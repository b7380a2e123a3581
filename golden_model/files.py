"""Input files of the golden model (model, data and calibration files): one check, one message."""

from __future__ import annotations

from pathlib import Path

__all__ = ["existing_file"]


def existing_file(path, what: str) -> Path:
    """``path`` as a Path when it names a file; a ValueError for a directory, FileNotFoundError when
    missing, each naming ``what`` it should have been (e.g. "model file")."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    return path
