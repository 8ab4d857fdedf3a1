"""Decode + resize cost of each dataset layout, in images/s.

    python -m smis.benchmarks.data --count 16 --workers 2

Writes `count` files per layout at the real datasets' source sizes into a temporary folder
(Cityscapes 2048x1024 PNG, ADE20K 683x512 JPG, DeepFashion 750x1101 JPG, an image folder of
512x512 PNG), then times (1) the Dataset in this process and (2) a DataLoader with `workers`
persistent processes (after one warm-up pass), both with the training transform (resize, crop, flip).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import DataLoader

from ..data import ADE20KDataset, CityscapesDataset, DeepFashionDataset, ImageFolderDataset


def photo(h: int, w: int, rng: np.random.Generator) -> Image.Image:
    """Smooth colour fields plus noise: compresses like a photo rather than like pure noise."""
    coarse = rng.integers(0, 255, (h // 64 + 2, w // 64 + 2, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.int16)
    return Image.fromarray(np.clip(big + rng.integers(-12, 12, big.shape), 0, 255).astype(np.uint8))


def labels(h: int, w: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    coarse = rng.integers(0, classes, (h // 64 + 2, w // 64 + 2), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.NEAREST))


def write_layouts(root: Path, count: int) -> dict[str, object]:
    """-> layout name: a dataset reading `count` generated files in that layout."""
    rng = np.random.default_rng(0)
    for i in range(count):
        city = root / "cityscapes"
        stem = f"bench_000000_{i:06d}"
        for d in ("leftImg8bit/train/bench", "gtFine/train/bench"):
            (city / d).mkdir(parents=True, exist_ok=True)
        photo(1024, 2048, rng).save(city / "leftImg8bit/train/bench" / f"{stem}_leftImg8bit.png")
        ids = labels(1024, 2048, 34, rng)
        Image.fromarray(ids).save(city / "gtFine/train/bench" / f"{stem}_gtFine_labelIds.png")
        Image.fromarray(ids.astype(np.uint16) * 1000).save(
            city / "gtFine/train/bench" / f"{stem}_gtFine_instanceIds.png")

        ade = root / "ade20k"
        for d in ("images/training", "annotations/training"):
            (ade / d).mkdir(parents=True, exist_ok=True)
        photo(512, 683, rng).save(ade / "images/training" / f"ADE_train_{i:08d}.jpg", quality=90)
        Image.fromarray(labels(512, 683, 151, rng)).save(
            ade / "annotations/training" / f"ADE_train_{i:08d}.png")

        fashion = root / "deepfashion"
        for d in ("train", "cihp_train_mask"):
            (fashion / d).mkdir(parents=True, exist_ok=True)
        photo(1101, 750, rng).save(fashion / "train" / f"person_{i}.jpg", quality=90)
        Image.fromarray(labels(1101, 750, 8, rng)).save(fashion / "cihp_train_mask" / f"person_{i}.png")

        folder = root / "folder"
        for d in ("images", "labels"):
            (folder / d).mkdir(parents=True, exist_ok=True)
        photo(512, 512, rng).save(folder / "images" / f"img_{i}.png")
        Image.fromarray(labels(512, 512, 20, rng)).save(folder / "labels" / f"img_{i}.png")
    return {
        "cityscapes 2048x1024 -> 512x256": CityscapesDataset(root / "cityscapes", "train"),
        "ade20k 683x512 -> 286, crop 256": ADE20KDataset(root / "ade20k", "train"),
        "deepfashion 750x1101 -> 256": DeepFashionDataset(root / "deepfashion", "train"),
        "folder 512x512 -> 256": ImageFolderDataset(root / "folder", num_classes=20, resize=256),
    }


def rate(items, count: int) -> float:
    """Images per second spent consuming the iterable `items`."""
    start = time.perf_counter()
    for _ in items:
        pass
    return count / (time.perf_counter() - start)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.benchmarks.data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=16, help="files per layout")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"writing {args.count} files per layout ...", flush=True)
        datasets = write_layouts(Path(tmp), args.count)
        print(f"\n{'layout':<36} {'1 process':>12} {f'{args.workers} workers':>12}")
        for name, data in datasets.items():
            serial = rate((data[i] for i in range(len(data))), len(data))
            loader = DataLoader(data, batch_size=4, num_workers=args.workers,
                                persistent_workers=args.workers > 0)
            rate(loader, len(data))                  # warm-up: start the workers
            parallel = rate(loader, len(data))
            print(f"{name:<36} {serial:>8.1f} im/s {parallel:>8.1f} im/s", flush=True)


if __name__ == "__main__":
    main()
