"""Reading images, label maps and instance maps, with errors that name the file."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class DatasetError(ValueError):
    """Bad or missing data: the message names the path and what was expected."""


class MissingFileError(DatasetError, FileNotFoundError):
    """A file that is not there (both a DatasetError and a FileNotFoundError)."""


class FolderGivenError(DatasetError, IsADirectoryError):
    """A folder where an image file was expected (both a DatasetError and an IsADirectoryError)."""


ORIENTATION = 0x0112                        # the EXIF tag: how the camera held the picture


def upright(im: Image.Image) -> Image.Image:
    """The image as it is meant to be seen: a photo whose EXIF orientation says it was taken
    rotated (or mirrored) is turned upright, as every viewer shows it."""
    if im.getexif().get(ORIENTATION, 1) in (1, None):
        return im
    turned = ImageOps.exif_transpose(im)
    turned.format = im.format                 # what the file was (a JPEG label map is refused)
    return turned


def open_image(path: str | os.PathLike, what: str = "image") -> Image.Image:
    """The one way smis opens an image file: decoded, turned upright (EXIF orientation), with
    errors that name the file (MissingFileError, DatasetError)."""
    path = Path(path)
    if path.is_dir():
        raise FolderGivenError(f"{what} {path} is a folder, not an image file")
    try:
        with Image.open(path) as im:
            im.load()
            return upright(im)
    except FileNotFoundError:
        raise MissingFileError(f"{what} not found: {path}") from None
    except Image.DecompressionBombError:
        raise too_many_pixels(path, what) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DatasetError(f"{path}: cannot be read as an image ({e})") from e


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file as open_image gives it, read from its header (also for
    images beyond Pillow's decompression-bomb limit, which open_image refuses)."""
    try:
        with Image.open(path) as im:
            turned = im.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)      # a quarter turn swaps the sides
            return (im.height, im.width) if turned else im.size
    except Image.DecompressionBombError:
        size = header_size(path)
        if size is None:
            raise too_many_pixels(path, "image") from None
        return size


def header_size(source: str | os.PathLike | bytes) -> tuple[int, int] | None:
    """(width, height) as an image file's header (a path, or the file's bytes) states it, without
    Pillow's decompression-bomb check (which refuses to open an image of more than
    2 * Image.MAX_IMAGE_PIXELS pixels); nothing is decoded. None when no format Pillow knows reads
    the header."""
    Image.init()
    with (io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")) as fp:
        prefix = fp.read(16)
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            try:
                accepted = accept(prefix) if accept else True
                if not accepted or isinstance(accepted, str):
                    continue
                fp.seek(0)
                return factory(fp, "").size
            except Exception:                           # not this format: try the next
                continue
    return None


def too_many_pixels(path: str | os.PathLike, what: str = "image") -> DatasetError:
    """The error for an image beyond Pillow's decompression-bomb limit: its size and the limit."""
    size = header_size(path)
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    shown = f"{size[0]}x{size[1]} = {size[0] * size[1] / 1e6:,.1f} megapixels" if size else "too large"
    return DatasetError(f"{path}: the {what} is {shown}, beyond Pillow's limit of {limit / 1e6:,.1f} "
                        "megapixels against decompression bombs: not decoded (shrink it first)")


def read_rgb(path: Path) -> Image.Image:
    """An RGB photo."""
    return open_image(path, "image").convert("RGB")


def read_ids(path: Path, what: str = "label map") -> Image.Image:
    """A single-channel map of integer ids (8-bit, 16-bit, 32-bit or palette PNG), as mode 'I'
    or 'L' so resizing keeps exact values."""
    im = open_image(path, what)
    if im.mode == "P":                     # palette PNG: the indices are the ids
        return Image.fromarray(np.asarray(im), mode="L")
    if im.mode in ("L", "I"):
        return im
    if im.mode.startswith("I;16"):
        return im.convert("I")
    raise DatasetError(f"{path}: a {what} must hold one integer id per pixel (8/16-bit grey or "
                       f"palette PNG); got mode {im.mode!r}"
                       + (" - is this a colourised label map?" if im.mode in ("RGB", "RGBA") else ""))
