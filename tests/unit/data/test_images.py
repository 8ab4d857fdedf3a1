"""One way to open an image: photos whose EXIF orientation says they were taken sideways read upright
everywhere (datasets, the Synthesizer's inputs, studio uploads), and unreadable files name themselves."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from smis.data.io import DatasetError, MissingFileError, image_size, open_image, read_rgb
from smis.inputs import read_image as read_input_image
from smis.studio.uploads import Limits, open_upload

SIDEWAYS = 6          # EXIF: "rotate 90 degrees clockwise to view", as a phone held upright writes


def upright_photo() -> np.ndarray:
    """(48, 64, 3) uint8 with a distinct top-left corner, so any turn shows."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    pixels[:8, :8] = (255, 0, 0)
    return pixels


def save_sideways(pixels: np.ndarray, path) -> None:
    """The pixels as a camera stores them turned, with the tag that turns them back."""
    stored = Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_90)     # 64 x 48 on disk
    exif = Image.Exif()
    exif[0x0112] = SIDEWAYS
    stored.save(path, exif=exif)


def test_a_sideways_photo_reads_upright_everywhere(tmp_path):
    pixels = upright_photo()
    path = tmp_path / "photo.png"
    save_sideways(pixels, path)
    assert Image.open(path).size == (48, 64)                       # on disk: turned
    assert np.array_equal(np.asarray(open_image(path)), pixels)
    assert np.array_equal(np.asarray(read_rgb(path)), pixels)    # the datasets' reader
    assert image_size(path) == (64, 48)
    as_input = read_input_image(path, (48, 64))                    # the Synthesizer's reader
    assert torch.equal(as_input, torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1)
    upload = open_upload(path.read_bytes(), Limits(), "photo")      # the studio's
    assert np.array_equal(np.asarray(upload.convert("RGB")), pixels)


def test_missing_and_unreadable_files_name_themselves(tmp_path):
    with pytest.raises(MissingFileError, match="label map not found: .*nope.png") as missing:
        open_image(tmp_path / "nope.png", "label map")
    assert isinstance(missing.value, FileNotFoundError) and isinstance(missing.value, DatasetError)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="bad.png: cannot be read as an image"):
        open_image(tmp_path / "bad.png")
    with pytest.raises(Exception, match="cannot be read as an image"):
        open_upload(io.BytesIO(b"not an image").getvalue(), Limits(), "photo")
