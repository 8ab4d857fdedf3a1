"""Turning label maps and images into pictures people look at."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from .utils import atomic_write


def default_palette(num_classes: int) -> torch.Tensor:
    """A fixed, well-spread colour per class: (num_classes, 3) uint8 (the PASCAL VOC bit rule)."""
    colours = torch.zeros(num_classes, 3, dtype=torch.uint8)
    for c in range(num_classes):
        r = g = b = 0
        cid = c + 1   # class 0 gets a colour too
        for bit in range(8):
            r |= ((cid >> 0) & 1) << (7 - bit)
            g |= ((cid >> 1) & 1) << (7 - bit)
            b |= ((cid >> 2) & 1) << (7 - bit)
            cid >>= 3
        colours[c] = torch.tensor([r, g, b], dtype=torch.uint8)
    return colours


def colorize(label: torch.Tensor, palette: torch.Tensor | None = None) -> torch.Tensor:
    """(B,1,H,W) class ids -> (B,3,H,W) float in [-1,1], so it sits in a grid next to images."""
    ids = label[:, 0].long().cpu()
    if palette is None:
        palette = default_palette(int(ids.max()) + 1)
    rgb = palette.to(torch.float32)[ids.clamp(max=len(palette) - 1)]   # (B,H,W,3)
    return rgb.permute(0, 3, 1, 2) / 127.5 - 1


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3,H,W) float in [-1,1] -> PIL image."""
    arr = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Image.fromarray(arr.permute(1, 2, 0).numpy())


def save_grid(rows: list[list[torch.Tensor]], path: str | Path, pad: int = 2) -> Path:
    """Save rows of (3,H,W) images in [-1,1] as one PNG (written atomically)."""
    h = max(t.shape[1] for row in rows for t in row)
    w = max(t.shape[2] for row in rows for t in row)
    ncol = max(len(row) for row in rows)
    canvas = Image.new("RGB", (ncol * (w + pad) + pad, len(rows) * (h + pad) + pad), "white")
    for i, row in enumerate(rows):
        for j, t in enumerate(row):
            canvas.paste(to_pil(t), (pad + j * (w + pad), pad + i * (h + pad)))
    return atomic_write(path, lambda f: canvas.save(f, format="PNG"))


def labelled_sheet(pictures: list, captions: list[str], path: str | Path, pad: int = 4) -> Path:
    """PIL pictures in a row, each with its caption underneath, saved as one PNG (atomically)."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    w = max(p.width for p in pictures)
    h = max(p.height for p in pictures)
    text_h = 14
    canvas = Image.new("RGB", (len(pictures) * (w + pad) + pad, h + text_h + 2 * pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (picture, caption) in enumerate(zip(pictures, captions)):
        x = pad + i * (w + pad)
        canvas.paste(picture.convert("RGB"), (x, pad))
        draw.text((x, pad + h + 1), caption[: max(4, w // 6)], fill="black", font=font)
    return atomic_write(path, lambda f: canvas.save(f, format="PNG"))
