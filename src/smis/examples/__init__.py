"""Example label maps and photos, shipped with the package so every snippet of the docs runs as
written: four held-out scenes of the built-in synthetic data (the shipped model never saw them).

    smis.examples.label("street")     # Path of its label map (a PNG in the synthetic palette's colours)
    smis.examples.photo("street")     # Path of the matching photo
    smis-examples examples/                           # copy them into examples/labels and examples/photos
    smis-examples data/ --scenes 200                  # or write 200 training scenes as an image folder

Scenes: street (road, buildings, a car), lake (a pond, no road), hills (rocks and water), town (every class).
"""

from __future__ import annotations

import shutil
from pathlib import Path

FOLDER = Path(__file__).parent
# name -> the scene's index among the held-out scenes (SyntheticScenes from VAL_OFFSET + FIRST)
SCENES = {"street": 6, "lake": 5, "hills": 13, "town": 4}
FIRST = 1000
SIZE = 128


def _path(kind: str, name: str) -> Path:
    if name not in SCENES:
        raise ValueError(f"no example named {name!r}; examples: {', '.join(SCENES)}")
    return FOLDER / kind / f"{name}.png"


def label(name: str) -> Path:
    """The label map of example `name` (class colours of the synthetic palette)."""
    return _path("labels", name)


def photo(name: str) -> Path:
    """The photo of example `name`."""
    return _path("photos", name)


def names() -> list[str]:
    return list(SCENES)


def copy_to(dest: str | Path) -> list[Path]:
    """Copy the examples into dest/labels/ and dest/photos/. -> the files written."""
    written = []
    for kind in ("labels", "photos"):
        (Path(dest) / kind).mkdir(parents=True, exist_ok=True)
        for name in SCENES:
            written.append(Path(shutil.copyfile(_path(kind, name), Path(dest) / kind / f"{name}.png")))
    return written


def render(dest: str | Path) -> list[Path]:
    """Make the example files from the synthetic scenes (how the shipped ones were made)."""
    import torch
    from PIL import Image

    from ..data import SYNTHETIC, SyntheticScenes
    from ..data.datamodules import VAL_OFFSET
    from ..visualize import to_pil

    scenes = SyntheticScenes(max(SCENES.values()) + 1, SIZE, seed=0, train=False,
                             first_index=VAL_OFFSET + FIRST)
    palette = torch.tensor(SYNTHETIC.palette, dtype=torch.uint8)
    written = []
    for name, index in SCENES.items():
        image, label_ids = scenes.scene(index)
        for kind, picture in (("labels", Image.fromarray(palette[label_ids[0]].numpy())),
                              ("photos", to_pil(image))):
            path = Path(dest) / kind / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            picture.save(path, optimize=True)
            written.append(path)
    return written
