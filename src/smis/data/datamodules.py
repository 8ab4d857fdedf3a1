"""LightningDataModules: the loader settings every dataset shares (workers, pinned memory,
persistent workers, a seed per worker), one module for every file layout (the Dataset class is
a config value), one for your own image folders and one for the synthetic scenes."""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader, Dataset, default_collate

from .folder import ImageFolderDataset
from .io import DatasetError
from .sampling import EpochSampler
from .spec import DatasetSpec
from .synthetic import SyntheticScenes

VAL_OFFSET = 10**9   # synthetic validation scenes: indices 1e9, 1e9 + 1, ...
MAX_AUTO_WORKERS = 4


def auto_workers() -> int:
    """Loader processes for num_workers=auto: one per core this process may use, less one for the
    training process itself, at most MAX_AUTO_WORKERS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(MAX_AUTO_WORKERS, cores - 1))


def seed_worker(worker_id: int) -> None:
    """Seed Python's and NumPy's generators from the worker's torch seed (which the DataLoader
    derives from its generator), so augmentation is reproducible with any library."""
    import random

    import numpy as np

    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def collate(batch: list[dict]) -> dict:
    """default_collate, with an error naming the items when the images of a batch differ in size."""
    sizes = {tuple(item["image"].shape) for item in batch}
    if len(sizes) > 1:
        shown = ", ".join(f"{item.get('name')} {tuple(item['image'].shape[1:])}" for item in batch)
        raise DatasetError(f"the images of a batch differ in size ({shown}): set dataset.resize=[H,W] "
                           "(resize=null keeps each file's size) or batch_size=1; dataset.validate=true "
                           "lists every file whose size differs")
    return default_collate(batch)


class SceneDataModule(pl.LightningDataModule):
    """Loader settings shared by every dataset. Subclasses implement `make_dataset`.

    batch_size: per process (per GPU); val_batch_size defaults to it.
    num_workers: loader processes, or "auto" (one per free core, at most 4: auto_workers).
    seed: seeds the order of each epoch and each item's augmentation (see EpochSampler).
    validate: read and check every file of the datasets when they are set up (PairedDataset.check_files),
      so a bad file stops the run before training rather than partway through an epoch.
    """

    size_options = "the dataset's size options"      # what decides the size of the images it yields

    def __init__(self, batch_size: int = 8, val_batch_size: int | None = None,
                 num_workers: int | str = "auto", pin_memory: bool = True, persistent_workers: bool = True,
                 seed: int = 0, validate: bool = False):
        super().__init__()
        self.batch_size, self.val_batch_size = batch_size, val_batch_size or batch_size
        if num_workers == "auto":
            num_workers = auto_workers()
        elif not (isinstance(num_workers, int) and not isinstance(num_workers, bool) and num_workers >= 0):
            raise ValueError(f"dataset.num_workers={num_workers!r}: expected auto or an integer >= 0")
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.persistent_workers, self.seed, self.validate = persistent_workers, seed, validate
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self._said: set[str] = set()             # size changes already reported

    def make_dataset(self, train: bool) -> Dataset:
        raise NotImplementedError

    def val_size_hint(self, images: int) -> str:
        """What gives a validation split of at least `images` images (for errors that need more)."""
        return f"use a validation split of at least {images} images"

    @property
    def spec(self) -> DatasetSpec:
        """The dataset's spec: classes, palette, label-file rule, evaluation ids."""
        if self.train_set is None and self.val_set is None:
            self.setup()
        return (self.train_set or self.val_set).spec

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            self.train_set = self.checked(self.make_dataset(train=True), self.batch_size)
        if self.val_set is None:
            self.val_set = self.checked(self.make_dataset(train=False), self.val_batch_size)
        for split in (self.train_set, self.val_set):
            change = getattr(split, "size_change", lambda: None)()
            if change and change not in self._said:
                self._said.add(change)
                rank_zero_info(f"data: {change} (set by {self.size_options})")
            if getattr(split, "skipped", 0):
                rank_zero_warn(f"{type(self).__name__}: left out {split.skipped} unpaired files "
                               "(skip_unpaired=true)")

    def checked(self, dataset: Dataset, batch_size: int) -> Dataset:
        """The dataset, after checking every file when `validate` is set (and it has files)."""
        if self.validate and hasattr(dataset, "check_files"):
            dataset.check_files(same_size=batch_size > 1)
        return dataset

    def _loader(self, dataset: Dataset, batch_size: int, train: bool) -> DataLoader:
        """The order and augmentation come from an EpochSampler, so they depend only on (seed, epoch)
        and resume exactly. It shards itself across processes: run the trainer with
        `use_distributed_sampler=False`."""
        workers = self.num_workers
        sampler = EpochSampler(len(dataset), shuffle=train, seed=self.seed, drop_last=train)
        # the generator only seeds the workers (seed_worker), without drawing from the global RNG
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=train,
                          num_workers=workers, pin_memory=self.pin_memory and torch.cuda.is_available(),
                          persistent_workers=self.persistent_workers and workers > 0,
                          worker_init_fn=seed_worker, collate_fn=collate,
                          generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        return self._loader(self.train_set, self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader:
        self.setup("validate")
        return self._loader(self.val_set, self.val_batch_size, train=False)


class FileDataModule(SceneDataModule):
    """A dataset with a train and a validation split on disk (Cityscapes, ADE20K, DeepFashion, ...).

    dataset_class: the Dataset, called as dataset_class(root, split, train=..., **options); a
      class or its dotted path (e.g. "smis.data.CityscapesDataset"), as configs give it.
    root: the dataset folder; train_split, val_split: split names the Dataset understands.
    other keyword arguments: SceneDataModule's loader settings, and the rest are the Dataset's
      own options (sizes, flip, skip_unpaired, ...), so configs stay flat (dataset.size=...).
    """

    def __init__(self, dataset_class: str | type, root: str, train_split: str = "train",
                 val_split: str = "val", **options):
        loader_keys = inspect.signature(SceneDataModule.__init__).parameters
        super().__init__(**{k: options.pop(k) for k in list(options) if k in loader_keys})
        if isinstance(dataset_class, str):
            from hydra.utils import get_class

            dataset_class = get_class(dataset_class)
        self.dataset_class, self.root = dataset_class, root
        self.splits = {True: train_split, False: val_split}
        self.options = options

    def make_dataset(self, train: bool) -> Dataset:
        return self.dataset_class(self.root, self.splits[train], train=train, **self.options)

    def val_size_hint(self, images: int) -> str:
        return f"evaluate a split of at least {images} images (dataset.val_split, now {self.splits[False]})"


class ImageFolderDataModule(SceneDataModule):
    """Your own data. Validation comes from val_root (same folder names) or, when that is not
    given, from a fixed held-out fraction of the pairs (val_fraction)."""

    size_options = "dataset.resize and dataset.crop; resize=null keeps each file's size"

    def __init__(self, root: str, image_dir: str = "images", label_dir: str = "labels",
                 instance_dir: str | None = None, num_classes: int | None = None,
                 class_names: Sequence[str] | None = None, palette=None,
                 unknown_index: int | None = None, resize=None, crop=None, flip: bool = True,
                 val_root: str | None = None, val_fraction: float = 0.1,
                 skip_unpaired: bool = False, **loader):
        super().__init__(**loader)
        if val_root is None and not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1) when val_root is not set; got {val_fraction}")
        self.root, self.val_root, self.val_fraction = root, val_root, val_fraction
        self.num_pairs = 0                       # pairs in root, once a split is made
        self.options = dict(image_dir=image_dir, label_dir=label_dir, instance_dir=instance_dir,
                            num_classes=num_classes, class_names=class_names, palette=palette,
                            unknown_index=unknown_index, resize=resize, crop=crop, flip=flip,
                            skip_unpaired=skip_unpaired)

    def make_dataset(self, train: bool) -> Dataset:
        if self.val_root is not None:
            return ImageFolderDataset(self.root if train else self.val_root, train=train, **self.options)
        full = ImageFolderDataset(self.root, train=train, **self.options)
        self.num_pairs = len(full)
        order = torch.randperm(len(full), generator=torch.Generator().manual_seed(self.seed)).tolist()
        n_val = max(1, round(len(full) * self.val_fraction))
        if n_val >= len(full):
            raise ValueError(f"{self.root}: {len(full)} pairs are too few to hold out "
                             f"{self.val_fraction:.0%} for validation; set val_root")
        return full.subset(sorted(order[-n_val:] if not train else order[:-n_val]), train)

    def val_size_hint(self, images: int) -> str:
        if self.val_root is not None:
            return f"put at least {images} pairs in dataset.val_root ({self.val_root})"
        pairs = self.num_pairs
        if pairs <= images:
            return f"add pairs to {self.root} (it holds {pairs}) or give dataset.val_root=DIR"
        # the smallest fraction (2 decimals) whose rounded share of the pairs reaches `images`
        fraction = next(f / 100 for f in range(1, 100) if round(pairs * f / 100) >= images)
        return (f"dataset.val_fraction={self.val_fraction} of {pairs} pairs holds out "
                f"{len(self.val_set or ())}: set dataset.val_fraction={fraction} ({images} images) or "
                "dataset.val_root=DIR")


class SyntheticDataModule(SceneDataModule):
    """Built-in synthetic scenes: no files. Validation scenes come from far past the training
    indices, so they are never trained on."""

    def __init__(self, num_train: int = 512, num_val: int = 16, size: int | Sequence[int] = 128,
                 scene_seed: int = 0, flip: bool = True, **loader):
        super().__init__(**loader)
        self.num_train, self.num_val, self.scene_seed, self.flip = num_train, num_val, scene_seed, flip
        self.size = size if isinstance(size, int) else tuple(size)

    def val_size_hint(self, images: int) -> str:
        return f"set dataset.num_val={images} or more"

    def make_dataset(self, train: bool) -> Dataset:
        if train:
            return SyntheticScenes(self.num_train, self.size, self.scene_seed, train=True, flip=self.flip)
        return SyntheticScenes(self.num_val, self.size, self.scene_seed, train=False, first_index=VAL_OFFSET)


__all__ = ["FileDataModule", "ImageFolderDataModule", "SceneDataModule", "SyntheticDataModule", "seed_worker"]
