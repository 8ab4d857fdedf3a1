"""Pretrained-network files in their published formats, with random weights (nothing downloaded)."""

from pathlib import Path
from unittest import mock

import torch
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
import torchvision

from smis.evaluation.diversity import ALEXNET_FILE
from smis.evaluation.fid import INCEPTION_FILE


def random_inception_file(folder: Path) -> Path:
    """torch-fidelity's Inception-v3 state_dict with random weights: built with its loading skipped."""
    extractor = tf_inception.FeatureExtractorInceptionV3
    with mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: None), \
         mock.patch.object(extractor, "load_state_dict", lambda self, sd: None):
        net = extractor("inception-v3-compat", ["2048"])
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), folder / INCEPTION_FILE)
    return folder / INCEPTION_FILE


def random_alexnet_file(folder: Path, seed: int = 0) -> Path:
    """torchvision's alexnet state_dict (the LPIPS backbone) with random weights."""
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), folder / ALEXNET_FILE)
    return folder / ALEXNET_FILE
