"""Reading torch files safely: `torch.load(..., weights_only=True)` (plain tensors and containers, no
code), with an error that names the file and what it was meant to be. Every torch file smis opens
goes through `safe_load`."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def safe_load(path: str | os.PathLike, what: str = "a torch file", map_location="cpu", mmap: bool = False):
    """torch.load(path, weights_only=True); a file that cannot be read is a ValueError naming it and
    `what` it should have been (e.g. "a torch checkpoint")."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:
        raise ValueError(f"{path}: cannot be read as {what}: damaged or cut short (an interrupted copy "
                         f"or download?), or not {what} ({e})") from e


def load_state_dict(path: str | os.PathLike, what: str) -> dict:
    """A weight file's state_dict (safe_load), unwrapping a {'state_dict': ...} container."""
    state = safe_load(path, f"the {what} weight file")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{what}: {Path(path)} holds a {type(state).__name__}, expected a state_dict")
    return state
