"""Inputs that used to give a wrong result without a word: lossy label maps, palette PNGs painted in
the model's colours, seeds that are not integers in range, NaN in codes, photos and model files,
empty class lists, unbounded interpolations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from smis import Synthesizer
from smis.data import SYNTHETIC
from smis.inputs import read_label
from smis.latents import MAX_SEED, LatentLayout
from smis.networks import GroupDNet, preset

SKY, GRASS, CAR, TREE = (SYNTHETIC.class_index(n) for n in ("sky", "grass", "car", "tree"))


def scene_ids() -> np.ndarray:
    ids = np.full((128, 128), GRASS, np.uint8)
    ids[:48] = SKY
    ids[90:110, 30:70] = CAR
    return ids


def test_a_jpeg_label_map_is_refused(tmp_path):
    Image.fromarray(scene_ids(), "L").save(tmp_path / "label.jpg", quality=95)
    refused = "a JPEG label map: lossy compression changes the class ids"
    with pytest.raises(ValueError, match="label.jpg: " + refused):
        read_label(tmp_path / "label.jpg", SYNTHETIC, "input")
    with pytest.raises(ValueError, match=refused):                   # opened by the caller
        read_label(Image.open(tmp_path / "label.jpg"), SYNTHETIC, "input")


def test_a_palette_png_in_the_models_colours_is_read_by_colour(tmp_path):
    ids = scene_ids()
    # a paint program's palette: the model's colours, in an order of its own (index 0 = car's colour, ...)
    order = [CAR, SKY, GRASS]
    indices = np.zeros_like(ids)
    for i, c in enumerate(order):
        indices[ids == c] = i
    picture = Image.fromarray(indices, "P")
    picture.putpalette([v for c in order for v in SYNTHETIC.palette[c]])
    picture.save(tmp_path / "painted.png")
    warned = "painted.png: a palette PNG whose colours are the synthetic palette's"
    with pytest.warns(UserWarning, match=warned):
        label = read_label(tmp_path / "painted.png", SYNTHETIC, "input")
    assert torch.equal(label[0, 0], torch.from_numpy(ids.astype(np.int64)))
    # a palette PNG whose indices are the class ids (the datasets' files) reads by index, silently
    as_ids = Image.fromarray(ids, "P")
    as_ids.putpalette([v for rgb in SYNTHETIC.palette for v in rgb])
    as_ids.save(tmp_path / "ids.png")
    by_index = read_label(tmp_path / "ids.png", SYNTHETIC, "input")[0, 0]
    assert torch.equal(by_index, torch.from_numpy(ids.astype(np.int64)))


@pytest.mark.parametrize("seeds", [[-5], [2**32], [2**64], [1.5], [True], ["abc"], 5, "7", []])
def test_seeds_are_integers_in_range_or_an_error(seeds):
    net = GroupDNet(preset("small", num_classes=8, ngf=4, encoder_width=16), with_discriminator=False)
    net.spec = SYNTHETIC
    synth = Synthesizer(net, device="cpu")
    with pytest.raises(ValueError, match=r"seed"):
        synth.sample(scene_ids(), seeds)
    with pytest.raises(ValueError, match=r"seed"):
        synth.resample(["sky"], seeds, label=scene_ids())


def test_seeds_at_the_ends_of_the_range_are_distinct_looks():
    layout = LatentLayout(8, 8)
    codes = [layout.sample(s, 1, 2) for s in (0, MAX_SEED, np.int64(7), 7)]
    assert not torch.equal(codes[0], codes[1]) and torch.equal(codes[2], codes[3])


@pytest.fixture(scope="module")
def synth():
    net = GroupDNet(preset("small", num_classes=8, ngf=4, encoder_width=16), with_discriminator=False)
    net.spec = SYNTHETIC
    return Synthesizer(net, device="cpu")


def test_nan_codes_photos_and_empty_class_lists_are_refused(synth, tmp_path):
    codes = synth.sample(scene_ids(), [0]).codes[0]
    broken = codes.z.clone()
    broken[0, 0, 0, 0] = float("nan")
    from dataclasses import replace

    with pytest.raises(ValueError, match="codes hold 1 non-finite values"):
        synth.decode([replace(codes, z=broken)])
    path = replace(codes, z=broken).save(tmp_path / "nan.codes")
    with pytest.raises(ValueError, match="nan.codes: its codes .z. are missing or hold NaN"):
        type(codes).load(path)
    photo = torch.zeros(1, 3, 128, 128)
    photo[0, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="1 NaN or inf values"):
        synth.encode(photo, scene_ids())
    with pytest.raises(ValueError, match="no classes given"):
        synth.resample([], [1], codes=codes)
    for steps in (1, 10_000, 2.5):
        with pytest.raises(ValueError, match=f"steps={steps!r}: expected an integer from 2"):
            synth.interpolate(codes, codes, steps=steps)


def test_a_model_file_with_nan_weights_is_refused(tmp_path):
    from smis.hub import load_model, save_model

    net = GroupDNet(preset("small", num_classes=8, ngf=4, encoder_width=16), with_discriminator=False)
    with torch.no_grad():
        next(net.generator.parameters())[0] = float("inf")
    path = save_model(net, tmp_path / "diverged.pt")
    with pytest.raises(ValueError, match=r"diverged.pt: 1 weight tensors hold NaN or inf values \(generator"):
        load_model(path)


def test_a_photo_of_another_shape_than_its_label_map_is_refused(synth):
    photo = np.zeros((128, 256, 3), np.uint8)
    with pytest.raises(ValueError, match="the photo is 256x128 but its label map is 128x128: they must show"):
        synth.encode(photo, scene_ids())
    bigger = np.zeros((256, 256, 3), np.uint8)                      # the same shape, larger: resized
    assert synth.encode(bigger, scene_ids()).z.shape[-2:] == (2, 2)
