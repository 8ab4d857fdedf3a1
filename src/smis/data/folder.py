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


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_list(v) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, str)


def _is_colour(rgb) -> bool:
    return _is_list(rgb) and len(rgb) == 3 and all(_is_int(v) and 0 <= v <= 255 for v in rgb)


# a key of classes.yaml (or dataset option): what its value must be, and the test
CLASS_KEYS = {
    "num_classes": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "names": ("a list of class names, e.g. [ground, wall, sky]", _is_list),
    "class_names": ("a list of class names, e.g. [ground, wall, sky]", _is_list),
    "palette": ("a list of [r, g, b] colours", _is_list),
    "unknown_index": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
}


def check_class_values(values: dict, where: str) -> None:
    """The class keys of `values` (classes.yaml or dataset options) have usable values, else a
    DatasetError naming `where`, the key, the value and what was expected."""
    for key, value in values.items():
        if key in CLASS_KEYS and value is not None:
            expected, valid = CLASS_KEYS[key]
            if not valid(value):
                raise DatasetError(f"{where}: {key} must be {expected}; got {value!r}")
    for i, rgb in enumerate(values.get("palette") or ()):
        if not _is_colour(rgb):
            raise DatasetError(f"{where}: palette entry {i} is {rgb!r}; expected [r, g, b] integers "
                               "in 0..255")


def files_by_stem(folder: Path, suffixes: set[str]) -> dict[str, Path]:
    """NAME -> the file NAME.SUFFIX of `folder` with one of `suffixes` (any letter case); two
    files of one NAME (img_00.png and img_00.jpg) are an error listing them."""
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in suffixes:
            found.setdefault(p.stem, []).append(p)
    ambiguous = [files for files in found.values() if len(files) > 1]
    if ambiguous:
        shown = "; ".join(" and ".join(p.name for p in files) for files in ambiguous[:5])
        raise DatasetError(f"{folder}: {len(ambiguous)} names have several files and it is unclear which to "
                           f"use ({shown}); keep one file per name")
    return {stem: files[0] for stem, files in found.items()}


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
            check_class_values(data, str(path))
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
    if not num_classes:
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
        check_class_values({"num_classes": num_classes, "class_names": class_names, "palette": palette,
                            "unknown_index": unknown_index}, f"{root} (dataset options)")
        meta = read_classes_file(root)
        if unknown_index is None:
            unknown_index = meta.get("unknown_index")
        spec = folder_spec(num_classes or meta.get("num_classes"), class_names or meta.get("names"),
                           palette or meta.get("palette"), unknown_index, meta.get("name", root.name),
                           str(root))
        images_path = require_dir(root / image_dir, LAYOUT)
        labels_path = require_dir(root / label_dir, LAYOUT)
        images = files_by_stem(images_path, IMAGE_SUFFIXES)
        labels = files_by_stem(labels_path, {".png"})
        keys, self.skipped = pair_by_key(images, labels, f"{images_path} and {labels_path}",
                                         skip_unpaired)
        instances = {}
        if instance_dir is not None:
            inst_path = require_dir(root / instance_dir, LAYOUT)
            instances = files_by_stem(inst_path, {".png"})
            missing = [k for k in keys if k not in instances]
            if missing:
                raise DatasetError(f"{inst_path}: no instance map for {len(missing)} images "
                                   f"(e.g. {', '.join(missing[:5])})")
        samples = [Sample(k, images[k], labels[k], instances.get(k)) for k in keys]
        super().__init__(samples, spec, PairTransform(resize, crop, flip), train=train)
