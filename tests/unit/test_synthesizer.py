"""smis.Synthesizer: each operation changes exactly the code channels (and cells) it should, seeds
name looks whatever the batch, every kind of label input parses (or fails clearly), codes files
round-trip, and the authors' folders load."""

import numpy as np
import pytest
import torch
from PIL import Image

import smis
from smis import Codes, Synthesizer
from smis.data import ADE20K, SYNTHETIC, SyntheticScenes
from smis.inputs import read_label
from smis.latents import LatentLayout
from smis.networks import GroupDNet, preset
from tests.helpers.figures import check_labelled_grid
from tests.helpers.reference import load_io

SKY, GRASS, CAR = (SYNTHETIC.class_index(n) for n in ("sky", "grass", "car"))


@pytest.fixture(scope="module")
def synth():
    torch.manual_seed(0)
    net = GroupDNet(preset("small", num_classes=8, ngf=4, encoder_width=16), with_discriminator=False)
    net.spec = SYNTHETIC
    return Synthesizer(net, device="cpu")


@pytest.fixture(scope="module")
def scene():
    image, label = SyntheticScenes(1, 128, train=False).scene(0)        # (3,128,128), (1,128,128)
    assert {SKY, GRASS} <= set(label.unique().tolist())
    return image, label


def class_channels(z, c):
    return z[:, 8 * c: 8 * c + 8]


def other_channels(z, c):
    return torch.cat([z[:, : 8 * c], z[:, 8 * c + 8:]], 1)


def test_sample_seeds_name_looks_whatever_the_batch(synth, scene):
    _, label = scene
    alone = synth.sample(label, seeds=[7], output="tensor")
    batch = synth.sample(label, seeds=[3, 7, 11], output="tensor")
    assert torch.equal(alone.codes[0].z, batch.codes[1].z)
    torch.testing.assert_close(alone.images[0], batch.images[1], rtol=0, atol=1e-6)
    # class c's code for seed s depends only on (s, c, grid): the same inside any label map
    layout = LatentLayout.of(synth.net)
    assert torch.equal(class_channels(batch.codes[1].z, CAR)[0], layout.class_code(7, CAR, 2, 2))
    assert not torch.equal(batch.codes[0].z, batch.codes[2].z)
    assert alone.images[0].shape == (3, 128, 128) and alone.codes[0].sources[SKY] == "seed 7"


def test_resample_changes_only_the_chosen_classes(synth, scene):
    _, label = scene
    base = synth.sample(label, seeds=[1]).codes[0]
    out = synth.resample(["sky", "car"], seeds=[5, 6], codes=base, output="tensor")
    for codes in out.codes:
        keep = [c for c in range(8) if c not in (SKY, CAR)]
        assert all(torch.equal(class_channels(codes.z, c), class_channels(base.z, c)) for c in keep)
        assert not torch.equal(class_channels(codes.z, SKY), class_channels(base.z, SKY))
        assert codes.sources[GRASS] == "seed 1" and codes.sources[SKY].startswith("seed ")
    assert not torch.equal(out.codes[0].z, out.codes[1].z)
    # the sky's new look equals the sky of a plain sample with that seed
    assert torch.equal(class_channels(out.codes[0].z, SKY),
                       class_channels(synth.sample(label, seeds=[5]).codes[0].z, SKY))


def test_encode_transfer_interpolate_manipulate(synth, scene, tmp_path):
    image, label = scene
    photo_codes = synth.encode(image, label)
    mu, _ = synth.net.encode(image[None], label[None])
    assert torch.equal(photo_codes.z, mu) and photo_codes.sources[SKY] == "encoded from an image"
    target = synth.sample(label, seeds=[4]).codes[0]

    moved = synth.transfer(target, photo_codes, ["sky"]).codes[0]
    assert torch.equal(class_channels(moved.z, SKY), class_channels(mu, SKY))
    assert torch.equal(other_channels(moved.z, SKY), other_channels(target.z, SKY))
    assert moved.sources[SKY] == "encoded from an image"

    morph = synth.interpolate(target, photo_codes, steps=5, classes=["sky"], output="tensor")
    assert torch.equal(morph.codes[0].z, target.z) and torch.equal(morph.codes[-1].z, moved.z)
    assert all(torch.equal(other_channels(c.z, SKY), other_channels(target.z, SKY)) for c in morph.codes)
    gif = morph.save_gif(tmp_path / "morph.gif")
    with Image.open(gif) as im:
        assert im.n_frames == 5 and im.size == (128, 128)

    edited = label.clone()
    edited[..., 100:, :40] = CAR                                         # paint a car in the corner
    manipulated = synth.manipulate(edited, target, output="tensor")
    assert torch.equal(manipulated.codes[0].z, target.z)
    assert torch.equal(manipulated.codes[0].label, edited[None])
    direct = synth.net.decode(edited[None], target.z)
    torch.testing.assert_close(manipulated.images[0], direct[0], rtol=0, atol=1e-6)

    recon = synth.reconstruct(image, label, output="numpy")
    assert recon.images[0].shape == (128, 128, 3) and recon.images[0].dtype == np.uint8


def test_codes_files_round_trip_and_bad_files(synth, scene, tmp_path):
    codes = synth.sample(scene[1], seeds=[8]).codes[0]
    loaded = Codes.load(codes.save(tmp_path / "sky.codes"))
    assert torch.equal(loaded.z, codes.z) and torch.equal(loaded.label, codes.label)
    assert loaded.sources == codes.sources and loaded.class_names == SYNTHETIC.names
    torch.save({"z": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not an smis codes file"):
        Codes.load(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="missing.codes"):
        Codes.load(tmp_path / "missing.codes")


def test_results_save_pngs_and_a_contact_sheet(synth, scene, tmp_path):
    out = synth.sample(scene[1], seeds=[0, 1, 2])
    paths = out.save(tmp_path / "images", prefix="sample")
    assert [p.name for p in paths] == ["sample_000.png", "sample_001.png", "sample_002.png"]
    sheet = synth.contact_sheet(out, tmp_path / "sheet.png")
    with Image.open(sheet) as im:                   # label + 3 images, 2 px padding, captions above
        check_labelled_grid(im, cols=4, rows=1, cell=(128, 128))


# --- label inputs -------------------------------------------------------------------------------

def test_every_kind_of_label_input(synth, tmp_path):
    ids = torch.full((128, 128), GRASS)
    ids[:64] = SKY
    ids[64:, 64:] = CAR
    expected = ids[None, None]
    grey = tmp_path / "grey.png"
    Image.fromarray(ids.numpy().astype(np.uint8), mode="L").save(grey)
    sixteen = tmp_path / "sixteen.png"
    Image.fromarray(ids.numpy().astype(np.uint16)).save(sixteen)
    palette_mode = Image.fromarray(ids.numpy().astype(np.uint8), mode="P")
    palette_mode.putpalette([v for rgb in SYNTHETIC.palette for v in rgb])
    colours = SYNTHETIC.palette_tensor()[ids].numpy()                    # (H, W, 3) uint8
    colour_file = tmp_path / "colour.png"
    Image.fromarray(colours).save(colour_file)
    for given in (grey, str(sixteen), palette_mode, colour_file, Image.open(colour_file), colours,
                  ids.numpy(), ids, ids[None], ids[None, None].int()):
        assert torch.equal(synth.label(given), expected), type(given)
    # size policy: native by default, any multiple of 64 on request (nearest), or the input's own
    assert synth.label(ids, size=(64, 128)).shape == (1, 1, 64, 128)
    assert set(synth.label(ids, size=(256, 256)).unique().tolist()) == {SKY, GRASS, CAR}
    assert synth.label(ids[:64].repeat(1, 2), size="input").shape == (1, 1, 64, 256)


def test_label_errors_name_what_is_wrong(synth, tmp_path):
    colours = SYNTHETIC.palette_tensor()[torch.zeros(64, 128, dtype=torch.int64)].numpy().copy()
    colours[0, :3] = (1, 2, 3)
    colours[5, 5] = (9, 9, 9)
    expected = r"2 colours are not in the synthetic palette: \(1, 2, 3\) x3, \(9, 9, 9\) x1"
    with pytest.raises(ValueError, match=expected):
        synth.label(colours)
    with pytest.raises(ValueError, match=r"label map: class ids must lie in \[0, 7\] for synthetic; found "
                                         r"values in \[0, 9\]"):
        synth.label(torch.arange(64 * 64).reshape(64, 64) % 10)
    with pytest.raises(ValueError, match="100x128: GroupDNet needs sides that are multiples of 64; pass"):
        synth.label(torch.zeros(100, 128, dtype=torch.int64), size="input")
    with pytest.raises(ValueError, match="multiples of 64"):
        synth.label(torch.zeros(64, 64, dtype=torch.int64), size=(100, 100))
    with pytest.raises(ValueError, match="integer class ids; got torch.float32"):
        synth.label(torch.zeros(64, 64))
    with pytest.raises(FileNotFoundError, match="label map not found: .*nope.png"):
        synth.label(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png: cannot be read as an image"):
        synth.label(tmp_path / "bad.png")
    with pytest.raises(ValueError, match="no class 'cat'; its classes are sky, grass, road"):
        synth.resample(["cat"], seeds=[1], label=torch.zeros(64, 64, dtype=torch.int64))


def test_label_files_follow_the_dataset_rule():
    """An ADE20K model reads grey PNG values through ADE20K's rule (v -> v-1, 0 and 255 -> unknown)."""
    values = np.zeros((64, 64), dtype=np.uint8)
    values[:, :16], values[:, 16:32], values[:, 32:48] = 1, 150, 255
    ids = read_label(Image.fromarray(values, mode="L"), ADE20K, "input")[0, 0]
    assert ids[0, :48:16].tolist() == [0, 149, 150] and ids[0, 60] == 150
    assert read_label(torch.tensor([[5]]).expand(64, 64), ADE20K, "input").unique().tolist() == [5]  # ids
    values[0, 0] = 151
    with pytest.raises(ValueError, match="label value 151 has no class"):
        read_label(Image.fromarray(values, mode="L"), ADE20K, "input")


def test_loads_model_files_and_the_authors_folders(tmp_path, reference_dir):
    net = GroupDNet(preset("small", num_classes=8, ngf=2, encoder_width=8))
    net.spec = SYNTHETIC
    synth = Synthesizer.load(smis.save_model(net, tmp_path / "model.pt"), device="cpu")
    assert synth.class_names == SYNTHETIC.names and synth.default_size() == (128, 128)
    assert synth.net.discriminator is None and not synth.net.training
    with pytest.raises(ValueError, match="holds the authors' files .*pass the dataset they were trained on"):
        Synthesizer.load(reference_dir / "deepfashion")
    with pytest.raises(FileNotFoundError, match="nothing.pt not found"):
        Synthesizer.load(tmp_path / "nothing.pt")

    io = load_io(reference_dir, "deepfashion")
    authors = Synthesizer.load(reference_dir / "deepfashion", dataset="deepfashion", device="cpu")
    codes = Codes(io["z"], io["label"].long(), ("given",) * 8, authors.class_names)
    fake = authors.decode([codes], output="tensor")[0]
    torch.testing.assert_close(fake, io["fake"][0], rtol=1e-5, atol=1e-5)


def test_a_class_absent_from_the_reference_has_no_look_to_transfer(synth, scene):
    image, label = scene
    only_sky = torch.full_like(label, SKY)
    only_sky[..., 64:, :] = GRASS
    reference = synth.encode(image, only_sky, name="photo.png")
    assert reference.sources[SKY] == "encoded from photo.png"
    assert reference.sources[CAR] == "absent from photo.png"
    target = synth.sample(label, seeds=[1]).codes[0]
    with pytest.raises(ValueError, match="car not in the reference .*photo.png.*encode a photo that shows"):
        synth.transfer(target, reference, ["car"])
    assert synth.transfer(target, reference, ["sky"]).codes[0].sources[SKY] == "encoded from photo.png"
