"""The studio's built-in examples: held-out synthetic scenes, their classes mapped onto the model's
(by name, then by an alias, then by id), so every model has layouts and reference photos to start
from."""

from __future__ import annotations

import torch
from PIL import Image

from ..data.builtin_specs import SYNTHETIC
from ..data.synthetic import SyntheticScenes
from ..visualize import to_pil

# a synthetic-scene class -> model class names that may stand in for it (examples on other datasets)
ALIASES = {
    "sky": ("sky",),
    "grass": ("grass", "terrain", "field", "ground"),
    "road": ("road", "street", "ground"),
    "building": ("building", "house", "wall"),
    "tree": ("tree", "vegetation", "plant"),
    "car": ("car", "vehicle", "truck"),
    "water": ("water", "sea", "river", "lake", "terrain", "ground"),
    "rock": ("rock", "mountain", "stone", "terrain", "ground"),
}


def synthetic_to_model_classes(names: tuple[str, ...]) -> list[int]:
    """Synthetic-scene class id -> the model's class id (by name, then aliases, then id)."""
    lower = [n.lower() for n in names]
    out = []
    for c, name in enumerate(SYNTHETIC.names):
        target = next((lower.index(a) for a in ALIASES.get(name, (name,)) if a in lower), None)
        out.append(target if target is not None else c % len(names))
    return out


class ExampleScenes:
    """count scenes of `size` (never seen in training), made on first use: (label (1,1,H,W) in the
    model's class ids, photo)."""

    def __init__(self, names: tuple[str, ...], size: tuple[int, int], count: int, seed: int = 0):
        self.lookup = torch.tensor(synthetic_to_model_classes(names))
        self.size, self.count, self.seed = size, count, seed
        self._scenes: list[tuple[torch.Tensor, Image.Image]] | None = None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Image.Image]:
        if self._scenes is None:
            from ..data.datamodules import VAL_OFFSET  # (imports Lightning: only when asked for)

            scenes = SyntheticScenes(self.count, self.size, seed=self.seed, train=False,
                                     first_index=VAL_OFFSET + 100)
            self._scenes = []
            for i in range(self.count):
                image, label = scenes.scene(i)
                self._scenes.append((self.lookup[label][None], to_pil(image)))
        return self._scenes[index]
