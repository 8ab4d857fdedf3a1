"""Command-line entry points: every command's `main`, a short function over the library, and each
one a console script of pyproject.toml's [project.scripts] (smis-train, smis-evaluate,
smis-generate, smis-studio, smis-demo, smis-convert, smis-examples, smis-weights, smis-pack,
smis-export, smis-fit-prior). The `python -m smis.NAME` modules (smis/train.py, smis/generate.py,
...) only call these. argparse commands print one `error: ...` line and exit 2 for bad input;
train and evaluate are Hydra apps (smis/configs/)."""

from __future__ import annotations

import os
import sys


def prog(module: str) -> str:
    """The command's name as it was called, for usage lines: the console script's name
    (smis-generate), or `python -m MODULE` when run as a module."""
    called = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return called if called and not called.endswith(".py") and called != "-c" else f"python -m {module}"
