"""What users hand to the Synthesizer, read into tensors: label maps and photos, as
files, PIL images, NumPy arrays or tensors, with errors that say what was expected.

Label maps:
  - grey PNGs (8 or 16 bit) and palette-mode PNGs hold label-file values: the dataset spec's rule
    makes them class ids (ADE20K: v -> v-1, 0 and 255 -> unknown); a palette PNG whose colours are
    the dataset's, at indices that are not its ids (a colourised map), is read by colour, with a
    warning; JPEG label maps are refused (lossy: their values are not the ids);
  - colour images are mapped through the dataset's palette (a colour shared by several classes
    gives the first of them); a colour outside the palette is an error that lists it;
  - integer arrays and tensors, (H,W), (1,H,W) or (1,1,H,W), are class ids already; (H,W,3) uint8
    arrays are colours.
Sizes: resized (nearest for maps, bicubic for photos) to the size asked for, or kept ("input").
Limit: MAX_PIXELS (4096 x 4096) pixels per label map or photo by default, as given and at the size
used (`check_pixels`): a 12000 x 12000 label map alone took 3.7 GB to read.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .data.io import image_size, open_image, upright
from .data.spec import DatasetSpec

MAX_PIXELS = 4096 * 4096      # the default largest label map or photo (as given, and as used), in pixels


def check_pixels(x, max_pixels: int, what: str) -> None:
    """A ValueError naming `what`, its size and the limit when input `x` (path, PIL image, array,
    tensor, or an (H, W) size) holds more than `max_pixels` pixels; read from a file's header,
    before anything is decoded."""
    size = tuple(x) if isinstance(x, tuple) else input_size(x)
    if size is None or len(size) != 2 or size[0] * size[1] <= max_pixels:
        return
    H, W = size
    where = f"{what} {x}" if isinstance(x, (str, os.PathLike)) else what
    raise ValueError(f"{where} is {H}x{W} = {H * W / 1e6:,.1f} megapixels; the limit is "
                     f"max_pixels={max_pixels} ({max_pixels / 1e6:,.1f} megapixels): shrink it "
                     "(nearest-neighbour for a label map) or raise max_pixels")


def _colour_ids(rgb: np.ndarray, spec: DatasetSpec, where: str) -> np.ndarray:
    """(H, W, 3) uint8 colours -> (H, W) class ids through the palette."""
    keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    lookup: dict[int, int] = {}
    for c, (r, g, b) in enumerate(spec.palette):
        lookup.setdefault((r << 16) | (g << 8) | b, c)          # a shared colour: the first class
    values, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    unknown = [(int(v), int(n)) for v, n in zip(values, counts) if int(v) not in lookup]
    if unknown:
        shown = ", ".join(f"({v >> 16}, {(v >> 8) & 255}, {v & 255}) x{n}" for v, n in unknown[:8])
        raise ValueError(f"{where}: {len(unknown)} colours are not in the {spec.name} palette: {shown}"
                         + (" ..." if len(unknown) > 8 else "")
                         + " (with pixel counts; save class ids as a grey PNG, or paint with the palette's "
                         "colours)")
    return np.array([lookup[int(v)] for v in values])[inverse].reshape(keys.shape)


LOSSY_FORMATS = ("JPEG", "MPO")        # compression moves class ids at every border


def _palette_by_colour(im: Image.Image, spec: DatasetSpec, where: str) -> np.ndarray | None:
    """A palette PNG whose used colours are all the spec's: the class ids by colour when they differ
    from its indices (a colourised map saved with a palette of its own order), with a warning that
    says so; None when the indices are the ids (or the colours are not the spec's)."""
    indices = np.asarray(im)
    palette = np.asarray(im.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
    used = np.unique(indices)
    if used.max() >= len(palette):
        return None
    known = {tuple(rgb) for rgb in spec.palette}
    if not all(tuple(palette[i]) in known for i in used):
        return None
    by_colour = _colour_ids(palette[indices], spec, where)
    try:
        by_index = spec.to_class_ids(torch.from_numpy(indices.astype(np.int64)), where).numpy()
    except ValueError:
        by_index = None
    if by_index is not None and np.array_equal(by_index, by_colour):
        return None
    warnings.warn(f"{where}: a palette PNG whose colours are the {spec.name} palette's but whose indices "
                  "are not its class ids: read by colour", stacklevel=4)
    return by_colour


def _pil_ids(im: Image.Image, spec: DatasetSpec | None, where: str) -> torch.Tensor:
    """A PIL label map -> (H, W) int64 class ids (file values through the spec's rule; colours
    through its palette). Lossy files (JPEG) are refused: their values are not the ids."""
    if im.format in LOSSY_FORMATS:
        raise ValueError(f"{where}: a {im.format} label map: lossy compression changes the class ids along "
                         "every border (and adds values); save label maps as PNG")
    if im.mode == "P" and spec is not None:
        by_colour = _palette_by_colour(im, spec, where)
        if by_colour is not None:
            return torch.from_numpy(by_colour)
    if im.mode in ("RGB", "RGBA"):
        if spec is None:
            raise ValueError(f"{where}: a colour image cannot be an id map; save the ids as a grey PNG")
        return torch.from_numpy(_colour_ids(np.asarray(im.convert("RGB")), spec, where))
    if im.mode == "P":
        values = np.asarray(im)                                   # the palette indices are the values
    elif im.mode in ("L", "I") or im.mode.startswith("I;16"):
        values = np.asarray(im.convert("I") if im.mode.startswith("I;16") else im)
    else:
        raise ValueError(f"{where}: a label map must be a grey (8/16-bit), palette or colour PNG; got mode "
                         f"{im.mode!r}")
    values = torch.from_numpy(values.astype(np.int64))
    return values if spec is None else spec.to_class_ids(values, where)


def _as_ids(label, spec: DatasetSpec | None, what: str) -> tuple[torch.Tensor, str]:
    """Any accepted label input -> ((H, W) int64, a name for messages)."""
    if isinstance(label, (str, os.PathLike)):
        return _pil_ids(open_image(label, what), spec, str(label)), str(label)
    if isinstance(label, Image.Image):
        return _pil_ids(upright(label), spec, what), what
    if isinstance(label, np.ndarray):
        if label.ndim == 3 and label.shape[2] == 3 and label.dtype == np.uint8:
            if spec is None:
                raise ValueError(f"{what}: an (H, W, 3) colour array cannot be an id map")
            return torch.from_numpy(_colour_ids(label, spec, what)), what
        if label.dtype.kind not in "biuf":
            raise TypeError(f"{what}: a NumPy array of dtype {label.dtype}; expected integer class ids "
                            "(e.g. uint8 or int64), or (H, W, 3) uint8 colours")
        label = torch.from_numpy(np.ascontiguousarray(label))
    if torch.is_tensor(label):
        t = label.detach().cpu()
        while t.dim() > 2 and t.shape[0] == 1:
            t = t[0]
        if t.dim() != 2:
            raise ValueError(f"{what}: expected class ids of shape (H, W), (1, H, W) or (1, 1, H, W); "
                             f"got {tuple(label.shape)}")
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"{what}: expected integer class ids; got {t.dtype}")
        if not t.numel():
            raise ValueError(f"{what} is empty ({t.shape[0]}x{t.shape[1]}): expected class ids of shape "
                             "(H, W)")
        return t.long(), what
    raise TypeError(f"{what}: expected a path, PIL image, NumPy array or tensor; got {type(label).__name__}")


def input_size(x) -> tuple[int, int] | None:
    """(H, W) of an input (path, PIL image, array, tensor) as it would be read, before any resize;
    None for anything else (its reader says what is wrong)."""
    if isinstance(x, (str, os.PathLike)):
        try:
            width, height = image_size(x)
        except OSError:
            return None                                  # reported by the reader, naming the file
        return height, width
    if isinstance(x, Image.Image):
        x = upright(x)
        return x.height, x.width
    if isinstance(x, np.ndarray):
        return tuple(x.shape[:2]) if x.ndim == 3 and x.shape[2] in (3, 4) else tuple(x.shape[-2:])
    if torch.is_tensor(x) and x.dim() >= 2:
        return tuple(x.shape[-2:])
    return None


def check_same_scene(image, label, what: str = "the photo") -> None:
    """A photo and its label map must have one aspect ratio (2% apart at most): else the photo
    would be stretched onto the label map without a word."""
    photo, ids = input_size(image), input_size(label)
    if photo is None or ids is None:
        return
    if abs(photo[0] / photo[1] - ids[0] / ids[1]) > 0.02 * ids[0] / ids[1]:
        raise ValueError(f"{what} is {photo[1]}x{photo[0]} but its label map is {ids[1]}x{ids[0]}: they must "
                         "show the same scene (the photo would be stretched); crop or resize one to the "
                         "other's shape")


def resize_ids(ids: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., H, W) integer ids -> (..., *size), nearest (never a value that was not there)."""
    if tuple(ids.shape[-2:]) == tuple(size):
        return ids
    shape = ids.shape
    flat = ids.reshape(-1, 1, *shape[-2:]).float()
    return F.interpolate(flat, size=size, mode="nearest").long().reshape(*shape[:-2], *size)


def read_label(label, spec: DatasetSpec | None, size, what: str = "label map") -> torch.Tensor:
    """-> (1, 1, H, W) int64 class ids at `size` ((H, W), or "input" to keep the input's size,
    which must then suit GroupDNet). spec None reads raw integer ids (instance maps)."""
    ids, where = _as_ids(label, spec, what)
    if spec is not None and ids.numel() and (ids.min() < 0 or ids.max() >= spec.num_classes):
        raise ValueError(f"{where}: class ids must lie in [0, {spec.num_classes - 1}] for {spec.name}; found "
                         f"values in [{int(ids.min())}, {int(ids.max())}]")
    if size == "input":
        H, W = ids.shape
        if H % 64 or W % 64:
            raise ValueError(f"{where} is {H}x{W}: GroupDNet needs sides that are multiples of 64; pass "
                             "size=(H, W) to resize it (nearest)")
        size = (H, W)
    return resize_ids(ids, size)[None, None]


def read_image(image, size: tuple[int, int], what: str = "image") -> torch.Tensor:
    """A photo (path, PIL, (H,W,3) uint8 array, or (3,H,W) / (1,3,H,W) tensor in [-1, 1]) ->
    (1, 3, H, W) float32 in [-1, 1] at `size` (bicubic)."""
    if isinstance(image, (str, os.PathLike)):
        image = open_image(image, what)
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"{what}: expected an (H, W, 3) uint8 array; got {image.shape} {image.dtype}")
        image = Image.fromarray(image)
    if isinstance(image, Image.Image):
        H, W = size
        image = upright(image).convert("RGB")
        if image.size != (W, H):
            image = image.resize((W, H), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 127.5 - 1
        return x[None]
    if torch.is_tensor(image):
        x = image.detach().float().cpu()
        x = x[None] if x.dim() == 3 else x
        if x.dim() != 4 or x.shape[:2] != (1, 3):
            raise ValueError(f"{what}: expected a (3, H, W) or (1, 3, H, W) tensor; got {tuple(image.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{what}: the tensor holds {int((~torch.isfinite(x)).sum())} NaN or inf values")
        if x.min() < -1.001 or x.max() > 1.001:
            raise ValueError(f"{what}: tensor values must lie in [-1, 1]; found [{float(x.min()):.3g}, "
                             f"{float(x.max()):.3g}]")
        if tuple(x.shape[2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp(-1, 1)
        return x
    raise TypeError(f"{what}: expected a path, PIL image, NumPy array or tensor; got {type(image).__name__}")
