"""A small GroupDNet whose images respond to every edit, and a studio around it."""

from __future__ import annotations

import re

import numpy as np
import torch

from smis import Synthesizer
from smis.data import SYNTHETIC
from smis.networks import GroupDNet, preset
from smis.studio import Limits, Studio

SKY, GRASS, ROAD, CAR = (SYNTHETIC.class_index(n) for n in ("sky", "grass", "road", "car"))
H = W = 128
K = 8                                            # latent channels per class


@torch.no_grad()
def tiny_net() -> GroupDNet:
    """A small GroupDNet whose images respond to the label map and to every class's code. Fresh
    weights make garbage: the spectral norms' power iterations have not run (so their weights are
    far too large) and the authors' 0.02 init silences the plain convs. Run the iterations and give
    the plain convs of the generator a larger gain: its images are not photos, but every edit shows."""
    from torch.nn.utils.spectral_norm import SpectralNorm

    torch.manual_seed(0)
    net = GroupDNet(preset("small", num_classes=8, ngf=4, encoder_width=16), with_discriminator=False)
    net.spec = SYNTHETIC
    for m in net.modules():
        for hook in m._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm):
                for _ in range(30):
                    hook.compute_weight(m, do_power_iteration=True)
    for m in net.generator.modules():
        if isinstance(m, torch.nn.Conv2d) and not hasattr(m, "weight_orig"):
            m.weight.mul_(100)
    return net.eval()


def make_studio(**limits) -> Studio:
    limits = {"max_bytes": 256 * 1024, "max_pixels": 1024 * 1024, "max_sessions": 8, "examples": 3, **limits}
    return Studio(Synthesizer(tiny_net(), device="cpu"), limits=Limits(**limits), description="test model")


def sky_grass() -> np.ndarray:
    ids = np.full((H, W), GRASS, np.uint8)
    ids[: H // 2] = SKY
    return ids


# where the tests' clients say the studio is served
OWN = "http://127.0.0.1:8765"


def served(**limits):
    """A studio served to local hosts as the command line does, and a client of its own origin."""
    from smis.studio import create_app
    from smis.studio.app import LOCAL_HOSTS
    from tests.helpers.http import TestClient

    studio = make_studio(**limits)
    return studio, TestClient(create_app(studio, allowed_hosts=LOCAL_HOSTS), base_url=OWN)


def json_error(r, status: int, match: str) -> str:
    """The response is the studio's JSON error with this status, its message matching: -> the message."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "field"} and re.search(match, body["error"]), body
    return body["error"]
