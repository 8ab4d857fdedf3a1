"""A resume that survives a kill at any moment, and bad inputs named (evaluation: test_evaluate_errors)."""

import os
import re
import shutil
import time
import warnings

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from smis import convert
from smis.config import compose_config
from smis.data import DatasetError, ImageFolderDataModule, ImageFolderDataset
from smis.hub import load_model
from smis.networks import GroupDNet, preset
from smis.networks.vgg import VGG19Features
from smis.train import ConfigError
from smis.training.resume import resolve_ckpt_path
from smis.utils import atomic_torch_save
from tests.helpers.data_trees import folder_tree, save
from tests.helpers.hydra_configs import SHARED_RUN, SYNTHETIC, run

# --- 1. ckpt_path=last whatever the moment of a kill ------------------------------------------------


def stand_in(path, epoch, t):
    """A small complete checkpoint written at time t (ns)."""
    torch.save({"epoch": epoch, "pytorch-lightning_version": "2.6.6"}, path)
    os.utime(path, ns=(t, t))


def link(path, target, t):
    path.symlink_to(target)
    os.utime(path, ns=(t, t), follow_symlinks=False)


# The save sequence: epoch_001.ckpt written, epoch_000.ckpt deleted, last.ckpt re-pointed (save_last=link,
# older runs) or rewritten (save_last=true); the states a kill can leave, and the epoch to resume.
def link_written(d, t):
    stand_in(d / "epoch_000.ckpt", 0, t[1])
    link(d / "last.ckpt", "epoch_000.ckpt", t[1])
    stand_in(d / "epoch_001.ckpt", 1, t[2])


def link_dangling(d, t):
    stand_in(d / "epoch_001.ckpt", 1, t[2])
    link(d / "last.ckpt", "epoch_000.ckpt", t[1])        # its target is deleted


def link_repointed(d, t):
    stand_in(d / "epoch_001.ckpt", 1, t[2])
    link(d / "last.ckpt", "epoch_001.ckpt", t[3])


def file_written(d, t):
    stand_in(d / "epoch_000.ckpt", 0, t[1])
    stand_in(d / "last.ckpt", 0, t[1])
    stand_in(d / "epoch_001.ckpt", 1, t[2])


def file_old_deleted(d, t):
    stand_in(d / "last.ckpt", 0, t[1])
    stand_in(d / "epoch_001.ckpt", 1, t[2])


def file_last_half_written(d, t):
    file_old_deleted(d, t)
    (d / ".last.ckpt.x1y2z3.tmp").write_bytes(b"PK half a checkpoint")


def file_rewritten(d, t):
    stand_in(d / "epoch_001.ckpt", 1, t[2])
    stand_in(d / "last.ckpt", 1, t[3])


def file_newest_cut_short(d, t):
    stand_in(d / "last.ckpt", 0, t[1])
    (d / "epoch_001.ckpt").write_bytes(b"PK\x03\x04 cut short by a copy")


STATES = {link_written: 1, link_dangling: 1, link_repointed: 1, file_written: 1, file_old_deleted: 1,
          file_last_half_written: 1, file_rewritten: 1, file_newest_cut_short: 0}


@pytest.mark.parametrize("make_state", STATES, ids=[f.__name__ for f in STATES])
def test_last_resumes_the_newest_complete_checkpoint_of_the_newest_run(tmp_path, make_state):
    now = time.time_ns()
    t = [now - (100 - 10 * i) * 10**9 for i in range(4)]         # t[0] < t[1] < t[2] < t[3] < now
    older = tmp_path / "train" / "runs" / "older" / "checkpoints"
    older.mkdir(parents=True)
    stand_in(older / "last.ckpt", 7, now + 10**9)                 # a later file time: not what decides
    os.utime(older, ns=(t[0], t[0]))                              # the run's folder changed before
    newest = tmp_path / "train" / "runs" / "newest" / "checkpoints"
    newest.mkdir(parents=True)
    make_state(newest, t)
    found = resolve_ckpt_path("last", str(tmp_path), "train")
    assert os.path.dirname(found) == str(newest)
    assert torch.load(found, weights_only=True)["epoch"] == STATES[make_state]


def test_last_with_only_broken_checkpoints_in_the_newest_run_is_an_error(tmp_path):
    d = tmp_path / "train" / "runs" / "newest" / "checkpoints"
    d.mkdir(parents=True)
    (d / "last.ckpt").symlink_to("epoch_000.ckpt")
    with pytest.raises(ConfigError, match=r"newest run's checkpoints in .*newest/checkpoints \(last.ckpt\) "
                                          r"are all dangling links or damaged files"):
        resolve_ckpt_path("last", str(tmp_path), "train")
    with pytest.raises(ConfigError, match=r"last.ckpt is a link to epoch_000.ckpt, which no longer exists .*"
                                          "use ckpt_path=last"):
        resolve_ckpt_path(str(d / "last.ckpt"), str(tmp_path), "train")
    with pytest.raises(ConfigError, match="no run with checkpoints"):
        resolve_ckpt_path("last", str(tmp_path / "elsewhere"), "train")


def weights(path):
    return load_model(path).state_dict()


def test_resume_after_a_kill_before_last_was_relinked_matches_an_uninterrupted_run(
        tmp_path, trained_synthetic, short_synthetic):
    older = tmp_path / "logs" / "train" / "runs" / "older" / "checkpoints"   # another run, to be left alone
    older.mkdir(parents=True)
    shutil.copy(short_synthetic["run_dir"] / "checkpoints" / "last.ckpt", older)
    common = [*SYNTHETIC, *SHARED_RUN]
    first = run(tmp_path, *common, "trainer.max_epochs=2", name="first")
    last = first["run_dir"] / "checkpoints" / "last.ckpt"
    assert last.is_file() and not last.is_symlink()         # save_last: true writes a file, atomically
    last.unlink()                                          # the kill: epoch_000 deleted, last not re-pointed
    last.symlink_to("epoch_000.ckpt")
    resumed = run(tmp_path, *common, "ckpt_path=last", name="resumed")
    figures = sorted(p.name for p in (resumed["run_dir"] / "samples").glob("*_samples.png"))
    assert figures == ["epoch_002_samples.png"]                 # it resumed: only the third epoch ran
    a, b = weights(trained_synthetic["model_path"]), weights(resumed["model_path"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- 2. and 7. encode / discriminate inputs ------------------------------------------------------------


@pytest.fixture(scope="module")
def net():
    return GroupDNet(preset("small", num_classes=8)).eval()


def test_images_outside_minus_one_one_are_an_error_naming_the_range(net):
    label = torch.randint(0, 8, (2, 1, 64, 128))
    image = torch.rand(2, 3, 64, 128) * 2 - 1
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("error")                         # correct input: not a word
        net.encode(image, label)
        net.discriminate(label, image)
        net.encode((image * (1 + 5e-4)).clamp(-1.0005, 1.0005), label)     # round-off is tolerated
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]; found values in \[0, 255\]"):
        net.encode(((image + 1) * 127.5).round(), label)
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]; found values in \[-1, 1.5\]"):
        net.discriminate(label, torch.cat([image[:1], image[1:].clamp(0) * 1.5]))


@pytest.mark.parametrize("image_shape, label_shape", [((2, 3, 64, 128), (1, 1, 64, 128)),
                                                      ((2, 4, 64, 128), (2, 1, 64, 128)),
                                                      ((2, 3, 64, 128), (2, 1, 64, 64))])
def test_encode_names_mismatched_shapes(net, image_shape, label_shape):
    image, label = torch.zeros(image_shape), torch.zeros(label_shape, dtype=torch.int64)
    expected = (rf"image torch.float32 \({', '.join(map(str, image_shape))}\) and label torch.int64 "
                rf"\({', '.join(map(str, label_shape))}\) do not match: expected image \(B,3,H,W\)")
    with pytest.raises(ValueError, match=expected):
        net.encode(image, label)


# --- 4. resume and load errors ------------------------------------------------------------------------


def test_resume_from_a_checkpoint_of_other_widths_names_the_settings(tmp_path, trained_synthetic):
    ckpt = trained_synthetic["run_dir"] / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError) as err:
        run(tmp_path, *SYNTHETIC, "model.ngf=32", f"ckpt_path={ckpt}")
    message = str(err.value)
    assert f"ckpt_path={ckpt} holds another network than the configured model" in message
    widths = "widths [256, 256, 256, 256, 128, 64, 32, 16] vs [512, 512, 512, 512, 256, 128, 64, 32]"
    assert f"{widths} (model.ngf)" in message and "size mismatch" not in message


def test_resume_from_a_model_file_says_to_use_init_from(tmp_path, short_synthetic):
    model = short_synthetic["model_path"]
    with pytest.raises(ConfigError, match=f"ckpt_path={model} is an smis model file .*use init_from={model}"):
        run(tmp_path, *SYNTHETIC, f"ckpt_path={model}")


def test_a_truncated_checkpoint_is_named(tmp_path, short_synthetic):
    data = (short_synthetic["run_dir"] / "checkpoints" / "last.ckpt").read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match=f"ckpt_path={cut}: cannot be read as a training checkpoint: "
                                          "damaged or cut short"):
        run(tmp_path, *SYNTHETIC, f"ckpt_path={cut}")
    with pytest.raises(ValueError, match=f"{cut}: cannot be read as a torch checkpoint: damaged or cut"):
        load_model(cut)


def test_load_model_of_another_lightning_module_says_so(tmp_path):
    path = tmp_path / "other.ckpt"
    torch.save({"pytorch-lightning_version": "2.6.6", "state_dict": {"backbone.weight": torch.zeros(2)},
                "hyper_parameters": {"model": "resnet18", "lr": 0.1}}, path)
    with pytest.raises(ValueError, match=f"{path}: a Lightning checkpoint of another LightningModule, "
                                         "with no GroupDNet weights"):
        load_model(path)


def test_load_model_of_a_folder_says_it_is_one(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"{tmp_path} is a folder, not a model file") as err:
        load_model(tmp_path)
    assert "load_official" not in str(err.value)
    (tmp_path / "latest_net_G.pth").write_bytes(b"")
    hint = r"holds the authors' files .*pass the dataset they were trained on .*smis-convert"
    with pytest.raises(ValueError, match=hint):
        load_model(tmp_path)


# --- 5. wrong types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("override, expected", [
    ("dataset.batch_size=abc", "dataset.batch_size='abc': expected a positive integer"),
    ("optim.lr_g=abc", "optim.lr_g='abc': expected a number > 0"),
    ("trainer.max_steps=abc", r"trainer.max_steps='abc': expected an integer \(-1: no limit\)"),
    ("seed=abc", "seed='abc': expected an integer"),
    ("dataset.batch_size=2.5", "dataset.batch_size=2.5: expected a positive integer"),
])
def test_numeric_options_of_the_wrong_type_are_named(tmp_path, override, expected):
    with pytest.raises(ConfigError, match=expected):
        run(tmp_path, *SYNTHETIC, override)
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("text, expected", [
    ("num_classes: four", "num_classes must be a positive integer; got 'four'"),
    ("num_classes: 4.7", "num_classes must be a positive integer; got 4.7"),
    ("num_classes: 0", "num_classes must be a positive integer; got 0"),
    ("num_classes: -4", "num_classes must be a positive integer; got -4"),
    ("num_classes: 2\npalette: [red, [0, 0, 0]]", "palette entry 0 is 'red'; expected .r, g, b. integers"),
    ("num_classes: 4\nnames: abcd", "names must be a list of class names.*; got 'abcd'"),
])
def test_classes_file_values_are_checked_naming_the_file_and_key(tmp_path, text, expected):
    root = folder_tree(tmp_path)
    (root / "classes.yaml").write_text(text + "\n")
    with pytest.raises(DatasetError, match=f"{root / 'classes.yaml'}: {expected}"):
        ImageFolderDataset(root)
    with pytest.raises(DatasetError, match=r"\(dataset options\): num_classes must be a positive integer; "
                                           "got 0"):
        ImageFolderDataset(root, num_classes=0)


# --- 6. folder dataset ----------------------------------------------------------------------------------


def test_two_images_of_one_name_are_an_error_and_upper_case_labels_are_found(tmp_path):
    root = folder_tree(tmp_path)
    (root / "labels" / "img_01.png").rename(root / "labels" / "img_01.PNG")
    assert len(ImageFolderDataset(root)) == 10
    Image.open(root / "images" / "img_00.png").save(root / "images" / "img_00.jpg")
    with pytest.raises(DatasetError, match="1 names have several files .*img_00.jpg and img_00.png"):
        ImageFolderDataset(root)


def mixed_sizes(tmp_path):
    root = folder_tree(tmp_path)
    save(np.zeros((30, 40, 3), np.uint8), root / "images" / "img_03.png")
    save(np.zeros((30, 40), np.uint8), root / "labels" / "img_03.png")
    return root


def test_mixed_sizes_without_resize_name_the_files(tmp_path):
    root = mixed_sizes(tmp_path)
    dm = ImageFolderDataModule(str(root), val_root=str(root), batch_size=10, num_workers=0)
    with pytest.raises(DatasetError, match=r"the images of a batch differ in size .*img_03 \(30, 40\).*"
                                           r"set dataset.resize"):
        next(iter(dm.train_dataloader()))
    dm = ImageFolderDataModule(str(root), val_root=str(root), batch_size=10, num_workers=0, validate=True)
    with pytest.raises(DatasetError, match=r"1 of 10 samples have problems:\n  .*img_03.png is 40x30 but "
                                           r".*img_00.png is 32x24"):
        dm.setup("fit")
    ImageFolderDataModule(str(root), val_root=str(root), batch_size=1, validate=True).setup("fit")  # fine


def test_validate_finds_bad_label_values_before_training(tmp_path):
    root = folder_tree(tmp_path)
    label = np.asarray(Image.open(root / "labels" / "img_05.png")).copy()
    label[2, 2] = 9
    save(label, root / "labels" / "img_05.png")
    with pytest.raises(DatasetError, match="img_05.png: label value 9 has no class .* To check every file "
                                           "before training: dataset.validate=true"):
        ImageFolderDataset(root)[5]
    dm = ImageFolderDataModule(str(root), val_root=str(root), num_workers=0, validate=True)
    with pytest.raises(DatasetError, match=r"dataset.validate: 1 of 10 samples have problems:\n  "
                                           r".*img_05.png: label value 9"):
        dm.setup("fit")
    for name in ("cityscapes", "ade20k", "deepfashion", "folder"):
        assert compose_config([f"dataset={name}", "dataset.root=/data"]).dataset.validate is False


# --- 8. convert's output ----------------------------------------------------------------------------------


def test_convert_checks_the_output_before_reading_anything(tmp_path, capsys, monkeypatch):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "read_only").mkdir(mode=0o555)
    if os.geteuid() == 0:                          # root writes anywhere: stand in for a read-only folder
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: real_access(p, mode) and "read_only" not in str(p))
    for output, expected in [(tmp_path, f"the output {tmp_path} is a folder"),
                             (tmp_path / "a_file" / "m.pt", f"{tmp_path / 'a_file'} is a file, not a folder"),
                             (tmp_path / "read_only" / "sub" / "m.pt", "folder .*read_only is not writable")]:
        # the authors' folder does not even exist: the output is checked first
        assert convert.main([str(tmp_path / "no_such_folder"), "--dataset", "ade20k", "-o", str(output)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "no_such_folder" not in err
        assert re.search(expected, err), err


# --- 9. small ---------------------------------------------------------------------------------------------


def test_atomic_writes_remove_stale_temporaries_and_follow_the_umask(tmp_path):
    old = time.time() - 2 * 3600
    for name in (".model.pt.abc123.tmp", ".other.pt.abc123.tmp", ".model.pt.fresh1.tmp"):
        (tmp_path / name).write_bytes(b"left by a kill")
    for name in (".model.pt.abc123.tmp", ".other.pt.abc123.tmp"):
        os.utime(tmp_path / name, (old, old))
    previous = os.umask(0o027)
    try:
        atomic_torch_save({"x": 1}, tmp_path / "model.pt")
    finally:
        os.umask(previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.pt.fresh1.tmp", ".other.pt.abc123.tmp",
                                                          "model.pt"]   # only this file's old leftovers go
    assert (tmp_path / "model.pt").stat().st_mode & 0o777 == 0o640


def test_convert_without_a_discriminator_prints_no_discriminator_width(reference_dir, tmp_path, capsys):
    assert convert.main([str(reference_dir / "deepfashion"), "--dataset", "deepfashion", "--no-discriminator",
                         "-o", str(tmp_path / "g.pt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "no discriminator" in lines[0] and "ndf" not in lines[0]
    assert not any(line.split()[0] == "discriminator" for line in lines[1:] if line.strip())


def test_missing_vgg_weights_name_the_options(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r"none.pth \(given by loss.vgg_weights\).*download.pytorch.org.*recipe=control"):
        VGG19Features(tmp_path / "none.pth")


def test_classes_file_round_trip_still_loads(tmp_path):
    """The checks accept every value the synthetic exporter writes."""
    root = folder_tree(tmp_path)
    meta = {"name": "mine", "num_classes": 4, "unknown_index": 3, "names": ["a", "b", "c", "d"],
            "palette": [[0, 0, 0], [1, 2, 3], [4, 5, 6], [7, 8, 9]]}
    (root / "classes.yaml").write_text(yaml.safe_dump(meta))
    spec = ImageFolderDataset(root).spec
    assert spec.names == ("a", "b", "c", "d") and spec.palette[1] == (1, 2, 3) and spec.name == "mine"


# --- 10. the command lines' bad arguments: one `error:` line, exit 2, no traceback ------------------------


@pytest.fixture
def quiet_hydra(monkeypatch, tmp_path):
    """Run the train / evaluate command lines in this process (sys.argv), in tmp_path, with Hydra's
    logging set-up off and the root logger restored afterwards."""
    import logging
    import sys

    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)

    def command(main, *overrides):
        monkeypatch.setattr(sys, "argv", ["smis", *overrides, f"hydra.run.dir={tmp_path / 'run'}",
                                          "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"])
        with pytest.raises(SystemExit) as e:
            main()
        return e.value.code

    yield command
    root.setLevel(level)
    root.handlers[:] = handlers


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error: " in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command, overrides, expected", [
    ("train", ["nosuchkey=3"], r"^error: Could not override 'nosuchkey'; To append to your config use "
                               r"\+nosuchkey=3; Key 'nosuchkey' is not in struct$"),
    ("evaluate", ["nosuchkey=3"], r"^error: Could not override 'nosuchkey'"),
    ("train", ["dataset=cityscape"], r"^error: In 'train': Could not find 'dataset/cityscape' \(available: "
                                     r"ade20k, cityscapes, deepfashion, folder, synthetic"),
    ("train", ["dataset=[a"], r"^error: dataset=\[a: no viable alternative at input '\[a'$"),
])
def test_train_and_evaluate_name_a_bad_option_before_any_run_folder(quiet_hydra, tmp_path, capsys, command,
                                                                     overrides, expected):
    from smis.cli import evaluate as evaluate_cli
    from smis.cli import train as train_cli

    main = {"train": train_cli.main, "evaluate": evaluate_cli.main}[command]
    assert quiet_hydra(main, *overrides) == 2
    assert re.search(expected, one_error_line(capsys.readouterr().err))
    assert list(tmp_path.iterdir()) == []                           # not even a run folder


def test_training_from_nan_weights_names_the_init_from_file_before_any_step(quiet_hydra, tmp_path, capsys):
    from smis.cli import evaluate as evaluate_cli
    from smis.cli import train as train_cli
    from smis.hub import save_model

    net = GroupDNet(preset("small", num_classes=8, ngf=4, encoder_width=16), with_discriminator=False)
    with torch.no_grad():
        net.encoder.fc_mu.weight[0, 0] = float("nan")
    path = save_model(net, tmp_path.parent / f"{tmp_path.name}_nan.pt")
    assert quiet_hydra(train_cli.main, *SYNTHETIC, "trainer=cpu", "logger=csv", "recipe=control",
                       f"init_from={path}") == 2
    err = capsys.readouterr().err
    line = one_error_line(err)
    assert re.fullmatch(rf"error: init_from={re.escape(str(path))}: 1 weight tensors hold NaN or inf values "
                        r"\(encoder.fc_mu.weight\).*", line), line
    assert "lower optim.lr" not in err and f"its run folder is {tmp_path / 'run'}" in err
    assert not (tmp_path / "run" / "checkpoints").exists()
    # the same for the Python API
    with pytest.raises(ConfigError, match=rf"init_from={re.escape(str(path))}: 1 weight tensors hold NaN"):
        run(tmp_path / "api", *SYNTHETIC, "recipe=control", f"init_from={path}")
    # and evaluate's model
    assert quiet_hydra(evaluate_cli.main, f"ckpt={tmp_path / 'missing.pt'}", "dataset=synthetic",
                       "metrics=[separation]") == 2
    line = one_error_line(capsys.readouterr().err)
    missing = re.escape(str(tmp_path / "missing.pt"))
    assert re.fullmatch(rf"error: ckpt={missing}: model file {missing} not found: .*", line), line


@pytest.mark.parametrize("argv, expected", [
    (["status", "nosuchkey=3"], r"nosuchkey=3: train and evaluate have no option 'nosuchkey'$"),
    (["status", "--for", "train", "metrics=[fid]"], r"metrics=\[fid\]: train has no option 'metrics'$"),
    (["status", "dataset=cityscape"], r"train: In 'train': Could not find 'dataset/cityscape' \(available: "
                                      r"ade20k, cityscapes, .*\)$"),
    (["fetch", "vgg19", "--mirror", "notaurl"], r"--mirror 'notaurl': expected an http://, https:// or file://"),
])
def test_smis_weights_bad_arguments_are_one_line(argv, expected, capsys):
    from smis.cli.weights import main

    assert main(argv) == 2
    assert re.search(expected, one_error_line(capsys.readouterr().err))


def test_smis_weights_takes_options_after_the_overrides_and_names_an_unwritable_cache(tmp_path, monkeypatch,
                                                                                       capsys):
    from smis.cli.weights import main

    assert main(["status", "dataset=cityscapes", "--for", "evaluate"]) == 0
    assert "drn-d-105-cityscapes" in capsys.readouterr().out
    (tmp_path / "a_file").write_text("x")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "a_file" / "torch"))
    (tmp_path / "mirror").mkdir()
    assert main(["fetch", "vgg19", "--mirror", (tmp_path / "mirror").as_uri()]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "\nsmis-weights: error: " in err
    cache = tmp_path / "a_file" / "torch" / "hub" / "checkpoints"
    assert f"cannot make the cache folder {cache} (Not a directory): set TORCH_HOME to a writable" in err


def test_convert_names_a_missing_folder(tmp_path, capsys):
    missing = tmp_path / "no_such_folder"
    assert convert.main([str(missing), "--dataset", "ade20k", "-o", str(tmp_path / "m.pt")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: checkpoint folder not found: {missing} (expected a folder with")
    assert not (tmp_path / "m.pt").exists()
