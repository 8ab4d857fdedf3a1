"""Inputs that used to give a wrong result without a word: lossy label maps, palette PNGs painted in
the model's colours, seeds that are not integers in range, NaN in codes, photos and model files,
empty class lists, unbounded interpolations."""

from __future__ import annotations

import re

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
    with pytest.raises(ValueError, match=r"nan.codes: the codes file holds 1 NaN or inf values in z"):
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


# --- arguments of the wrong kind: named, with what was expected ----------------------------------------
def ids():
    return scene_ids()


WRONG = {   # id: (call(synth, tmp_path, codes), error, message)
    "size-word": (lambda s, t, c: s.sample(ids(), [0], size="big"), ValueError,
                  r"size='big': expected \(H, W\)"),
    "size-one": (lambda s, t, c: s.sample(ids(), [0], size=(64,)), TypeError,
                 r"size=\(64,\): expected \(H, W\)"),
    "size-float": (lambda s, t, c: s.sample(ids(), [0], size=2.5), TypeError,
                   r"size=2.5: expected \(H, W\)"),
    "size-zero": (lambda s, t, c: s.sample(ids(), [0], size=(0, 0)), ValueError,
                  r"size 0x0: GroupDNet needs both sides to be multiples of 64 \(64 at"),
    "seed-word": (lambda s, t, c: s.sample(ids(), ["abc"]), ValueError,
                  r"seeds: 'abc' is not a seed; expected"),
    "seeds-int": (lambda s, t, c: s.sample(ids(), 5), ValueError,
                  r"seeds=5: expected a list of integers"),
    "resample-none": (lambda s, t, c: s.resample(None, [1], codes=c), ValueError,
                      r"classes=None: no classes given; expected a list of class names"),
    "transfer-none": (lambda s, t, c: s.transfer(c, c, None), ValueError,
                      r"classes=None: no classes given"),
    "class-float": (lambda s, t, c: s.resample([2.5], [1], codes=c), TypeError,
                    r"classes: 2.5 is neither a class name nor a class id"),
    "class-id": (lambda s, t, c: s.resample([8], [1], codes=c), ValueError,
                 r"class id 8 is outside \[0, 7\]"),
    "steps-float": (lambda s, t, c: s.interpolate(c, c, steps=2.5), ValueError,
                    r"steps=2.5: expected an integer from 2 \(both ends\) to 256"),
    "steps-many": (lambda s, t, c: s.interpolate(c, c, steps=257), ValueError,
                   r"steps=257: .* from 2 .* to 256"),
    "codes-str": (lambda s, t, c: s.interpolate(c, "b.codes"), TypeError,
                  r"codes b: expected smis.Codes .*; got str"),
    "codes-none": (lambda s, t, c: s.manipulate(ids(), None), TypeError,
                   r"codes: expected smis.Codes .*; got NoneType"),
    "batch-size": (lambda s, t, c: Synthesizer(s.net, device="cpu", batch_size=0), ValueError,
                   r"batch_size=0: expected an integer >= 1"),
    "max-pixels": (lambda s, t, c: Synthesizer(s.net, device="cpu", max_pixels=10), ValueError,
                   r"max_pixels=10: expected an integer >= 4096"),
    "device": (lambda s, t, c: Synthesizer(s.net, device="tpu"), ValueError,
               r"device='tpu': not a device; expected auto, cpu, cuda"),
    "object-array": (lambda s, t, c: s.label(np.zeros((64, 64), dtype=object)), TypeError,
                     r"label map: a NumPy array of dtype object; expected integer class ids"),
    "folder": (lambda s, t, c: s.label(t), ValueError,
               r"label map .* is a folder, not an image file"),
    "three-d": (lambda s, t, c: s.label(torch.zeros(3, 64, 64, dtype=torch.int64)), ValueError,
                r"expected class ids of shape \(H, W\), \(1, H, W\) or \(1, 1, H, W\); got \(3, 64, 64\)"),
    "empty": (lambda s, t, c: s.label(np.zeros((0, 0), np.int64)), ValueError,
              r"label map is empty \(0x0\)"),
    "output": (lambda s, t, c: s.sample(ids(), [0], output="png"), ValueError,
               r"output='png'; expected one of"),
}


@pytest.mark.parametrize("case", WRONG)
def test_arguments_of_the_wrong_kind_are_named(synth, tmp_path, case):
    call, error, match = WRONG[case]
    codes = synth.sample(scene_ids(), [0]).codes[0]
    decoded = []
    decode = synth.net.decode
    synth.net.decode = lambda *a, **k: decoded.append(1) or decode(*a, **k)
    try:
        with pytest.raises(error, match=match):
            call(synth, tmp_path, codes)
    finally:
        synth.net.decode = decode
    assert decoded == []                             # refused before any work


def test_a_folder_label_is_also_an_is_a_directory_error(synth, tmp_path):
    with pytest.raises(IsADirectoryError, match=f"label map {tmp_path} is a folder"):
        synth.label(tmp_path)


def test_class_ids_take_numbers_and_digit_strings(synth):
    assert synth.class_ids(["3", np.int64(2), "sky", torch.tensor(5)]) == [3, 2, SKY, 5]
    assert synth.class_ids("4") == [4]


def test_to_class_ids_takes_numpy_arrays():
    from smis.data import ADE20K

    values = np.array([[0, 1, 150, 255]], np.uint8)
    expected = torch.tensor([[150, 0, 149, 150]])
    assert torch.equal(ADE20K.to_class_ids(values), expected)
    assert torch.equal(ADE20K.to_class_ids(torch.from_numpy(values)), expected)
    with pytest.raises(TypeError, match="label values must be integers; got a NumPy array of dtype float32"):
        ADE20K.to_class_ids(values.astype(np.float32))
    with pytest.raises(TypeError, match="expected label values as a tensor or NumPy array of integers"):
        ADE20K.to_class_ids([[1, 2]])


# --- limits on the work of one call -----------------------------------------------------------------
def test_label_maps_beyond_max_pixels_are_refused_before_reading(tmp_path, monkeypatch):
    from smis import inputs
    from smis.inputs import MAX_PIXELS
    from tests.helpers.images import png_header

    net = GroupDNet(preset("small", num_classes=8, ngf=4, encoder_width=16), with_discriminator=False)
    net.spec = SYNTHETIC
    assert Synthesizer(net, device="cpu").max_pixels == MAX_PIXELS == 4096 * 4096
    small = Synthesizer(net, device="cpu", max_pixels=128 * 128)
    limit = r"the limit is max_pixels=16384 \(0.0 megapixels\)"
    with pytest.raises(ValueError, match=r"label map is 256x256 = 0.1 megapixels; " + limit):
        small.sample(torch.zeros(256, 256, dtype=torch.int64), [0])
    with pytest.raises(ValueError, match=r"size=256x256 is 256x256 = 0.1 megapixels; " + limit):
        small.sample(scene_ids(), [0], size=(256, 256))
    with pytest.raises(ValueError, match=r"the photo is 256x256 = 0.1 megapixels; " + limit):
        small.encode(np.zeros((256, 256, 3), np.uint8), scene_ids())
    assert small.sample(scene_ids(), [0]).images[0].size == (128, 128)          # at the limit: fine
    # a file is measured from its header: a 400-megapixel PNG is refused without being decoded
    (tmp_path / "huge.png").write_bytes(png_header(20000, 20000))
    monkeypatch.setattr(inputs, "open_image", lambda *a: pytest.fail("decoded a label map beyond the limit"))
    with pytest.raises(ValueError, match=r"label map .*huge.png is 20000x20000 = 400.0 megapixels; the limit "
                                         r"is max_pixels=16777216 \(16.8 megapixels\)"):
        Synthesizer(net, device="cpu").label(tmp_path / "huge.png")


def test_an_image_beyond_pillows_limit_is_named_with_its_size(tmp_path):
    from smis.data import DatasetError
    from smis.data.io import image_size, open_image
    from tests.helpers.images import png_header

    (tmp_path / "bomb.png").write_bytes(png_header(20000, 20000))
    assert image_size(tmp_path / "bomb.png") == (20000, 20000)
    with pytest.raises(DatasetError, match=r"bomb.png: the label map is 20000x20000 = 400.0 megapixels, "
                                           r"beyond Pillow's limit of 179.0 megapixels against decompressi"):
        open_image(tmp_path / "bomb.png", "label map")


# --- codes and model files ----------------------------------------------------------------------------
def codes_file(synth, tmp_path, **changes):
    """A codes file of scene_ids() with entries changed (None: removed)."""
    path = synth.sample(scene_ids(), [0]).codes[0].save(tmp_path / "look.codes")
    d = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is None:
            del d[key]
        else:
            d[key] = value(d[key]) if callable(value) else value
    torch.save(d, path)
    return path


@pytest.mark.parametrize("changes, match", [
    ({"z": None}, r"has no z tensor \(the per-class codes\)"),
    ({"label": None}, r"has no label tensor"),
    ({"sources": lambda v: v[:3]}, r"holds 3 sources and 8 class names for 64 code channels"),
    ({"sources": "seed 0"}, r"holds sources 'seed 0'; expected a list of strings, one per class"),
    ({"label": lambda v: v.float()}, r"holds a label map of shape \(1, 1, 128, 128\) and dtype torch.float3"),
    ({"z": lambda v: v[0]}, r"holds z of shape \(64, 2, 2\) and dtype torch.float32; expected \(1, k\*C, h"),
], ids=["no-z", "no-label", "few-sources", "sources-str", "float-label", "z-3d"])
def test_a_broken_codes_file_names_the_file_and_the_entry(synth, tmp_path, changes, match):
    from smis import Codes

    path = codes_file(synth, tmp_path, **changes)
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}: the codes file {match}.*; encode or samp"):
        Codes.load(path)


def test_half_precision_codes_load_as_float32(synth, tmp_path):
    from smis import Codes

    codes = Codes.load(codes_file(synth, tmp_path, z=lambda v: v.half()))
    assert codes.z.dtype == torch.float32
    assert synth.manipulate(scene_ids(), codes).images[0].size == (128, 128)


def model_file(tmp_path, edit):
    from smis.hub import save_model

    net = GroupDNet(preset("small", num_classes=8, ngf=4, encoder_width=16), with_discriminator=False)
    path = save_model(net, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("edit, match", [
    (lambda p: p["state_dict"].__setitem__("generator.fc.weight", torch.zeros(3)),
     r"its weights do not fit its own config \(small, 8 classes, .*\): generator.fc.weight: expected shape "
     r"\(64, 8, 3, 3\), found \(3,\)"),
    (lambda p: p["state_dict"].pop("generator.fc.weight"),
     r"its weights do not fit its own config .*: generator.fc.weight is missing \(expected shape \(64, 8,"),
    (lambda p: p.pop("config"), r"an smis model file with no 'config' \(the network's settings\)"),
    (lambda p: p.pop("state_dict"), r"an smis model file with no 'state_dict' \(the weights\)"),
    (lambda p: p["config"].pop("widths"), r"its network config is unreadable \(KeyError: 'widths'\)"),
    (lambda p: p.__setitem__("dataset", {"name": "x"}), r"its dataset spec \(classes, palette\) is unreada"),
], ids=["shape", "missing", "no-config", "no-weights", "bad-config", "bad-spec"])
def test_a_broken_model_file_names_the_file_and_the_first_offending_entry(tmp_path, edit, match):
    from smis.hub import load_model

    path = model_file(tmp_path, edit)
    with pytest.raises(ValueError, match=f"{path}: {match}"):
        load_model(path)
