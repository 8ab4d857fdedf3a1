"""Cityscapes (docs/model.md §8): leftImg8bit/ photos, gtFine/ labelIds and instanceIds, per city."""

from __future__ import annotations

from pathlib import Path

from .builtin_specs import CITYSCAPES
from .io import DatasetError
from .paired import PairedDataset, Sample, pair_by_key, require_dir
from .transforms import PairTransform

LAYOUT = """  ROOT/leftImg8bit/{train,val}/CITY/CITY_SEQ_FRAME_leftImg8bit.png
  ROOT/gtFine/{train,val}/CITY/CITY_SEQ_FRAME_gtFine_labelIds.png
  ROOT/gtFine/{train,val}/CITY/CITY_SEQ_FRAME_gtFine_instanceIds.png"""


def _key(path: Path) -> str:
    return "_".join(path.name.split("_")[:3])     # city_sequence_frame


class CityscapesDataset(PairedDataset):
    """35 classes (labelIds 0-34) with instance maps; fixed resize to 256x512 by default."""

    def __init__(self, root: str | Path, split: str = "train", train: bool | None = None,
                 size: tuple[int, int] = (256, 512), flip: bool = True,
                 skip_unpaired: bool = False):
        root = require_dir(Path(root), LAYOUT)
        image_dir = require_dir(root / "leftImg8bit" / split, LAYOUT)
        label_dir = require_dir(root / "gtFine" / split, LAYOUT)
        images = {_key(p): p for p in image_dir.glob("*/*_leftImg8bit.png")}
        labels = {_key(p): p for p in label_dir.glob("*/*_gtFine_labelIds.png")}
        instances = {_key(p): p for p in label_dir.glob("*/*_gtFine_instanceIds.png")}
        keys, self.skipped = pair_by_key(images, labels, f"{image_dir} and {label_dir}", skip_unpaired)
        missing = [labels[k].name for k in keys if k not in instances]
        if missing:
            raise DatasetError(f"{label_dir}: {len(missing)} label maps have no "
                               f"*_gtFine_instanceIds.png beside them (e.g. {', '.join(missing[:5])}); "
                               "the Cityscapes model needs instance maps for its edge channel")
        samples = [Sample(k, images[k], labels[k], instances[k]) for k in keys]
        super().__init__(samples, CITYSCAPES, PairTransform(size, None, flip),
                         train=split == "train" if train is None else train)

