"""Input files of the golden model (model, data and calibration files): one check, one message."""

from __future__ import annotations

from pathlib import Path

__all__ = ["existing_file", "versioned_json"]


def existing_file(path, what: str) -> Path:
    """``path`` as a Path when it names a file; a ValueError for a directory, FileNotFoundError when
    missing, each naming ``what`` it should have been (e.g. "model file")."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    return path


def versioned_json(path: Path, what: str, fmt: str, version: int, hint: str = "") -> dict:
    """The JSON object of the file ``path``, a ``what`` (e.g. "fuzzymemo calibration file") whose
    ``format`` key is ``fmt`` and ``version`` key ``version``; else a ValueError naming the file and what
    is wrong, ending with ``hint`` (what to do instead)."""
    import json

    tail = f"; {hint}" if hint else ""
    try:
        data = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a {what} (JSON: {e}){tail}") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise ValueError(f"{path} is not a {what}{tail}")
    if data.get("version") != version:
        raise ValueError(f"{path} is a {what} of format version {data.get('version')}, this tool reads version "
                         f"{version}{tail}")
    return data
