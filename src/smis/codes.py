"""What the Synthesizer hands back: `Codes` (the per-class codes of one image, and their file) and
`Result` (images with the codes that made them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .utils import atomic_torch_save, atomic_write
from .visualize import to_pil
from .weights import safe_load

CODES_FORMAT = "smis.codes"


@dataclass
class Codes:
    """The per-class codes of one image: z (1, k*C, h, w) for the label map they were made for,
    and where each class's code came from ("seed 7", "encoded from photo.jpg", ...). Save them
    to reuse a look: an appearance library ("this sky", "that car paint").
    """

    z: torch.Tensor                       # (1, k*C, h, w) float32, on the CPU
    label: torch.Tensor                   # (1, 1, H, W) int64 class ids
    sources: tuple[str, ...]              # per class
    class_names: tuple[str, ...]
    instance: torch.Tensor | None = None  # (1, 1, H, W) instance ids, for models with instance edges

    def source_of(self, name: str) -> str:
        return self.sources[self.class_names.index(name)]

    def save(self, path: str | os.PathLike) -> Path:
        """A small file (plain tensors and strings; torch.load(weights_only=True) reads it)."""
        return atomic_torch_save({"format": CODES_FORMAT, "version": 1, "z": self.z.cpu(),
                                  "label": self.label.cpu(), "sources": list(self.sources),
                                  "class_names": list(self.class_names),
                                  "instance": None if self.instance is None else self.instance.cpu()}, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Codes:
        """A codes file (Codes.save), checked entry by entry: a ValueError naming the file and what
        is missing or wrong. z stored in half precision is read as float32."""
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"codes file {path} is a folder, not a file")
        if not path.is_file():
            raise FileNotFoundError(f"codes file not found: {path}")
        d = safe_load(path, "a codes file")
        if not isinstance(d, dict) or d.get("format") != CODES_FORMAT:
            raise ValueError(f"{path}: not an smis codes file (written by Codes.save or "
                             "`python -m smis.generate encode`)")
        return cls(*checked_entries(d, f"{path}: the codes file"))


@dataclass
class Result:
    """What an operation made: images (PIL by default, or tensors / arrays) and one Codes each."""

    images: list
    codes: list[Codes] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)

    def save(self, folder: str | os.PathLike, prefix: str = "image") -> list[Path]:
        """Every image as FOLDER/PREFIX_NNN.png (atomically)."""
        folder = Path(folder)
        return [atomic_write(folder / f"{prefix}_{i:03d}.png", lambda f, im=im: as_pil(im).save(f, "PNG"))
                for i, im in enumerate(self.images)]

    def save_gif(self, path: str | os.PathLike, duration_ms: int = 120, loop: int = 0) -> Path:
        """An animated GIF of the images in order (style morphing), atomically. (Pillow merges
        identical consecutive frames into one longer frame.)"""
        frames = [as_pil(im).convert("P", palette=1, colors=256) for im in self.images]
        return atomic_write(path, lambda f: frames[0].save(f, "GIF", save_all=True, append_images=frames[1:],
                                                           duration=duration_ms, loop=loop))


def checked_entries(d: dict, where: str) -> tuple:
    """(z, label, sources, class_names, instance) of a codes file's dict, each checked: z a finite
    (1, k*C, h, w) float tensor (half precision becomes float32), label (1, 1, 64h, 64w) integer
    class ids, one source and one class name per class (strings)."""
    def fail(what: str) -> ValueError:
        return ValueError(f"{where} {what}; encode or sample the codes again")

    z = d.get("z")
    if not torch.is_tensor(z):
        raise fail("has no z tensor (the per-class codes)" if z is None else
                   f"holds a {type(z).__name__} as z, not a tensor of codes")
    if not z.is_floating_point() or z.dim() != 4 or z.shape[0] != 1:
        raise fail(f"holds z of shape {tuple(z.shape)} and dtype {z.dtype}; expected (1, k*C, h, w) floats")
    z = z.float()
    if not torch.isfinite(z).all():
        raise fail(f"holds {int((~torch.isfinite(z)).sum())} NaN or inf values in z (its codes)")
    label = d.get("label")
    h, w = z.shape[2:]
    if not torch.is_tensor(label):
        raise fail("has no label tensor (the label map the codes were made for)")
    if label.is_floating_point() or label.is_complex() or label.dtype == torch.bool or \
            tuple(label.shape) != (1, 1, 64 * h, 64 * w):
        raise fail(f"holds a label map of shape {tuple(label.shape)} and dtype {label.dtype}; expected "
                   f"(1, 1, {64 * h}, {64 * w}) integer class ids for its {h}x{w} grid of codes")
    names, sources = d.get("class_names"), d.get("sources")
    for key, value in (("class_names", names), ("sources", sources)):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise fail(f"holds {key} {str(value)[:60]!r}; expected a list of strings, one per class")
    if len(sources) != len(names) or z.shape[1] % max(len(names), 1) or not names:
        raise fail(f"holds {len(sources)} sources and {len(names)} class names for {z.shape[1]} code "
                   "channels; expected one source and one name per class, and k channels each")
    instance = d.get("instance")
    if instance is not None and (not torch.is_tensor(instance) or instance.shape != label.shape
                                 or instance.is_floating_point()):
        raise fail("holds an instance map that is not integer ids of the label map's shape")
    return z, label.long(), tuple(sources), tuple(names), None if instance is None else instance.long()


def as_pil(image):
    if torch.is_tensor(image):
        return to_pil(image)
    if hasattr(image, "save"):
        return image
    from PIL import Image

    return Image.fromarray(image)
