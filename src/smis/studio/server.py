"""A studio for one model, ready to serve: the model loaded through smis.Synthesizer, the session
table with its limits, and the FastAPI app (smis-studio's main, smis/cli/studio.py, serves it)."""

from __future__ import annotations

from ..hub import describe_model
from ..inputs import MAX_PIXELS
from ..synthesizer import Synthesizer


class ModelError(Exception):
    """The model cannot be loaded or the studio's packages are missing."""


def load_synthesizer(model: str | None, device: str = "auto", dataset: str | None = None,
                     prior: str = "auto", max_pixels: int = MAX_PIXELS):
    """-> (Synthesizer, a description for the page). model: None (the shipped synthetic model), a
    shipped model's name, a model file, or the authors' folder (with dataset); prior: where new
    looks come from; max_pixels: the largest image it takes (smis.Synthesizer)."""
    model = model or "synthetic"
    try:
        synth = Synthesizer.load(model, device=device, dataset=dataset, prior=prior,
                                 max_pixels=max_pixels)
    except FileNotFoundError as e:
        raise ModelError(str(e)) from None
    return synth, describe_model(model)


def build(model: str | None = None, dataset: str | None = None, device: str = "auto", prior: str = "auto",
          size: tuple[int, int] | None = None, host: str = "127.0.0.1", max_sessions: int = 32,
          max_upload_mb: float = 8.0, max_pixels: int = MAX_PIXELS, threads: int | None = None):
    """-> (Studio, FastAPI app) for one model (the options of `smis-studio`, which calls this, as
    does the screenshot command): model and dataset as for load_synthesizer; size: the label-map
    size (None: the model's); host: the address it will be served at (the app then accepts only
    that Host); max_sessions, max_upload_mb, max_pixels: the server's limits; threads: CPU threads
    for the model (None: PyTorch's)."""
    try:
        import uvicorn  # noqa: F401

        from .app import LOCAL_HOSTS, create_app
    except ImportError as e:
        raise ModelError(f"the studio needs FastAPI and uvicorn ({e.name} is missing): "
                         'pip install "groupdnet[studio]"') from None
    from .session import Studio
    from .uploads import Limits

    if threads:
        import torch

        torch.set_num_threads(threads)
    synth, description = load_synthesizer(model, device, dataset, prior, max_pixels)
    limits = Limits(max_bytes=int(max_upload_mb * 2**20), max_pixels=max_pixels, max_sessions=max_sessions)
    studio = Studio(synth, size=tuple(size) if size else None, limits=limits, description=description)
    hosts = LOCAL_HOSTS if host in LOCAL_HOSTS else None
    return studio, create_app(studio, allowed_hosts=hosts)
