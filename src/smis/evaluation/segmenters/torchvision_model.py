"""Any torchvision.models.segmentation model as a segmenter, loaded from the user's own weight file
(e.g. a DeepLabV3 fine-tuned on Cityscapes trainIds). Nothing is downloaded: the model is built with
weights=None, weights_backbone=None."""

from __future__ import annotations

import os

import torch
import torchvision

from smis.evaluation.segmenters.base import IMAGENET_MEAN, IMAGENET_STD, Segmenter, load_exact
from smis.weights import load_state_dict
from smis.weights.store import given_file


def segmentation_model_names() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models.segmentation))


class TorchvisionSegmenter(Segmenter):
    """Wraps a torchvision segmentation model (its dict output's 'out', already at the input size)."""

    def __init__(self, name: str, num_classes: int, ignore_index: int = 255,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__(num_classes, mean, std, ignore_index)
        if name not in segmentation_model_names():
            raise ValueError(f"unknown torchvision segmentation model {name!r}; expected one of "
                             f"{segmentation_model_names()}")
        self.name = name
        self.model = torchvision.models.get_model(name, weights=None, weights_backbone=None,
                                                  num_classes=num_classes)
        self.eval()

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def torchvision_segmenter(model: str, num_classes: int, weights: str | os.PathLike | None = None,
                          ignore_index: int = 255, mean=IMAGENET_MEAN,
                          std=IMAGENET_STD, pretrained: bool = True) -> TorchvisionSegmenter:
    """torchvision model `model` (e.g. 'deeplabv3_resnet50') with `num_classes` outputs, loaded from
    `weights` (a state_dict of that model, as model.state_dict() saves it). It predicts the dataset
    spec's evaluated classes (e.g. Cityscapes' 19 trainIds): num_classes must be their number.
    Auxiliary-head weights (aux_classifier.*) are not needed and dropped."""
    what = f"torchvision {model} segmenter"
    if pretrained and weights is None:
        raise ValueError(f"{what}: pass `weights`, the path of a state_dict file for {model} with "
                         f"num_classes={num_classes} (torchvision's own checkpoints are not used)")
    path = None
    if pretrained:  # before building: a missing file fails fast
        path = given_file(weights, "segmenter.weights", what=what)
    segmenter = TorchvisionSegmenter(model, num_classes, ignore_index, mean, std)
    if path is not None:
        state = {k: v for k, v in load_state_dict(path, what).items()
                 if not k.removeprefix("module.").startswith("aux_classifier.")}
        load_exact(segmenter.model, state, what, path)
        segmenter.weight_files = [path]
    return segmenter.eval().requires_grad_(False)
