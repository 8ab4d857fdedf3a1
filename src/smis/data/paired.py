"""The Dataset behind every file-based layout: a list of (image, label[, instance]) files,
the label conventions of SPEC §2 as parameters, and preprocessing."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .classes import ClassInfo
from .io import DatasetError, read_ids, read_image
from .sampling import split_key
from .transforms import PairTransform

UNKNOWN_FILE_VALUE = 255   # SPADE convention: 255 in a label file means "unknown"


@dataclass(frozen=True)
class Sample:
    name: str
    image: Path
    label: Path
    instance: Path | None = None


class PairedDataset(Dataset):
    """Yields dict(image (3,H,W) float in [-1,1], label (1,H,W) int64, [instance (1,H,W) int64],
    name).

    num_classes: ids must lie in [0, num_classes).
    label_shift: added to file values (ADE20K: -1, so its 0 "unlabelled" becomes -1 = unknown).
    unknown_index: where file value 255 (and a shifted value below 0) goes; None makes them errors.
    num_labelled: ids a file may name directly (default num_classes; ADE20K: 150, because its
      last class is the unknown slot that only 0 and 255 reach).
    """

    def __init__(self, samples: Sequence[Sample], classes: ClassInfo, transform: PairTransform,
                 train: bool, label_shift: int = 0, unknown_index: int | None = None,
                 num_labelled: int | None = None):
        if not samples:
            raise DatasetError("no samples")
        if unknown_index is not None and not 0 <= unknown_index < classes.num_classes:
            raise ValueError(f"unknown_index {unknown_index} is outside [0, {classes.num_classes})")
        self.samples, self.classes, self.transform = list(samples), classes, transform
        self.train, self.label_shift, self.unknown_index = train, label_shift, unknown_index
        self.num_labelled = classes.num_classes if num_labelled is None else num_labelled

    @property
    def num_classes(self) -> int:
        return self.classes.num_classes

    def __len__(self) -> int:
        return len(self.samples)

    def subset(self, indices: Sequence[int], train: bool) -> PairedDataset:
        """The same dataset restricted to some samples (e.g. a held-out validation part)."""
        other = copy.copy(self)
        other.samples, other.train = [self.samples[i] for i in indices], train
        return other

    def to_class_ids(self, raw: torch.Tensor, path: Path) -> torch.Tensor:
        """File values -> class ids, with a clear error for a value with no class."""
        ids = raw + self.label_shift
        unknown = (raw == UNKNOWN_FILE_VALUE) | (ids < 0)
        bad = ~unknown & (ids >= self.num_labelled)
        if self.unknown_index is not None:
            ids = torch.where(unknown, self.unknown_index, ids)
        else:
            bad |= unknown
        if bad.any():
            value = int(raw[bad][0])
            raise DatasetError(f"{path}: label value {value} has no class (expected file values "
                               f"giving ids in [0, {self.num_labelled - 1}]"
                               + (f", or {UNKNOWN_FILE_VALUE} for unknown" if self.unknown_index is not None
                                  else "") + ")")
        return ids

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """key: an index, or (index, augmentation seed) as EpochSampler yields (see split_key)."""
        index, generator = split_key(key)
        s = self.samples[index]
        image, label = read_image(s.image), read_ids(s.label)
        maps = [label] + ([read_ids(s.instance, "instance map")] if s.instance else [])
        for path, m in zip([s.label, s.instance], maps):
            if m.size != image.size:
                raise DatasetError(f"{path} is {m.width}x{m.height} but its image {s.image} is "
                                   f"{image.width}x{image.height}")
        img, ids = self.transform(image, maps, self.train, generator)
        item = {"image": img, "label": self.to_class_ids(ids[0], s.label), "name": s.name}
        if s.instance:
            item["instance"] = ids[1]
        return item


def pair_by_key(images: dict[str, Path], labels: dict[str, Path], where: str,
                skip_unpaired: bool = False) -> tuple[list[str], int]:
    """Keys present in both; unmatched files are an error (listing a few) unless skipped.
    -> (sorted keys, number skipped)."""
    only_images = sorted(set(images) - set(labels))
    only_labels = sorted(set(labels) - set(images))
    if (only_images or only_labels) and not skip_unpaired:
        parts = []
        for what, keys, files in [("images without labels", only_images, images),
                                  ("labels without images", only_labels, labels)]:
            if keys:
                shown = ", ".join(files[k].name for k in keys[:5])
                parts.append(f"{len(keys)} {what} (e.g. {shown})")
        raise DatasetError(f"{where}: " + "; ".join(parts) + ". Fix the files, or set "
                           "skip_unpaired=true to leave them out (they are counted and reported)")
    keys = sorted(set(images) & set(labels))
    if not keys:
        raise DatasetError(f"{where}: no image/label pairs found")
    return keys, len(only_images) + len(only_labels)


def require_dir(path: Path, layout: str) -> Path:
    """A folder that must exist; the error shows the expected layout."""
    if not path.is_dir():
        raise DatasetError(f"folder not found: {path}\nExpected layout:\n{layout}")
    return path
