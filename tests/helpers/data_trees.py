"""Tiny on-disk trees in each dataset's real layout, with known content, for the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def gradient_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """(h,w,3) uint8 with a left-right asymmetry, so flips are detectable."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    img = np.broadcast_to(x, (h, w, 3)).copy()
    img[..., 1] = rng.integers(0, 255, (h, w))
    return img.astype(np.uint8)


def stripes_label(h: int, w: int, values: list[int]) -> np.ndarray:
    """(h,w) uint8 with vertical stripes of the given values, left to right."""
    idx = np.minimum(np.arange(w) * len(values) // w, len(values) - 1)
    return np.broadcast_to(np.asarray(values, dtype=np.uint8)[idx][None], (h, w)).copy()


def save(array: np.ndarray, path: Path) -> Path:
    """Write a PNG/JPG; uint16 arrays become 16-bit greyscale PNGs (as Cityscapes instanceIds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def cityscapes_tree(root: Path, h: int = 32, w: int = 64) -> Path:
    """Two cities in train, one in val; labels stripes of 7 (road), 26 (car), 23 (sky)."""
    for split, cities in [("train", ["aachen", "bonn"]), ("val", ["lindau"])]:
        for city in cities:
            for frame in range(2):
                stem = f"{city}_000000_{frame:06d}"
                images, labels = root / "leftImg8bit" / split / city, root / "gtFine" / split / city
                save(gradient_image(h, w, frame), images / f"{stem}_leftImg8bit.png")
                save(stripes_label(h, w, [7, 26, 23]),
                     labels / f"{stem}_gtFine_labelIds.png")
                inst = np.zeros((h, w), np.int32) + 7
                inst[:, w // 3: 2 * w // 3] = 26001                       # one car instance
                save(inst.astype(np.uint16), labels / f"{stem}_gtFine_instanceIds.png")
                save(stripes_label(h, w, [1, 2, 3]),                       # files to ignore
                     labels / f"{stem}_gtFine_color.png")
    return root


def ade20k_tree(root: Path, h: int = 40, w: int = 50) -> Path:
    """File values 0 (unlabelled), 1 (wall), 3 (sky), 150 (flag) and 255."""
    for split, prefix in [("training", "ADE_train"), ("validation", "ADE_val")]:
        for i in range(3):
            stem = f"{prefix}_{i + 1:08d}"
            save(gradient_image(h, w, i), root / "images" / split / f"{stem}.jpg")
            save(stripes_label(h, w, [0, 1, 3, 150, 255]), root / "annotations" / split / f"{stem}.png")
    return root


def deepfashion_tree(root: Path, size: int = 48) -> Path:
    for split in ("train", "test"):
        for i in range(3):
            save(gradient_image(size, size, i), root / split / f"person_{i}.jpg")
            save(stripes_label(size, size, [0, 2, 5, 7]), root / f"cihp_{split}_mask" / f"person_{i}.png")
    return root


def folder_tree(root: Path, n: int = 10, h: int = 24, w: int = 32, classes_file: bool = True) -> Path:
    for i in range(n):
        save(gradient_image(h, w, i), root / "images" / f"img_{i:02d}.png")
        save(stripes_label(h, w, [0, 1, 2, 3]), root / "labels" / f"img_{i:02d}.png")
    if classes_file:
        (root / "classes.yaml").write_text(
            "num_classes: 4\nnames: [ground, wall, sky, thing]\n"
            "palette: [[0, 0, 0], [255, 0, 0], [0, 0, 255], [0, 255, 0]]\n")
    return root
