"""Reading images, label maps and instance maps, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class DatasetError(ValueError):
    """Bad or missing data: the message names the path and what was expected."""


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DatasetError(f"{path}: cannot be read as an image ({e})") from e


def read_image(path: Path) -> Image.Image:
    """An RGB photo."""
    return _open(path).convert("RGB")


def read_ids(path: Path, what: str = "label map") -> Image.Image:
    """A single-channel map of integer ids (8-bit, 16-bit, 32-bit or palette PNG), as mode 'I'
    or 'L' so resizing keeps exact values."""
    im = _open(path)
    if im.mode == "P":                     # palette PNG: the indices are the ids
        return Image.fromarray(np.asarray(im), mode="L")
    if im.mode in ("L", "I"):
        return im
    if im.mode.startswith("I;16"):
        return im.convert("I")
    raise DatasetError(f"{path}: a {what} must hold one integer id per pixel (8/16-bit grey or "
                       f"palette PNG); got mode {im.mode!r}"
                       + (" - is this a colourised label map?" if im.mode in ("RGB", "RGBA") else ""))
