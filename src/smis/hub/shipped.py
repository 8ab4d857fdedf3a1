"""Models shipped inside the package: their names and files. A name stands for the packaged file
wherever a model is taken (smis.hub.load_model), unless a file or folder of that name exists where
you run (then the file wins). How each was trained: docs/shipped-model.md."""

from __future__ import annotations

from pathlib import Path

SHIPPED_DIR = Path(__file__).parent / "models"     # the files, inside the package

# name -> file in SHIPPED_DIR
SHIPPED = {
    # the `small` preset with fixed32 norms on the built-in synthetic scenes, 128x128
    # (configs/experiment/pretrained_synthetic.yaml and its three follow-up stages)
    "synthetic": "synthetic.pt",
}


def shipped_path(name: str) -> Path:
    """The packaged file of model `name`, with a clear error for an unknown name or a missing file."""
    if name not in SHIPPED:
        raise ValueError(f"no shipped model named {name!r}; shipped: {', '.join(sorted(SHIPPED))}")
    path = SHIPPED_DIR / SHIPPED[name]
    if not path.is_file():
        raise FileNotFoundError(f"the shipped model {name!r} should be at {path}, which is missing: "
                                "reinstall smis, or train it with `python -m smis.train "
                                "experiment=pretrained_synthetic`")
    return path
