"""Checks of the labelled figures (smis.visualize.save_grid with labels): the grid's geometry and
the white band with a caption over every column (and beside every row)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def check_labelled_grid(im: Image.Image, cols: int, rows: int, cell: tuple[int, int], pad: int = 2,
                        row_labels: bool = False) -> tuple[int, int]:
    """Assert that `im` is a grid of rows x cols images of cell = (h, w) with pad pixels between,
    under a band of column labels (and right of a band of row labels when row_labels); returns the
    bands' (top, left) sizes."""
    h, w = cell
    top = im.height - (rows * (h + pad) + pad)
    left = im.width - (cols * (w + pad) + pad)
    assert 8 <= top <= 60, f"no label band above the grid ({im.size}, band {top} px)"
    assert (left > 0) == row_labels, f"row label band of {left} px"
    pixels = np.asarray(im.convert("L"))
    band = pixels[:top]
    assert band.mean() > 200, "the label band is mostly white"
    for j in range(cols):                          # text (dark pixels) over every column
        x0 = left + pad + j * (w + pad)
        assert (band[:, x0:x0 + w] < 128).any(), f"column {j} has no label"
    for i in range(rows if row_labels else 0):     # text beside every row
        y0 = top + pad + i * (h + pad)
        assert (pixels[y0:y0 + h, :left] < 128).any(), f"row {i} has no label"
    return top, left
