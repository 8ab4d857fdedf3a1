"""Command-line entry points: each command a short `main` over the library (smis-weights, smis-pack;
the others are listed in pyproject.toml's [project.scripts])."""

from __future__ import annotations

import os
import sys


def prog(module: str) -> str:
    """The command's name as it was called, for usage lines: the console script's name
    (smis-generate), or `python -m MODULE` when run as a module."""
    called = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return called if called and not called.endswith(".py") and called != "-c" else f"python -m {module}"
