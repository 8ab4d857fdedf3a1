"""`python -m smis.generate` end to end on a small model: every subcommand writes what it promises,
`dataset` output trains as `dataset=folder`, and bad inputs exit 2 with the problem named."""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import smis
from smis.data import SYNTHETIC, ImageFolderDataset, SyntheticScenes
from smis.generate import main
from smis.networks import GroupDNet, preset


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("generate")
    torch.manual_seed(0)
    net = GroupDNet(preset("small", num_classes=8, ngf=4, encoder_width=16), with_discriminator=False)
    net.spec = SYNTHETIC
    scenes = SyntheticScenes(2, 128, train=False)
    (root / "labels").mkdir()
    for i in range(2):
        image, label = scenes.scene(i)
        Image.fromarray(label[0].numpy().astype(np.uint8), mode="L").save(root / "labels" / f"scene{i}.png")
        pixels = ((image + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(root / f"photo{i}.png")
    return {"root": root, "model": smis.save_model(net, root / "model.pt"), "labels": root / "labels"}


def generate(files, *args):
    return main([args[0], "-m", str(files["model"]), *map(str, args[1:]), "--device", "cpu"])


def test_sample_and_resample_write_images_and_sheets(files, tmp_path):
    assert generate(files, "sample", files["labels"], "--seeds", 0, 1, "-o", tmp_path / "s") == 0
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == ["scene0_000.png", "scene0_001.png", "scene0_sheet.png",
                     "scene1_000.png", "scene1_001.png", "scene1_sheet.png"]
    with Image.open(tmp_path / "s" / "scene0_000.png") as im:
        assert im.size == (128, 128)
    assert generate(files, "resample", files["labels"] / "scene0.png", "--classes", "sky", "grass",
                    "--seeds", 4, 5, 6, "-o", tmp_path / "r") == 0
    assert len(list((tmp_path / "r").glob("scene0_00?.png"))) == 3     # the channels: test_synthesizer.py


def test_encode_transfer_interpolate_manipulate(files, tmp_path):
    codes_file = tmp_path / "photo1.codes"
    assert generate(files, "encode", "--image", files["root"] / "photo1.png", "--label",
                    files["labels"] / "scene1.png", "-o", codes_file) == 0
    codes = smis.Codes.load(codes_file)
    assert codes.z.shape == (1, 64, 2, 2) and codes.sources[0] == "encoded from photo1.png"
    assert generate(files, "transfer", files["labels"] / "scene0.png", "--reference", codes_file,
                    "--classes", "sky", "-o", tmp_path / "t") == 0
    assert (tmp_path / "t" / "scene0_000.png").is_file() and (tmp_path / "t" / "scene0_sheet.png").is_file()
    assert generate(files, "interpolate", files["labels"] / "scene0.png", "--steps", 5, "--classes", "sky",
                    "-o", tmp_path / "i") == 0
    with Image.open(tmp_path / "i" / "scene0.gif") as gif:
        assert gif.n_frames == 5
    assert generate(files, "manipulate", files["labels"] / "scene0.png", "--codes", codes_file,
                    "-o", tmp_path / "m") == 0
    assert (tmp_path / "m" / "scene0_000.png").is_file()


def test_dataset_output_loads_as_an_image_folder(files, tmp_path):
    assert generate(files, "dataset", files["labels"], "--samples", 2, "-o", tmp_path / "d") == 0
    data = ImageFolderDataset(tmp_path / "d", train=False)
    assert len(data) == 4 and data.spec.names == SYNTHETIC.names and data.spec.palette == SYNTHETIC.palette
    item = data[0]
    original = np.asarray(Image.open(files["labels"] / "scene0.png"))
    assert torch.equal(item["label"][0], torch.from_numpy(original.astype(np.int64)))
    assert item["image"].shape == (3, 128, 128)


def test_bad_inputs_exit_2_and_name_the_problem(files, tmp_path, capsys):
    cases = [
        (["sample", tmp_path / "missing.png", "-o", tmp_path / "x"], "label map not found: .*missing.png"),
        (["resample", files["labels"], "--classes", "cat", "-o", tmp_path / "x"],
         "no class 'cat'; its classes are sky, grass"),
        (["sample", files["labels"], "--size", "100x100", "-o", tmp_path / "x"], "multiples of 64"),
        (["transfer", files["labels"], "--reference", tmp_path / "nope.codes", "--classes", "sky",
          "-o", tmp_path / "x"], "codes file not found: .*nope.codes"),
    ]
    colours = np.zeros((64, 64, 3), dtype=np.uint8)
    colours[...] = (1, 2, 3)
    Image.fromarray(colours).save(tmp_path / "colours.png")
    cases.append((["sample", tmp_path / "colours.png", "-o", tmp_path / "x"],
                  r"1 colours are not in the synthetic palette: \(1, 2, 3\) x4096"))
    for args, message in cases:
        assert generate(files, *args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and re.search(message, err), err
    assert not (tmp_path / "x").exists()


def test_console_script_and_module_help():
    out = subprocess.run([sys.executable, "-m", "smis.generate", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("sample", "resample", "encode", "transfer", "interpolate", "manipulate", "dataset"):
        assert command in out.stdout
