"""Evaluation protocols: the named presets of `configs/protocol/` (`python -m smis.evaluate protocol=spade`)
and the scoring choices they pin.

A protocol (the `protocol` config group) pins what makes published FID / mIoU / accuracy numbers differ:
the segmenter and its weight release, the size it scores at and how images and labels reach it (one size,
or CSAIL's averaged scales), how generated images are quantised, how the dataset's ignored labels and absent
classes count, the FID pipeline (pytorch-fid or torch-fidelity resize, quantisation, layer, reference split
and size) and the number of images. `resolve` applies it to one dataset, with the command line's overrides
listed as deviations; the scoring helpers below do what its rules say.

Segmentation rules (protocol.segmentation, overridden per dataset under protocol.datasets.NAME):

- size: null (the generated size) or [H, W]: generated images resized (`image_resize`) and label maps
  resized nearest before segmenting; scored at that size.
- scales: null (one pass) or CSAIL's test scales: per shorter side s the image is resized to
  min(s / short side, max_size / long side) times its size, rounded up to a multiple of `padding`; the class
  probabilities, resized back to the label size, are averaged (semantic-segmentation-pytorch eval.py).
- quantize: round / truncate / none: the generated image as a saved PNG (round), as SPADE's tensor2im saves it
  (truncate), or the float output.
- ignored_in_accuracy, ignored_in_miou: exclude (pixels whose label the dataset ignores are not scored: the
  cityscapesScripts rule) or count (they stay in: always a miss in pixel accuracy, a false positive of the
  predicted class in IoU).
- absent_classes: skip (a class in neither ground truth nor predictions is left out of the mean:
  cityscapesScripts, fyu/drn) or zero (it counts 0: CSAIL's mean over all classes).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from ..config import CONFIG_DIR
from .confusion import ConfusionMatrix
from .fid import QUANTIZE, RESIZES, to_pixels

IGNORED_RULES = ("exclude", "count")
ABSENT_RULES = ("skip", "zero")
IMAGE_RESIZES = ("bilinear", "bicubic")
LABEL_RESIZES = ("nearest",)
SEGMENTATION_KEYS = ("size", "image_resize", "label_resize", "scales", "max_size", "padding", "quantize",
                     "ignored_in_accuracy", "ignored_in_miou", "absent_classes")
FID_KEYS = ("resize", "quantize", "feature", "reference_split", "size")
WEIGHT_PATH_KEYS = ("weights", "weights_dir", "encoder_weights", "decoder_weights")


class ProtocolError(ValueError):
    """A protocol preset or override that cannot be applied: raised before anything is loaded."""


# --- reading a preset --------------------------------------------------------------------------------


def _plain(node) -> dict:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node or {})


def _one_of(where: str, value, allowed) -> None:
    if value not in allowed:
        raise ProtocolError(f"{where}={value!r}; expected one of {list(allowed)}")


def _size_or_null(where: str, value) -> None:
    ok = value is None or (isinstance(value, (list, tuple)) and len(value) == 2
                           and all(isinstance(v, int) and v > 0 for v in value))
    if not ok:
        raise ProtocolError(f"{where}={value!r}; expected null or [height, width] in pixels")


def segmentation_rules(protocol, dataset: str) -> dict:
    """protocol.segmentation with protocol.datasets.<dataset>'s overrides, checked."""
    rules = _plain(protocol.segmentation)
    extra = {k: v for k, v in _plain(protocol.get("datasets", {}).get(dataset)).items()
             if k not in ("segmenter", "expected_images")}
    unknown = (set(rules) | set(extra)) - set(SEGMENTATION_KEYS)
    if unknown:
        raise ProtocolError(f"protocol {protocol.name}: unknown segmentation settings {sorted(unknown)}; "
                            f"expected {list(SEGMENTATION_KEYS)}")
    rules.update(extra)
    missing = [k for k in SEGMENTATION_KEYS if k not in rules]
    if missing:
        raise ProtocolError(f"protocol {protocol.name}: segmentation settings {missing} are not pinned")
    where = f"protocol {protocol.name} ({dataset})"
    _size_or_null(f"{where} size", rules["size"])
    _one_of(f"{where} image_resize", rules["image_resize"], IMAGE_RESIZES)
    _one_of(f"{where} label_resize", rules["label_resize"], LABEL_RESIZES)
    _one_of(f"{where} quantize", rules["quantize"], QUANTIZE)
    _one_of(f"{where} ignored_in_accuracy", rules["ignored_in_accuracy"], IGNORED_RULES)
    _one_of(f"{where} ignored_in_miou", rules["ignored_in_miou"], IGNORED_RULES)
    _one_of(f"{where} absent_classes", rules["absent_classes"], ABSENT_RULES)
    scales = rules["scales"]
    if scales is not None and not (scales and all(isinstance(s, int) and s > 0 for s in scales)):
        raise ProtocolError(f"{where} scales={scales!r}; expected null or a list of shorter sides in pixels")
    for key in ("max_size", "padding"):
        if not (isinstance(rules[key], int) and rules[key] > 0):
            raise ProtocolError(f"{where} {key}={rules[key]!r}; expected a positive integer")
    return rules


def fid_rules(protocol) -> dict:
    """protocol.fid, checked."""
    rules = _plain(protocol.fid)
    missing = [k for k in FID_KEYS if k not in rules]
    if missing or set(rules) - set(FID_KEYS):
        raise ProtocolError(f"protocol {protocol.name}: fid settings must be exactly {list(FID_KEYS)} "
                            f"(missing {missing}, unknown {sorted(set(rules) - set(FID_KEYS))})")
    where = f"protocol {protocol.name} fid"
    _one_of(f"{where}.resize", rules["resize"], RESIZES)
    _one_of(f"{where}.quantize", rules["quantize"], QUANTIZE)
    if rules["resize"] == "torch_fidelity" and rules["quantize"] == "none":
        raise ProtocolError(f"{where}: torch-fidelity's pipeline takes 8-bit pixels; quantize=none is for "
                            "pytorch_fid only")
    _one_of(f"{where}.feature", rules["feature"], (64, 192, 768, 2048))
    _size_or_null(f"{where}.size", rules["size"])
    return rules


def check_protocol(protocol) -> None:
    """Every block of a preset is complete and valid (for every dataset it names)."""
    if not protocol.get("name"):
        raise ProtocolError("the protocol has no name: select one with protocol=NAME (configs/protocol/)")
    fid_rules(protocol)
    segmentation_rules(protocol, "")
    for dataset in protocol.get("datasets", {}) or {}:
        segmentation_rules(protocol, dataset)
    images = protocol.get("images")
    if images is not None and not (isinstance(images, int) and images > 0):
        raise ProtocolError(f"protocol {protocol.name} images={images!r}; expected null or a positive "
                            "integer")


# --- one run's settings ------------------------------------------------------------------------------


@dataclass
class Applied:
    """A protocol applied to one dataset, with the command line's overrides (listed in `deviations`)."""

    name: str
    dataset: str
    fid: dict
    segmentation: dict
    segmenter: dict | None
    segmenter_option: str | None
    images: int | None
    expected_images: int | None
    deviations: list[str] = field(default_factory=list)

    def record(self, preset, weight_files: dict | None = None) -> dict:
        """What metrics.json keeps under settings.protocol: the preset as composed and what this run used."""
        segmenter = None if self.segmenter is None else {
            k: v for k, v in self.segmenter.items() if k not in WEIGHT_PATH_KEYS}
        return {**_plain(preset), "applied": {
            "dataset": self.dataset, "images": self.images, "fid": self.fid, "segmenter": segmenter,
            "segmentation": self.segmentation, "weight_files": weight_files or {}},
            "deviations": list(self.deviations)}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def preset_changes(protocol) -> list[str]:
    """Settings of a shipped preset changed on the command line (protocol.KEY=VALUE), one line each; none
    for a preset that is not one of configs/protocol/."""
    path = CONFIG_DIR / "protocol" / f"{protocol.name}.yaml"
    if not path.is_file():
        return []
    shipped, used = _flat(_plain(OmegaConf.load(path))), _flat(_plain(protocol))
    return [f"protocol.{key}={used.get(key)} (preset {protocol.name}: {shipped.get(key)})"
            for key in sorted(set(shipped) | set(used)) if shipped.get(key) != used.get(key)]


def _segmenter(cfg, dataset: str, protocol_spec: dict | None, deviations: list[str]):
    """-> (spec to instantiate, the option naming its weights): the protocol's segmenter with the weight
    locations of segmenters.<dataset>, or a full spec given by `segmenter` / `segmenters.<dataset>`."""
    local = _plain(cfg.get("segmenters", {}).get(dataset))
    own, option = None, None
    if cfg.get("segmenter"):
        own, option = _plain(cfg.segmenter), "segmenter"
    elif local.get("_target_"):
        own, option = local, f"segmenters.{dataset}"
    if own is not None:
        theirs = (protocol_spec or {}).get("_target_", f"none for {dataset}")
        deviations.append(f"{option}={own['_target_']} replaces the protocol's segmenter ({theirs})")
        spec = own
    elif protocol_spec is None:
        return None, None
    else:                                       # the entry says where the weights are (_target_: null)
        local.pop("_target_", None)
        spec, option = {**protocol_spec, **local}, f"segmenters.{dataset}"
    option += ".weights_dir" if "weights_dir" in spec else ".weights"
    return spec, option


def resolve(cfg, dataset: str) -> Applied:
    """cfg.protocol applied to `dataset`; the top-level options segmenter, segmenters.<dataset> (a full spec),
    segmentation_size, fid.feature and max_images override it and are listed as deviations."""
    protocol = cfg.protocol
    check_protocol(protocol)
    deviations = preset_changes(protocol)
    per_dataset = _plain(protocol.get("datasets", {}).get(dataset))
    rules = segmentation_rules(protocol, dataset)
    if cfg.get("segmentation_size") is not None and list(cfg.segmentation_size) != rules["size"]:
        _size_or_null("segmentation_size", list(cfg.segmentation_size))
        deviations.append(f"segmentation_size={list(cfg.segmentation_size)} (protocol: {rules['size']})")
        rules["size"] = list(cfg.segmentation_size)
    fid = fid_rules(protocol)
    feature = cfg.get("fid", {}).get("feature")
    if feature is not None and feature != fid["feature"]:
        deviations.append(f"fid.feature={feature} (protocol: {fid['feature']})")
        fid["feature"] = feature
    images = protocol.get("images")
    if cfg.get("max_images") is not None and cfg.max_images != images:
        deviations.append(f"max_images={cfg.max_images} (protocol: {images or 'the whole split'})")
        images = cfg.max_images
    spec, option = _segmenter(cfg, dataset, per_dataset.get("segmenter"), deviations)
    return Applied(protocol.name, dataset, fid, rules, spec, option, images,
                   per_dataset.get("expected_images"), deviations)


def file_digest(path: Path) -> str:
    """The first 16 hex digits of a file's sha256: names a weight file's content in metrics.json."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


# --- segmentation as the rules say -------------------------------------------------------------------


def resize_images(images: torch.Tensor, size, mode: str) -> torch.Tensor:
    """(B,3,H,W) in [-1,1] -> (B,3,*size): half-pixel bilinear / bicubic without antialiasing (as
    F.interpolate, cv2.resize and the segmenters' own test code resize)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    out = F.interpolate(images, size=tuple(size), mode=mode, align_corners=False)
    return out.clamp(-1, 1) if mode == "bicubic" else out


def segmentation_batch(fake: torch.Tensor, label: torch.Tensor, rules: dict):
    """The generated images and label maps as the segmenter sees and scores them: quantised, then resized
    to rules['size'] (labels nearest)."""
    images = to_pixels(fake, rules["quantize"]) / 127.5 - 1
    if rules["size"]:
        images = resize_images(images, rules["size"], rules["image_resize"])
        label = F.interpolate(label.float(), size=tuple(rules["size"]), mode="nearest").long()
    return images, label


def csail_size(height: int, width: int, short: int, max_size: int, padding: int) -> tuple[int, int]:
    """CSAIL's test size for one scale: shorter side to `short` unless the longer would pass `max_size`,
    truncated, then rounded up to a multiple of `padding`."""
    scale = min(short / min(height, width), max_size / max(height, width))
    return tuple(-(-int(n * scale) // padding) * padding for n in (height, width))


@torch.no_grad()
def predict(segmenter, images: torch.Tensor, rules: dict) -> torch.Tensor:
    """(B,3,H,W) in [-1,1] -> (B,H,W) class ids: one pass, or the mean class probabilities over CSAIL's
    scales, each resized back to (H, W)."""
    if not rules["scales"]:
        return segmenter(images).argmax(1)
    size = tuple(images.shape[-2:])
    probs = 0
    for short in rules["scales"]:
        scaled = resize_images(images, csail_size(*size, short, rules["max_size"], rules["padding"]),
                               rules["image_resize"])
        probs = probs + segmenter(scaled, size=size).softmax(1) / len(rules["scales"])
    return probs.argmax(1)


class IgnoredPixels:
    """Predictions on pixels whose ground truth is not scored, by predicted class (last bin: outside
    0..K-1): what the `count` rules put back into the scores."""

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.counts = torch.zeros(num_classes + 1, dtype=torch.int64)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        k = self.num_classes
        on_ignored = pred[target == self.ignore_index].long()
        on_ignored = torch.where((on_ignored >= 0) & (on_ignored < k), on_ignored, k)
        self.counts += torch.bincount(on_ignored, minlength=k + 1).cpu()


def segmentation_scores(confusion: ConfusionMatrix, ignored: IgnoredPixels, rules: dict) -> dict:
    """mIoU, pixel accuracy and (K,) per-class IoU (NaN where TP + FP + FN = 0) under the rules."""
    state, k = confusion.state.double().cpu(), confusion.num_classes
    tp = state.diagonal()
    fn = state.sum(1) - tp
    fp = state[:, :k].sum(0) - tp
    if rules["ignored_in_miou"] == "count":
        fp = fp + ignored.counts[:k].double()
    denom = tp + fp + fn
    iou = torch.where(denom > 0, tp / denom.clamp(min=1), math.nan)
    miou = torch.nanmean(iou) if rules["absent_classes"] == "skip" else torch.nan_to_num(iou, 0.0).mean()
    total = float(state.sum())
    if rules["ignored_in_accuracy"] == "count":
        total += float(ignored.counts.sum())
    accuracy = float(tp.sum()) / total if total else math.nan
    return {"miou": float(miou), "pixel_accuracy": accuracy, "iou": iou}
