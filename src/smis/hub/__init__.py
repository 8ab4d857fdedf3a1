"""Pretrained files: the registry of every weight file smis uses and their download into the torch
hub cache (`smis-weights status | fetch | verify` on the command line)."""

from .registry import REGISTRY, WeightFile, entry
from .weights import MissingWeightsError, cache_dir, check, ensure, load_state_dict, weight_file

__all__ = ["REGISTRY", "MissingWeightsError", "WeightFile", "cache_dir", "check", "ensure", "entry",
           "load_state_dict", "weight_file"]
