"""ADE20K SceneParsing (ADEChallengeData2016, docs/model.md §8): 150 classes + unknown."""

from __future__ import annotations

from pathlib import Path

from .builtin_specs import ADE20K
from .paired import PairedDataset, Sample, pair_by_key, require_dir
from .transforms import PairTransform

LAYOUT = """  ROOT/images/{training,validation}/ADE_{train,val}_XXXXXXXX.jpg
  ROOT/annotations/{training,validation}/ADE_{train,val}_XXXXXXXX.png"""
SPLITS = {"train": "training", "val": "validation", "training": "training",
          "validation": "validation"}


class ADE20KDataset(PairedDataset):
    """File value v -> class v-1; 0 ("unlabelled") and 255 -> unknown = 150 (the spec's rule).
    Training: resize to 286, random crop 256, flip; evaluation: resize to 256."""

    def __init__(self, root: str | Path, split: str = "train", train: bool | None = None,
                 load_size: int = 286, crop_size: int = 256, flip: bool = True,
                 skip_unpaired: bool = False):
        if split not in SPLITS:
            raise ValueError(f"ADE20K split must be one of {sorted(SPLITS)}; got {split!r}")
        root = require_dir(Path(root), LAYOUT)
        image_dir = require_dir(root / "images" / SPLITS[split], LAYOUT)
        label_dir = require_dir(root / "annotations" / SPLITS[split], LAYOUT)
        images = {p.stem: p for p in image_dir.glob("*.jpg")}
        labels = {p.stem: p for p in label_dir.glob("*.png")}
        keys, self.skipped = pair_by_key(images, labels, f"{image_dir} and {label_dir}", skip_unpaired)
        samples = [Sample(k, images[k], labels[k]) for k in keys]
        super().__init__(samples, ADE20K, PairTransform(load_size, crop_size, flip),
                         train=SPLITS[split] == "training" if train is None else train)
