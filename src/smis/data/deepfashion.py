"""DeepFashion, the SMIS authors' variant (docs/model.md §8): 8 human-parsing classes, 256x256."""

from __future__ import annotations

from pathlib import Path

from .builtin_specs import DEEPFASHION
from .paired import PairedDataset, Sample, pair_by_key, require_dir
from .transforms import PairTransform

LAYOUT = """  ROOT/{train,test}/NAME.jpg
  ROOT/cihp_{train,test}_mask/NAME.png"""
SPLITS = {"train": "train", "val": "test", "test": "test"}


class DeepFashionDataset(PairedDataset):
    """Resize to 256x256 (images bicubic, labels nearest), random flip in training."""

    def __init__(self, root: str | Path, split: str = "train", train: bool | None = None,
                 size: int = 256, flip: bool = True, skip_unpaired: bool = False):
        if split not in SPLITS:
            raise ValueError(f"DeepFashion split must be one of {sorted(SPLITS)}; got {split!r}")
        root = require_dir(Path(root), LAYOUT)
        image_dir = require_dir(root / SPLITS[split], LAYOUT)
        label_dir = require_dir(root / f"cihp_{SPLITS[split]}_mask", LAYOUT)
        images = {p.stem: p for p in image_dir.glob("*.jpg")}
        labels = {p.stem: p for p in label_dir.glob("*.png")}
        keys, self.skipped = pair_by_key(images, labels, f"{image_dir} and {label_dir}", skip_unpaired)
        samples = [Sample(k, images[k], labels[k]) for k in keys]
        super().__init__(samples, DEEPFASHION, PairTransform(size, None, flip),
                         train=split == "train" if train is None else train)
