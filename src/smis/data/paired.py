"""The Dataset behind every file-based layout: a list of (image, label[, instance]) files,
the dataset's spec (classes and label-file rule, docs/model.md §2), and preprocessing."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .io import DatasetError, image_size, read_ids, read_rgb
from .sampling import split_key
from .spec import DatasetSpec
from .transforms import PairTransform


@dataclass(frozen=True)
class Sample:
    name: str
    image: Path
    label: Path
    instance: Path | None = None


class PairedDataset(Dataset):
    """Yields dict(image (3,H,W) float in [-1,1], label (1,H,W) int64, [instance (1,H,W) int64],
    name). `spec` says what the classes are and how label-file values become class ids."""

    def __init__(self, samples: Sequence[Sample], spec: DatasetSpec, transform: PairTransform,
                 train: bool):
        if not samples:
            raise DatasetError("no samples")
        self.samples, self.spec, self.transform, self.train = list(samples), spec, transform, train

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def __len__(self) -> int:
        return len(self.samples)

    def subset(self, indices: Sequence[int], train: bool) -> PairedDataset:
        """The same dataset restricted to some samples (e.g. a held-out validation part)."""
        other = copy.copy(self)
        other.samples, other.train = [self.samples[i] for i in indices], train
        return other

    def read(self, s: Sample) -> tuple[Image.Image, list[Image.Image]]:
        """A sample's image and maps (label[, instance]), checked to be of one size."""
        image, label = read_rgb(s.image), read_ids(s.label)
        maps = [label] + ([read_ids(s.instance, "instance map")] if s.instance else [])
        for path, m in zip([s.label, s.instance], maps):
            if m.size != image.size:
                raise DatasetError(f"{path} is {m.width}x{m.height} but its image {s.image} is "
                                   f"{image.width}x{image.height}")
        return image, maps

    def size_change(self) -> str | None:
        """What the transform does to the size of the images, judged by the first file (None when
        it keeps it): said once when the data is set up, so an upscale is never silent."""
        first = self.samples[0].image
        try:
            width, height = image_size(first)
        except OSError:
            return None                                  # an unreadable file is reported where it is read
        t = self.transform
        size = t.resize if self.train else (t.crop or t.resize)
        steps = []
        if size is not None and size != (height, width):
            scaled = "upscaled" if size[0] * size[1] > height * width else "downscaled"
            steps.append(f"resized to {size[1]}x{size[0]} ({scaled})")
        if self.train and t.crop is not None:
            steps.append(f"randomly cropped to {t.crop[1]}x{t.crop[0]}")
        if not steps:
            return None
        split = "training" if self.train else "validation"
        return (f"{split} images are {width}x{height} (the first: {first.name}); they are "
                f"{' and '.join(steps)}")

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """key: an index, or (index, augmentation seed) as EpochSampler yields (see split_key)."""
        index, generator = split_key(key)
        s = self.samples[index]
        try:
            image, maps = self.read(s)
            img, ids = self.transform(image, maps, self.train, generator)
            item = {"image": img, "label": self.spec.to_class_ids(ids[0], s.label), "name": s.name}
        except DatasetError as e:          # found partway through an epoch: say how to find them all first
            raise DatasetError(f"{e}. To check every file before training: dataset.validate=true") from None
        if s.instance:
            item["instance"] = ids[1]
        return item

    def check_files(self, same_size: bool = False) -> None:
        """Read every file and check it (readable, image and maps of one size, label values that
        have a class; with same_size, every image of the size of the first when the transform does
        not resize): a DatasetError listing the problems, with a progress bar meanwhile."""
        from rich.progress import track

        problems, first = [], None
        same_size = same_size and self.transform.resize is None and self.transform.crop is None
        for s in track(self.samples, description=f"checking {len(self.samples)} samples", transient=True):
            try:
                image, maps = self.read(s)
                self.spec.to_class_ids(torch.from_numpy(np.asarray(maps[0]).astype(np.int64)), s.label)
                first = first or (s.image, image.size)
                if same_size and image.size != first[1]:
                    raise DatasetError(f"{s.image} is {image.width}x{image.height} but {first[0]} is "
                                       f"{first[1][0]}x{first[1][1]}: with resize=null the images of a "
                                       "batch need one size (set dataset.resize=[H,W] or batch_size=1)")
            except DatasetError as e:
                problems.append(str(e))
        if problems:
            shown = "\n  ".join(problems[:20]) + ("\n  ..." if len(problems) > 20 else "")
            raise DatasetError(f"dataset.validate: {len(problems)} of {len(self.samples)} samples have "
                               f"problems:\n  {shown}")


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
