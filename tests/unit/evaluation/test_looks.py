"""The looks metric (how varied sampled looks are next to the data's) on constructed decoders whose
answer is known: one that ignores the code, one that copies a real image's looks."""

from __future__ import annotations

import math

import pytest
import torch

from smis.evaluation.looks import LookSpread, class_looks

N, H, W = 12, 32, 32


def real_scenes() -> tuple[torch.Tensor, torch.Tensor]:
    """N scenes of one layout (class 0 above class 1), each class with its own colour and texture
    strength per image."""
    g = torch.Generator().manual_seed(0)
    label = torch.zeros(N, 1, H, W, dtype=torch.long)
    label[:, :, H // 2:] = 1
    colours = torch.rand(N, 2, 3, generator=g) * 1.6 - 0.8                    # per image and class
    strength = torch.rand(N, 2, generator=g) * 0.2
    noise = torch.randn(N, 1, H, W, generator=g)
    images = torch.empty(N, 3, H, W)
    for c in range(2):
        painted = colours[:, c, :, None, None] + strength[:, c, None, None, None] * noise
        images = torch.where(label == c, painted, images)
    return images.clamp(-1, 1), label


def test_a_decoder_that_ignores_the_code_has_ratio_0():
    images, label = real_scenes()
    spread = LookSpread(2)
    spread.add_real(images, label)
    decode = lambda z: images[:1].expand(len(z), -1, -1, -1)                  # noqa: E731  the same image
    spread.add_sampled(decode(torch.randn(8, 4)), label[:8])
    result = spread.summary(("top", "bottom"))
    assert result["ratio"] == 0 and set(result["per_class"]) == {"top", "bottom"}
    real_mean = class_looks(images, label, 2)[0][:, :3].mean(0)
    first = class_looks(images[:1], label[:1], 2)[0][0, :3]
    assert result["per_class"]["top"]["bias"] == pytest.approx(float((first - real_mean).norm()), rel=1e-5)


def test_a_decoder_that_copies_real_looks_has_ratio_1_full_coverage_and_no_bias():
    images, label = real_scenes()
    spread = LookSpread(2)
    spread.add_real(images, label)
    decode = lambda z: images[z.argmax(1)]                                    # noqa: E731  z picks an image
    spread.add_sampled(decode(torch.eye(N)), label)                            # each real image once
    result = spread.summary()
    assert result["ratio"] == pytest.approx(1.0, abs=1e-9)
    assert result["coverage"] == 1.0 and result["bias"] == pytest.approx(0.0, abs=1e-9)
    half = LookSpread(2)                                                       # half the variety:
    half.add_real(images, label)                                               # looks pulled to the mean
    mean = images.mean(0, keepdim=True)
    half.add_sampled((images + mean) / 2, label)
    assert half.summary()["ratio"] == pytest.approx(0.5, rel=0.03)             # (clamping bends it a little)


def test_texture_is_measured_inside_the_region_only():
    images, label = real_scenes()
    looks = class_looks(images, label, 2)
    assert looks[0].shape == (N, 4) and looks[1].shape == (N, 4)
    flat = torch.where(label == 0, torch.tensor(0.5), torch.tensor(-0.5)).expand(-1, 3, -1, -1)
    assert torch.equal(class_looks(flat, label, 2)[0][:, 3], torch.zeros(N))   # the border is not texture


def test_too_few_looks_give_no_number():
    images, label = real_scenes()
    spread = LookSpread(2)
    spread.add_real(images[:1], label[:1])
    spread.add_sampled(images, label)
    assert spread.summary()["per_class"] == {} and math.isnan(spread.summary()["ratio"])
