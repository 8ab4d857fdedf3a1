"""Your own labelled images: photos and label PNGs paired by file stem.

    ROOT/images/NAME.{jpg,png,...}    ROOT/labels/NAME.png    [ROOT/instances/NAME.png]
    ROOT/classes.yaml (or .json)      num_classes, optional names, palette, unknown_index, name

Values given to the dataset override the classes file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import yaml

from .io import DatasetError
from .paired import PairedDataset, Sample, pair_by_key, require_dir
from .spec import DatasetSpec, LabelRule
from .transforms import PairTransform

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
LAYOUT = """  ROOT/IMAGE_DIR/NAME.jpg (or .png ...)
  ROOT/LABEL_DIR/NAME.png        one class id per pixel
  ROOT/classes.yaml              num_classes: N  (optional: names, palette, unknown_index)"""


def read_classes_file(root: Path) -> dict:
    """classes.yaml / classes.yml / classes.json beside the data, or {}."""
    for name in ("classes.yaml", "classes.yml", "classes.json"):
        path = root / name
        if path.is_file():
            try:
                text = path.read_text()
                data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            except (OSError, ValueError, yaml.YAMLError) as e:
                raise DatasetError(f"{path}: cannot be parsed ({e})") from e
            if not isinstance(data, dict):
                raise DatasetError(f"{path}: expected a mapping with num_classes, names, palette")
            return data
    return {}


def folder_spec(num_classes: int | None, names: Sequence[str] | None,
                palette: Sequence[Sequence[int]] | None, unknown_index: int | None, name: str,
                where: str) -> DatasetSpec:
    """The spec of your own data from whatever is known: names default to class_0 ..., the
    palette to the default one; file values are class ids, 255 is unknown where unknown_index
    is set."""
    from ..visualize import default_palette

    if num_classes is None:
        num_classes = len(names) if names else None
    if not num_classes or num_classes < 1:
        raise DatasetError(f"{where}: the number of classes is not given: set num_classes in the "
                           "dataset config or in classes.yaml beside the data")
    names = tuple(names) if names else tuple(f"class_{i}" for i in range(num_classes))
    if len(names) != num_classes:
        raise DatasetError(f"{where}: {len(names)} class names for num_classes={num_classes}")
    if palette is None:
        palette = default_palette(num_classes).tolist()
    palette = tuple(tuple(int(v) for v in rgb) for rgb in palette)
    if len(palette) != num_classes or any(len(rgb) != 3 for rgb in palette):
        raise DatasetError(f"{where}: the palette needs {num_classes} [r, g, b] colours")
    try:
        return DatasetSpec(name, names, palette, LabelRule(unknown_index=unknown_index))
    except ValueError as e:
        raise DatasetError(f"{where}: {e}") from None


class ImageFolderDataset(PairedDataset):
    """Pairs ROOT/image_dir/NAME.* with ROOT/label_dir/NAME.png (and instance_dir if given)."""

    def __init__(self, root: str | Path, image_dir: str = "images", label_dir: str = "labels",
                 instance_dir: str | None = None, num_classes: int | None = None,
                 class_names: Sequence[str] | None = None, palette=None,
                 unknown_index: int | None = None, train: bool = True,
                 resize: int | Sequence[int] | None = None, crop: int | Sequence[int] | None = None,
                 flip: bool = True, skip_unpaired: bool = False):
        root = require_dir(Path(root), LAYOUT)
        meta = read_classes_file(root)
        if unknown_index is None:
            unknown_index = meta.get("unknown_index")
        spec = folder_spec(num_classes or meta.get("num_classes"), class_names or meta.get("names"),
                           palette or meta.get("palette"), unknown_index, meta.get("name", root.name),
                           str(root))
        images_path = require_dir(root / image_dir, LAYOUT)
        labels_path = require_dir(root / label_dir, LAYOUT)
        images = {p.stem: p for p in images_path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        labels = {p.stem: p for p in labels_path.glob("*.png")}
        keys, self.skipped = pair_by_key(images, labels, f"{images_path} and {labels_path}",
                                         skip_unpaired)
        instances = {}
        if instance_dir is not None:
            inst_path = require_dir(root / instance_dir, LAYOUT)
            instances = {p.stem: p for p in inst_path.glob("*.png")}
            missing = [k for k in keys if k not in instances]
            if missing:
                raise DatasetError(f"{inst_path}: no instance map for {len(missing)} images "
                                   f"(e.g. {', '.join(missing[:5])})")
        samples = [Sample(k, images[k], labels[k], instances.get(k)) for k in keys]
        super().__init__(samples, spec, PairTransform(resize, crop, flip), train=train)
