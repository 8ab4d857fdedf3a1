"""Pretrained weight files for the metrics: found at a given path or in the torch hub cache,
never downloaded; a missing file is an error that says what to put where."""

from __future__ import annotations

import os
from pathlib import Path

import torch


class MissingWeightsError(FileNotFoundError):
    """A metric's pretrained weight file is not where it was looked for."""


def hub_cache_file(filename: str) -> Path:
    """Where torch.hub / torchvision cache a download: $TORCH_HOME/hub/checkpoints/FILENAME."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def resolve_weights(path: str | os.PathLike | None, filename: str, what: str, source: str) -> Path:
    """`path` if given, else the hub cache's copy of `filename`; the error names the file, where
    it was expected, and where the original is published."""
    candidate = Path(path) if path is not None else hub_cache_file(filename)
    if not candidate.is_file():
        raise MissingWeightsError(
            f"{what}: weight file not found at {candidate}. Expected {filename} "
            f"({'the given path' if path is not None else 'torch hub cache'}); the original is "
            f"published at {source}. Download it on a machine with network access and copy it "
            f"there, or pass its path.")
    return candidate


def load_state_dict(path: Path, what: str) -> dict:
    """torch.load with weights_only=True, unwrapping a {'state_dict': ...} container."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{what}: {path} cannot be read as a torch weight file ({e})") from e
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{what}: {path} holds a {type(state).__name__}, expected a state_dict")
    return state
