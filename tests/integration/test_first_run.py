"""A new user's first run (the README's Quick start runs in test_docs.py): train and evaluate without
their weight files (one error, no run folder), the no-VGG recipe on one's own folder, evaluation on
small folders."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smis import examples
from smis.config import compose_config
from smis.evaluate import EvaluationError, evaluate
from smis.hub import save_model
from smis.networks import GroupDNet, preset
from tests.helpers.data_trees import folder_tree
from tests.helpers.hydra_configs import run
from tests.helpers.weight_files import random_inception_file

BIN = Path(sys.executable).parent  # the commands installed beside this Python (smis-generate, ...)


def run_side_by_side(cwd: Path, env: dict, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Start every command, then wait for each (most of their time is imports)."""
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    running = [subprocess.Popen(c, cwd=cwd, env=env, **pipes) for c in commands]
    outputs = [r.communicate() for r in running]
    return [subprocess.CompletedProcess(r.args, r.returncode, *out) for r, out in zip(running, outputs)]


def test_shipped_examples_are_the_scenes_they_name(tmp_path):
    """The example files are the held-out synthetic scenes, made again here from their recipe."""
    made = examples.render(tmp_path)
    for path in made:
        shipped = examples.FOLDER / path.relative_to(tmp_path)
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(shipped))), shipped
    assert sum(p.stat().st_size for p in examples.FOLDER.glob("*/*.png")) < 300_000


def offline(tmp_path: Path, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Each `python -m MODULE ARGS` in tmp_path, offline, with an empty torch hub cache."""
    env = {**os.environ, "SMIS_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch_home")}
    return run_side_by_side(tmp_path, env, *([sys.executable, "-m", *c] for c in commands))


def test_offline_train_and_evaluate_list_every_missing_file_before_a_run_folder(tmp_path):
    root = folder_tree(tmp_path / "mine")
    trained, evaluated = offline(
        tmp_path,
        ["smis.train", f"dataset.root={root}", "dataset=folder"],
        ["smis.evaluate", "ckpt=synthetic", "dataset=cityscapes", f"dataset.root={tmp_path / 'nowhere'}",
         "metrics=[fid,miou,lpips]"],
    )
    assert trained.returncode == 2
    assert "Traceback" not in trained.stderr
    assert "vgg19-dcbb9e9d.pth" in trained.stderr and "smis-weights fetch vgg19" in trained.stderr
    assert "recipe=control" in trained.stderr  # how to go on without it
    assert evaluated.returncode == 2 and "Traceback" not in evaluated.stderr
    listed = evaluated.stderr.split("\n  - ")[1:]  # one entry per missing file, in one error
    assert [entry.split()[0] for entry in listed] == [
        "weights-inception-2015-12-05-6726825d.pth",
        "alexnet-owt-7be5be79.pth",
        "drn-d-105_ms_cityscapes.pth",
    ]
    assert evaluated.stderr.count("error:") == 1
    assert "smis-weights fetch inception alexnet drn-d-105-cityscapes" in evaluated.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no logs/, no run folder


def test_the_no_vgg_recipe_trains_on_a_folder_with_the_demo_experiment(tmp_path):
    """experiment=demo is the no-VGG recipe plus a schedule: it combines with your own data."""
    from smis.hub import load_model

    root = folder_tree(tmp_path / "mine", n=10, h=64, w=64)
    result = run(
        tmp_path,
        "experiment=demo",
        "dataset=folder",
        f"dataset.root={root}",
        "dataset.batch_size=2",
        "dataset.num_workers=0",
        "trainer.max_steps=2",
        "trainer.limit_val_batches=1",
    )
    net = load_model(result["model_path"])
    assert net.config.norm_rule == "fixed32" and net.config.encoder_mean_colour  # the demo's network
    assert net.spec.names == ("ground", "wall", "sky", "thing")  # trained on the folder


def test_dataset_configs_select_their_recipe_and_recipe_overrides_it():
    from tests.helpers.hydra_configs import compose_train

    authors = compose_train(["dataset=cityscapes", "dataset.root=/data"])
    assert authors.model.name == "cityscapes" and authors.loss.vgg == 10 and authors.dataset.batch_size == 1
    mine = compose_train(["dataset=folder", "dataset.root=/data", "recipe=control"])
    assert mine.loss.vgg == 0 and mine.model.encoder_width == 128 and mine.encoder_init.head_gain == 1.0
    assert mine.dataset.resize == 256  # the data options stay the folder's
    assert (
        compose_train(["dataset=folder", "dataset.root=/d", "recipe=control", "model=cityscapes"]).model.name
        == "cityscapes"
    )  # the command line still wins


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    net = GroupDNet(preset("small", num_classes=4), with_discriminator=False)
    return save_model(net, folder / "model.pt")


def evaluate_folder(root: Path, model: Path, run_dir: Path, *overrides: str) -> dict:
    return evaluate(
        compose_config(
            [
                f"ckpt={model}",
                "dataset=folder",
                f"dataset.root={root}",
                "dataset.resize=[64,128]",
                "dataset.num_workers=0",
                "logger=none",
                "device=cpu",
                "fid.feature=64",
                f"fid.stats_dir={run_dir.parent / 'fid'}",
                "separation.samples=2",
                "allow_other_dataset=true",
                *overrides,
            ],
            output_dir=run_dir,
            config_name="evaluate",
        )
    )


def test_auto_metrics_skip_what_lacks_weights_and_say_why(tmp_path, small_model, capsys):
    root = folder_tree(tmp_path / "mine", n=10, h=64, w=128)
    results = evaluate_folder(root, small_model, tmp_path / "run")  # metrics=auto, offline
    assert "separation" in results and "fid" not in results and "lpips_diversity" not in results
    assert "smis-weights fetch inception" in results["skipped"]["fid"]
    assert "smis-weights fetch alexnet" in results["skipped"]["lpips"]
    assert "no segmenter" in results["skipped"]["miou"]
    assert results["settings"]["metrics"] == {"requested": "auto", "run": ["separation", "looks"]}
    assert "per_class_looks" in results                          # needs no weight file either
    assert "fid skipped" in capsys.readouterr().err


def test_fid_on_a_small_folder_gives_advice_that_works(tmp_path, small_model):
    root = folder_tree(tmp_path / "mine", n=8, h=64, w=128)
    weights = random_inception_file(tmp_path / "weights")
    with pytest.raises(
        EvaluationError,
        match=r"dataset.val_fraction=0.1 of 8 pairs holds out 1: set "
        r"dataset.val_fraction=0.19 \(2 images\)",
    ) as error:
        evaluate_folder(root, small_model, tmp_path / "run", "metrics=[fid]", f"fid.weights={weights}")
    advice = re.search(r"dataset.val_fraction=(0\.\d+) \(2", str(error.value)).group(1)
    results = evaluate_folder(
        root,
        small_model,
        tmp_path / "run2",
        "metrics=[fid]",
        f"fid.weights={weights}",
        f"dataset.val_fraction={advice}",
    )
    assert results["images"] == 2 and results["fid"] >= 0


def test_size_changes_are_said_once(tmp_path, caplog):
    from hydra.utils import instantiate

    from tests.helpers.hydra_configs import compose_train

    root = folder_tree(tmp_path / "mine", n=10, h=24, w=32)
    datamodule = instantiate(
        compose_train(
            ["dataset=folder", f"dataset.root={root}", "dataset.resize=[48,64]", "dataset.num_workers=0"]
        ).dataset
    )
    with caplog.at_level("INFO"):
        datamodule.setup("fit")
        datamodule.setup("validate")
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data:")]
    options = "(set by dataset.resize and dataset.crop; resize=null keeps each file's size)"
    first_val = datamodule.val_set.samples[0].image.name
    change = "they are resized to 64x48 (upscaled)"
    assert said == [
        f"data: training images are 32x24 (the first: img_00.png); {change} {options}",
        f"data: validation images are 32x24 (the first: {first_val}); {change} {options}",
    ]


def test_progress_bar_counts_epochs_like_the_progress_lines():
    from types import SimpleNamespace

    from smis.training.callbacks import EpochProgressBar

    bar = EpochProgressBar()
    bar._trainer = SimpleNamespace(current_epoch=6, max_epochs=7)
    assert bar._get_train_description(6).strip() == "Epoch 7/7"


def test_auto_workers_follow_the_cores(monkeypatch):
    from smis.data import datamodules

    for cores, workers in ((1, 0), (2, 1), (3, 2), (16, 4)):
        monkeypatch.setattr(datamodules.os, "sched_getaffinity", lambda pid, n=cores: set(range(n)))
        assert datamodules.auto_workers() == workers
    with pytest.raises(ValueError, match="dataset.num_workers='many': expected auto or an integer"):
        datamodules.SyntheticDataModule(num_workers="many")


def test_a_short_run_exports_an_average_of_its_trained_weights(tmp_path):
    """With the EMA's warm-up (the default) the exported generator follows training; with a constant
    0.999 decay, 2 steps (4 optimiser steps) leave it nearly at the initial weights."""
    from smis.hub import load_model
    from tests.helpers.hydra_configs import SYNTHETIC

    distance = {}
    for warmup in (True, False):
        result = run(tmp_path, *SYNTHETIC, "ema_decay=0.999", f"ema_warmup={warmup}", "trainer.max_steps=4",
                     "trainer.limit_val_batches=1", name=f"warmup_{warmup}")
        ckpt = result["run_dir"] / "checkpoints" / "last.ckpt"
        trained, averaged = load_model(ckpt, prefer_ema=False), load_model(result["model_path"])
        distance[warmup] = sum(float((a - b).abs().sum()) for a, b in
                               zip(averaged.generator.parameters(), trained.generator.parameters()))
    assert distance[True] < 0.5 * distance[False], distance
