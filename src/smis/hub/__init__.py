"""Models: one loader for a shipped model's name, an smis model file, a training checkpoint or the
authors' files (loader.py); the model file format (model_files.py); the authors' checkpoints
(official.py); the models shipped in the package (shipped.py) and packing them (pack.py)."""

from .loader import describe_model, load_model, load_pretrained, resolve_model
from .model_files import save_model
from .official import load_official

__all__ = ["describe_model", "load_model", "load_official", "load_pretrained", "resolve_model", "save_model"]
