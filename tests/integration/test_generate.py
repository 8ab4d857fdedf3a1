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


def test_a_size_that_is_not_hxw_is_argparses_one_line(files, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        generate(files, "sample", files["labels"], "--size", "big", "-o", tmp_path / "x")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --size: expected HxW (height x width, e.g. 256x512) or 'input'; got 'big'" in err
    assert "Traceback" not in err and not (tmp_path / "x").exists()


def encode_args(files, out) -> list:
    return ["encode", "--image", files["root"] / "photo0.png", "--label", files["labels"] / "scene0.png",
            "-o", out]


def broken_codes(files, tmp_path, name, edit):
    """A codes file of scene0 with `edit` applied to its dict."""
    path = tmp_path / name
    assert generate(files, *encode_args(files, path)) == 0
    d = torch.load(path, weights_only=True)
    edit(d)
    torch.save(d, path)
    return path


def broken_model(files, tmp_path, edit):
    path = tmp_path / "broken.pt"
    d = torch.load(files["model"], weights_only=True)
    edit(d)
    torch.save(d, path)
    return path


def write_bomb(tmp_path):
    from tests.helpers.images import png_header

    (tmp_path / "huge.png").write_bytes(png_header(20000, 20000))
    return tmp_path / "huge.png"


def wrong_shape(d):
    d["state_dict"]["generator.fc.weight"] = torch.zeros(3)


# case: (the command line after -m MODEL, from (files, tmp_path); the message). "-m PATH" in it: that model.
BAD = {
    "out-is-a-file": (lambda f, t: ["sample", f["labels"], "-o", t / "a_file"],
                      r"a_file is a file; the outputs go into a folder: name a folder"),
    "encode-out-is-a-folder": (lambda f, t: encode_args(f, t / "a_folder"),
                               r"a_folder is a folder; the output is one file: name a file"),
    "size-zero": (lambda f, t: ["sample", f["labels"], "--size", "0x0", "-o", t / "x"],
                  r"--size 0x0: image size 0x0: GroupDNet needs both sides to be multiples of 64 \(64 at"),
    "size-beyond-max-pixels": (lambda f, t: ["sample", f["labels"], "--size", "256x256", "--max-pixels",
                                             "20000", "-o", t / "x"],
                               r"--size 256x256: size=256x256 is 256x256 = 0.1 megapixels; the limit is "
                               r"max_pixels=20000"),
    "device": (lambda f, t: ["sample", f["labels"], "--device", "tpu", "-o", t / "x"],
               r"device='tpu': not a device; expected auto, cpu, cuda, cuda:N"),
    "samples-zero": (lambda f, t: ["dataset", f["labels"], "--samples", "0", "-o", t / "x"],
                     r"--samples 0: expected an integer >= 1"),
    "steps-too-many": (lambda f, t: ["interpolate", f["labels"], "--steps", "1000", "-o", t / "x"],
                       r"--steps=1000: expected an integer from 2 \(both ends\) to 256"),
    "codes-without-z": (lambda f, t: ["manipulate", f["labels"], "--codes",
                                      broken_codes(f, t, "noz.codes", lambda d: d.pop("z")), "-o", t / "x"],
                        r"noz.codes: the codes file has no z tensor \(the per-class codes\)"),
    "codes-few-sources": (lambda f, t: ["manipulate", f["labels"], "--codes",
                                        broken_codes(f, t, "few.codes", lambda d: d.update(sources=["a"])),
                                        "-o", t / "x"],
                          r"few.codes: the codes file holds 1 sources and 8 class names for 64 code chan"),
    "decompression-bomb": (lambda f, t: ["sample", write_bomb(t), "-o", t / "x"],
                           r"label map .*huge.png is 20000x20000 = 400.0 megapixels; the limit is "
                           r"max_pixels=16777216"),
    "model-wrong-shape": (lambda f, t: ["sample", f["labels"], "-o", t / "x", "-m",
                                        broken_model(f, t, wrong_shape)],
                          r"broken.pt: its weights do not fit its own config .*: generator.fc.weight: "
                          r"expected shape \(64, 8, 3, 3\), found \(3,\)"),
    "model-without-config": (lambda f, t: ["sample", f["labels"], "-o", t / "x", "-m",
                                           broken_model(f, t, lambda d: d.pop("config"))],
                             r"broken.pt: an smis model file with no 'config'"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_options_and_files_exit_2_with_one_line_naming_them(files, tmp_path, capsys, case):
    make_args, message = BAD[case]
    (tmp_path / "a_file").write_text("mine")
    (tmp_path / "a_folder").mkdir()
    args = make_args(files, tmp_path)
    capsys.readouterr()
    model = files["model"]
    if "-m" in args:                                                   # a model of the case's own
        at = args.index("-m")
        args, model = args[:at] + args[at + 2:], args[at + 1]
    device = [] if "--device" in args else ["--device", "cpu"]
    code = main([args[0], "-m", str(model), *map(str, args[1:]), *device])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert not (tmp_path / "x").exists() and (tmp_path / "a_file").read_text() == "mine"
    assert list((tmp_path / "a_folder").iterdir()) == [] and leftovers(tmp_path) == []


def test_classes_by_id_and_half_precision_codes_work(files, tmp_path):
    label = files["labels"] / "scene0.png"
    sky, grass = (str(SYNTHETIC.class_index(n)) for n in ("sky", "grass"))
    for out, classes in (("names", ["sky", "grass"]), ("ids", [sky, grass])):
        assert generate(files, "resample", label, "--classes", *classes, "--seeds", 4,
                        "-o", tmp_path / out) == 0
    by_name, by_id = (tmp_path / out / "scene0_000.png" for out in ("names", "ids"))
    assert by_name.read_bytes() == by_id.read_bytes()
    half = broken_codes(files, tmp_path, "half.codes", lambda d: d.update(z=d["z"].half()))
    assert generate(files, "manipulate", label, "--codes", half, "-o", tmp_path / "h") == 0
    assert (tmp_path / "h" / "scene0_000.png").is_file()


def test_an_unwritable_output_folder_is_named_not_a_temporary(files, tmp_path, capsys, monkeypatch):
    import errno
    import os

    import smis.outputs

    def denied(prefix="", suffix="", dir=None):                     # a read-only folder (root writes anyway)
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, f"{prefix}x1y2{suffix}"))

    monkeypatch.setattr(smis.outputs.tempfile, "mkdtemp", denied)
    locked = tmp_path / "locked"
    locked.mkdir()
    for args in (["sample", files["labels"], "-o", locked / "out"], encode_args(files, locked / "a.codes")):
        assert generate(files, *args) == 2
        err = capsys.readouterr().err
        assert err == f"error: {locked}: Permission denied: cannot write into this folder\n", err
    assert list(locked.iterdir()) == []


def test_a_full_disk_while_saving_codes_names_the_file_and_keeps_the_old_one(files, tmp_path, capsys,
                                                                            monkeypatch):
    codes = tmp_path / "look.codes"
    codes.write_bytes(b"the old codes")

    def full_disk(obj, f, *args, **kwargs):                          # what torch.save raises on a full disk
        f.write(b"PK half")
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 3328 vs 3216")

    monkeypatch.setattr(torch, "save", full_disk)
    assert generate(files, *encode_args(files, codes), "--overwrite") == 2
    err = capsys.readouterr().err
    assert re.fullmatch(rf"error: {re.escape(str(codes))}: writing failed: the disk may be full "
                        r"\(torch.save: \[enforce fail at inline_container.cc:603\].*\)\n", err), err
    assert codes.read_bytes() == b"the old codes" and leftovers(tmp_path) == []


def test_console_script_and_module_help():
    out = subprocess.run([sys.executable, "-m", "smis.generate", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("sample", "resample", "encode", "transfer", "interpolate", "manipulate", "dataset"):
        assert command in out.stdout


# --- all the outputs or none ------------------------------------------------------------------------
def snapshot(folder):
    """Every file under folder (hidden ones too) -> its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def leftovers(parent):
    """What the tool leaves beside or inside its outputs when it is killed: staging folders, temporaries."""
    return sorted(p.name for p in parent.rglob(".*") if "smis-generate" in p.name or p.name.endswith(".tmp"))


def label_folder(files, folder, names):
    folder.mkdir()
    for i, name in enumerate(names):
        (folder / f"{name}.png").write_bytes((files["labels"] / f"scene{i % 2}.png").read_bytes())
    return folder


def test_a_bad_second_input_leaves_the_output_folder_unchanged(files, tmp_path, capsys, monkeypatch):
    labels = label_folder(files, tmp_path / "labels", ["a_good"])
    colours = np.zeros((128, 128, 3), dtype=np.uint8)
    colours[...] = (1, 2, 3)
    Image.fromarray(colours).save(labels / "b_bad.png")                         # read second
    out = tmp_path / "out"
    assert generate(files, "sample", labels / "a_good.png", "--seeds", 0, "-o", out) == 0
    before = snapshot(out)
    assert "a_good_000.png" in before
    decoded = []
    decode = smis.Synthesizer.decode
    monkeypatch.setattr(smis.Synthesizer, "decode",
                        lambda self, *a, **k: decoded.append(1) or decode(self, *a, **k))
    for extra in ([], ["--overwrite"]):
        assert generate(files, "sample", labels, "--seeds", 5, 6, "-o", out, *extra) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "b_bad.png" in err, err
        assert snapshot(out) == before and leftovers(tmp_path) == []
    assert decoded == []                                            # every input is read before any work
    # a new folder is not even made
    assert generate(files, "sample", labels, "-o", tmp_path / "new" / "out") == 2
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []


def test_a_failure_midway_keeps_every_old_output(files, tmp_path, capsys, monkeypatch):
    """A full disk while the second input's sheet is written, with --overwrite: the first input's new
    images are made by then, but no old file has been replaced."""
    import errno

    import smis.batch as generate_module

    labels = label_folder(files, tmp_path / "labels", ["a", "b"])
    out = tmp_path / "out"
    assert generate(files, "sample", labels, "--seeds", 0, "-o", out) == 0
    before = snapshot(out)
    sheets = []
    real_sheet = generate_module.labelled_sheet

    def sheet_then_full_disk(pictures, captions, path):
        sheets.append(path)
        if len(sheets) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_sheet(pictures, captions, path)

    monkeypatch.setattr(generate_module, "labelled_sheet", sheet_then_full_disk)
    assert generate(files, "sample", labels, "--seeds", 3, "-o", out, "--overwrite") == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"error: .*b_sheet\.png: No space left on device\n", err), err
    assert len(sheets) == 2 and snapshot(out) == before and leftovers(tmp_path) == []


def test_an_existing_output_is_replaced_only_with_overwrite(files, tmp_path, capsys):
    label = files["labels"] / "scene0.png"
    out = tmp_path / "out"
    assert generate(files, "sample", label, "--seeds", 0, 1, "-o", out) == 0
    fresh = snapshot(out)
    (out / "scene0_001.png").write_bytes(b"my own picture")
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    assert generate(files, "sample", label, "--seeds", 0, 1, "-o", out) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"error: .*out/scene0_001\.png already exists: pass --overwrite to replace it; "
                        r"nothing was written\n", err), err
    assert snapshot(out) == before and leftovers(tmp_path) == []
    assert generate(files, "sample", label, "--seeds", 5, 6, "-o", out) == 2          # other looks
    assert re.search(r"out/scene0_000\.png already exists \(and 2 more\): pass --overwrite to replace them",
                     capsys.readouterr().err)
    assert snapshot(out) == before
    # other names: nothing to replace, the new files join the folder
    other = tmp_path / "other.png"
    other.write_bytes(label.read_bytes())
    assert generate(files, "sample", other, "--seeds", 0, 1, "-o", out) == 0
    assert {k: v for k, v in snapshot(out).items() if not k.startswith("other")} == before
    assert generate(files, "sample", label, "--seeds", 0, 1, "-o", out, "--overwrite") == 0
    after = snapshot(out)
    assert {k: v for k, v in after.items() if not k.startswith("other")} == {**fresh, "notes.txt": b"mine"}
    # the same outputs again replace nothing: no --overwrite needed
    assert generate(files, "sample", label, "--seeds", 0, 1, "-o", out) == 0
    assert snapshot(out) == after and leftovers(tmp_path) == []
    # a codes file too
    codes_file = tmp_path / "photo.codes"
    codes_file.write_bytes(b"old codes")
    encode = ["encode", "--image", files["root"] / "photo0.png", "--label", label, "-o", codes_file]
    assert generate(files, *encode) == 2
    assert "photo.codes already exists: pass --overwrite" in capsys.readouterr().err
    assert codes_file.read_bytes() == b"old codes"
    assert generate(files, *encode, "--overwrite") == 0
    assert smis.Codes.load(codes_file).sources[0] == "encoded from photo0.png" and leftovers(tmp_path) == []


def start_generating(files, tmp_path, out):
    """`python -m smis.generate sample` on several label maps (seconds of work), started; -> the
    process once its staging folder is there (its signal handler too)."""
    import time

    labels = label_folder(files, tmp_path / "many", [f"m{i}" for i in range(8)])
    process = subprocess.Popen([sys.executable, "-m", "smis.generate", "sample", "-m", str(files["model"]),
                                str(labels), "--seeds", "0", "1", "2", "-o", str(out), "--device", "cpu"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(out.parent.glob(f".{out.name}.smis-generate.*.tmp/out")):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the staging folder never appeared"
        time.sleep(0.005)
    return process


def test_sigterm_during_a_run_leaves_the_target_as_it_was(files, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "m0_000.png").write_bytes(b"an older output")
    before = snapshot(out)
    process = start_generating(files, tmp_path, out)
    process.terminate()                                                         # SIGTERM
    assert process.wait(60) == 128 + 15, process.stderr.read().decode()
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


def test_the_temporaries_of_a_killed_run_are_removed_by_the_next_run(files, tmp_path):
    import fcntl

    out = tmp_path / "out"
    process = start_generating(files, tmp_path, out)
    process.kill()                                                              # SIGKILL: no clean-up
    process.wait(60)
    stale = list(tmp_path.glob(".out.smis-generate.*.tmp"))
    assert len(stale) == 1 and not out.exists()
    # a live run's staging folder (its lock is held) is not touched
    live = tmp_path / ".other.smis-generate.live.tmp"
    live.mkdir()
    with open(live / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert generate(files, "sample", files["labels"] / "scene0.png", "--seeds", 0, "-o", out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["scene0_000.png", "scene0_sheet.png"]
    assert not stale[0].exists() and live.is_dir()
    assert leftovers(tmp_path) == [live.name]
