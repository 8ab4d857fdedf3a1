"""Pretrained weight files: the registry of every file smis uses, their download into the torch hub
cache (`smis-weights status | fetch | verify` on the command line), and reading torch files safely."""

from .files import load_state_dict, safe_load
from .registry import REGISTRY, WeightFile, entry
from .store import MissingWeightsError, cache_dir, check, ensure, weight_file

__all__ = ["REGISTRY", "MissingWeightsError", "WeightFile", "cache_dir", "check", "ensure", "entry",
           "load_state_dict", "safe_load", "weight_file"]
