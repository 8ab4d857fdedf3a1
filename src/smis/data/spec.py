"""What a dataset is, as data: one `DatasetSpec` per dataset.

A spec holds every fact about a dataset that code outside its Dataset class needs: the class
names and palette, how the values in its label files become class ids, which ids the
segmentation metrics score (and under which names), the model preset it trains with and its
native image size. Datasets, datamodules, `convert`, `evaluate` and model files read it;
nothing in the library branches on a dataset's name. The built-in specs are in `builtin_specs.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .io import DatasetError

IGNORED = -1          # an evaluation id meaning "not scored"


@dataclass(frozen=True)
class LabelRule:
    """How the integer values of a label file become class ids.

    shift: added to every file value (ADE20K: -1, so its 0 "unlabelled" falls below 0).
    unknown_value: a file value meaning "unknown" (SPADE's 255), or None.
    unknown_index: the class id that unknown values and shifted values below 0 become;
      None makes them errors.
    num_labelled: how many ids a file may name directly, None = all classes (ADE20K: 150,
      because its last class is the unknown slot that only 0 and 255 reach).
    """

    shift: int = 0
    unknown_value: int | None = 255
    unknown_index: int | None = None
    num_labelled: int | None = None

    def to_class_ids(self, raw: torch.Tensor | np.ndarray, num_classes: int,
                     where: object = "label map") -> torch.Tensor:
        """File values (a tensor or NumPy array of any shape, integer) -> class ids (an int64
        tensor), with an error naming `where` for a value that has no class."""
        raw = _integer_tensor(raw, where)
        labelled = num_classes if self.num_labelled is None else self.num_labelled
        ids = raw.long() + self.shift
        unknown = ids < 0
        if self.unknown_value is not None:
            unknown |= raw == self.unknown_value
        bad = ~unknown & (ids >= labelled)
        if self.unknown_index is not None:
            ids = torch.where(unknown, self.unknown_index, ids)
        else:
            bad |= unknown
        if bad.any():
            value = int(raw[bad].flatten()[0])
            accepted = f"file values {max(0, -self.shift)}..{labelled - 1 - self.shift}"
            if self.unknown_index is not None:
                unknown_values = [*range(max(0, -self.shift)), self.unknown_value]
                shown = " and ".join(str(v) for v in unknown_values if v is not None)
                accepted += f", or {shown} for unknown" if shown else ""
            raise DatasetError(f"{where}: label value {value} has no class (expected {accepted})")
        return ids


def _integer_tensor(raw, where: object) -> torch.Tensor:
    """Label-file values as an integer tensor: a tensor as it is, a NumPy array converted; a
    TypeError naming `where` for anything else (floats, objects, lists)."""
    if isinstance(raw, np.ndarray):
        if raw.dtype.kind not in "iub":
            raise TypeError(f"{where}: label values must be integers; got a NumPy array of dtype {raw.dtype}")
        return torch.from_numpy(raw.astype(np.int64))
    if not torch.is_tensor(raw):
        raise TypeError(f"{where}: expected label values as a tensor or NumPy array of integers; got "
                        f"{type(raw).__name__}")
    if raw.is_floating_point() or raw.is_complex():
        raise TypeError(f"{where}: label values must be integers; got a tensor of dtype {raw.dtype}")
    return raw


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the library knows about one dataset.

    name: what configs, model files and messages call it.
    names, palette: class id i is names[i], drawn in colour palette[i] (r, g, b in 0..255).
    label_rule: how label-file values become class ids.
    eval_ids: per class id, its id in the segmentation metrics' classes, or IGNORED; None
      scores every class as itself except the unknown index.
    eval_names: names of the evaluated ids (None: the class names, minus an unknown last class).
    model_preset: the network preset this dataset trains with (`smis.networks.PRESETS`).
    native_size: (height, width) the authors train and generate at.
    instance_maps: whether the dataset has instance maps (the Cityscapes model needs them).
    """

    name: str
    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    label_rule: LabelRule = field(default_factory=LabelRule)
    eval_ids: tuple[int, ...] | None = None
    eval_names: tuple[str, ...] | None = None
    model_preset: str = "small"
    native_size: tuple[int, int] = (256, 256)
    instance_maps: bool = False

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        palette = tuple(tuple(int(v) for v in rgb) for rgb in self.palette)
        where = f"dataset spec {self.name!r}"
        if len(names) != len(palette):
            raise ValueError(f"{where}: {len(names)} class names but {len(palette)} palette colours")
        for name, rgb in zip(names, palette):
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError(f"{where}: colour of class {name!r} must be 3 values in 0..255; got {rgb}")
        unknown = self.label_rule.unknown_index
        if unknown is not None and not 0 <= unknown < len(names):
            raise ValueError(f"{where}: unknown_index {unknown} is outside [0, {len(names)})")
        eval_ids = self.eval_ids
        if eval_ids is None:
            eval_ids = tuple(IGNORED if c == unknown else c for c in range(len(names)))
        if len(eval_ids) != len(names):
            raise ValueError(f"{where}: {len(eval_ids)} evaluation ids for {len(names)} classes")
        eval_names = self.eval_names
        if eval_names is None:
            eval_names = tuple(n for c, n in enumerate(names) if eval_ids[c] != IGNORED)
        if sorted({i for i in eval_ids if i != IGNORED}) != list(range(len(eval_names))):
            raise ValueError(f"{where}: evaluation ids must cover 0..{len(eval_names) - 1}")
        for key, value in (("names", names), ("palette", palette), ("eval_ids", tuple(eval_ids)),
                           ("eval_names", tuple(eval_names)), ("native_size", tuple(self.native_size))):
            object.__setattr__(self, key, value)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def num_eval_classes(self) -> int:
        return len(self.eval_names)

    def palette_tensor(self) -> torch.Tensor:
        """(num_classes, 3) uint8: palette_tensor()[label] colours a label map."""
        return torch.tensor(self.palette, dtype=torch.uint8).reshape(self.num_classes, 3)

    def class_index(self, name: str) -> int:
        """A class id by name, with an error listing the valid names."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"{self.name} has no class {name!r}; its classes are "
                             f"{', '.join(self.names)}") from None

    def to_class_ids(self, raw: torch.Tensor | np.ndarray, where: object = "label map") -> torch.Tensor:
        """Label-file values (a tensor or NumPy array of integers) -> int64 class ids (see LabelRule)."""
        return self.label_rule.to_class_ids(raw, self.num_classes, where)

    def ground_truth(self, label: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
        """(B,1,H,W) or (B,H,W) class ids -> (B,H,W) evaluated ids; ignore_index where not scored."""
        if label.dim() == 4:
            if label.shape[1] != 1:
                raise ValueError(f"label must be (B,1,H,W) class ids; got {tuple(label.shape)} (one-hot?)")
            label = label[:, 0]
        if label.dim() != 3:
            raise ValueError(f"label must be (B,1,H,W) or (B,H,W); got {tuple(label.shape)}")
        if label.is_floating_point() or label.is_complex() or label.dtype == torch.bool:
            raise TypeError(f"label must hold integer class ids; got {label.dtype}")
        if label.numel() and (label.min() < 0 or label.max() >= self.num_classes):
            raise ValueError(f"{self.name} class ids must be in 0..{self.num_classes - 1}; got values in "
                             f"{int(label.min())}..{int(label.max())}")
        lookup = torch.tensor(self.eval_ids, dtype=torch.int64, device=label.device)
        lookup = torch.where(lookup == IGNORED, ignore_index, lookup)
        return lookup[label.long()]

    # --- stored in model files ---------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain values (for a model file, loadable with weights_only=True)."""
        return {"name": self.name, "names": list(self.names), "palette": [list(c) for c in self.palette],
                "label_rule": dict(vars(self.label_rule)), "eval_ids": list(self.eval_ids),
                "eval_names": list(self.eval_names), "model_preset": self.model_preset,
                "native_size": list(self.native_size), "instance_maps": self.instance_maps}

    @classmethod
    def from_dict(cls, d: dict) -> DatasetSpec:
        d = dict(d)
        d["label_rule"] = LabelRule(**d.get("label_rule", {}))
        for key in ("names", "palette", "eval_ids", "eval_names", "native_size"):
            if d.get(key) is not None:
                d[key] = tuple(tuple(v) if isinstance(v, list) else v for v in d[key])
        return cls(**d)
