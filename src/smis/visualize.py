"""Turning label maps and images into pictures people look at."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

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


def save_grid(rows: list[list[torch.Tensor]], path: str | Path, pad: int = 2,
              labels: list[str] | None = None, row_labels: list[str] | None = None) -> Path:
    """Save rows of (3,H,W) images in [-1,1] as one PNG (written atomically).

    labels: one caption per column, drawn (PIL's default font, wrapped to the column) in a white
    band above the grid; row_labels: one per row, in a band on the left (for rows that differ, e.g.
    the class re-drawn). Without them the PNG is the bare grid."""
    h = max(t.shape[1] for row in rows for t in row)
    w = max(t.shape[2] for row in rows for t in row)
    ncol = max(len(row) for row in rows)
    if labels is not None and len(labels) != ncol:
        raise ValueError(f"save_grid: {len(labels)} labels for {ncol} columns")
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(f"save_grid: {len(row_labels)} row labels for {len(rows)} rows")
    font, line_h = _font()
    columns = [_wrap(text, w, font) for text in labels] if labels else []
    top = max(len(lines) for lines in columns) * line_h + 2 * LABEL_MARGIN if columns else 0
    left = (max(_text_width(text, font) for text in row_labels) + 2 * LABEL_MARGIN) if row_labels else 0
    canvas = Image.new("RGB", (left + ncol * (w + pad) + pad, top + len(rows) * (h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for j, lines in enumerate(columns):
        x0 = left + pad + j * (w + pad)
        for k, line in enumerate(lines):                 # centred over its column
            x = x0 + max(0, (w - _text_width(line, font)) // 2)
            draw.text((x, LABEL_MARGIN + k * line_h), line, fill="black", font=font)
    for i, text in enumerate(row_labels or []):
        y = top + pad + i * (h + pad) + (h - line_h) // 2
        draw.text((LABEL_MARGIN, y), text, fill="black", font=font)
    for i, row in enumerate(rows):
        for j, t in enumerate(row):
            canvas.paste(to_pil(t), (left + pad + j * (w + pad), top + pad + i * (h + pad)))
    return atomic_write(path, lambda f: canvas.save(f, format="PNG"))


LABEL_MARGIN = 3          # pixels around the labels' text


def _font():
    """PIL's default font and its line height."""
    font = ImageFont.load_default()
    box = font.getbbox("Ag")
    return font, box[3] - min(box[1], 0) + 2


def _text_width(text: str, font) -> int:
    box = font.getbbox(text)
    return int(box[2] - min(box[0], 0)) if text else 0


def _wrap(text: str, width: int, font) -> list[str]:
    """Words on as few lines as fit `width` pixels (a word wider than that gets its own line)."""
    lines: list[str] = []
    for word in text.split():
        if lines and _text_width(f"{lines[-1]} {word}", font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def labelled_sheet(pictures: list, captions: list[str], path: str | Path, pad: int = 4) -> Path:
    """PIL pictures in a row, each with its caption underneath, saved as one PNG (atomically)."""
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
