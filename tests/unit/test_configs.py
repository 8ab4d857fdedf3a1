"""The model preset configs instantiate (Hydra `_target_`) to the presets in code."""

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from smis.networks import preset
from tests.helpers.paths import REPO

CONFIGS = REPO / "configs" / "model"


@pytest.mark.parametrize("name", ["deepfashion", "cityscapes", "ade20k", "small"])
def test_model_config_instantiates_the_preset(name):
    cfg = OmegaConf.load(CONFIGS / f"{name}.yaml")
    if cfg.num_classes is None:                    # small: the class count comes from the dataset
        cfg.num_classes = 8
    assert instantiate(cfg) == preset(name)


def test_configs_ship_in_the_wheel_and_compose_from_it(tmp_path):
    """`python -m smis.train` works after a non-editable install: the configs are package data, and
    so are the shipped model, the example scenes and the studio's page; the distribution is
    `groupdnet` (PyPI's `smis` is another project) with every console script."""
    import subprocess
    import sys
    import zipfile

    root = REPO
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(root), "-w", str(tmp_path / "wheel")], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("groupdnet-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    configs = REPO / "src" / "smis" / "configs"
    for path in [*configs.rglob("*.yaml"), *(REPO / "src" / "smis" / "examples").glob("*/*.png"),
                 *(REPO / "src" / "smis" / "studio" / "static").iterdir(),
                 REPO / "src" / "smis" / "hub" / "models" / "synthetic.pt"]:
        assert path.relative_to(REPO / "src").as_posix() in names, path
    for name in ["smis-train", "smis-evaluate", "smis-generate", "smis-studio", "smis-export",
                 "smis-fit-prior"]:
        assert f"{name} = " in scripts, name
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(tmp_path / "site"), str(wheel)], check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", "import smis; print(smis.__file__)"],
                         cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")}, capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith(str(tmp_path / "site"))
    job = subprocess.run([sys.executable, "-m", "smis.train", "dataset=cityscapes", "dataset.root=/data",
                          "--cfg", "job"], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")},
                         capture_output=True, text=True)
    assert job.returncode == 0, job.stderr
    assert "name: cityscapes" in job.stdout and "constant_epochs: 100" in job.stdout


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS.parent / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["dataset", "recipe", "model", "optim", "loss", "trainer", "logger",
                                   "callbacks", "experiment", "hparams_search", "launcher", "debug", "paths"])
def test_every_option_of_every_group_composes(group):
    from hydra.utils import instantiate as build

    from tests.helpers.hydra_configs import compose_train

    for option in options(group):
        cfg = compose_train([f"{group}={option}", "++dataset.root=/data" if group == "dataset" else "seed=0"],
                            Path("/tmp/run"))
        assert cfg.model.name and cfg.optim.lr_g > 0 and cfg.trainer._target_
        if group in ("trainer", "logger", "callbacks"):
            node = cfg[group]
            if node and "_target_" not in node:
                for sub in node.values():                 # every target imports and is callable
                    assert callable(build(sub, _partial_=True)), sub._target_
            elif node:
                assert callable(build(node, _partial_=True)), node._target_
        if group == "dataset":                            # the datamodule and its Dataset class import
            datamodule = build(cfg.dataset, _partial_=True)
            assert datamodule.func.__name__ == cfg.dataset._target_.rsplit(".", 1)[1]
            if "dataset_class" in cfg.dataset:
                from hydra.utils import get_class
                from torch.utils.data import Dataset

                assert issubclass(get_class(cfg.dataset.dataset_class), Dataset)


MODULES = {"ade20k": "FileDataModule", "cityscapes": "FileDataModule", "folder": "ImageFolderDataModule",
           "deepfashion": "FileDataModule", "synthetic": "SyntheticDataModule",
           "synthetic_small": "SyntheticDataModule"}


def test_evaluate_config_composes_with_every_dataset():
    from smis.config import compose_config

    for option in options("dataset"):
        cfg = compose_config([f"dataset={option}", "++dataset.root=/data", "ckpt=model.pt"],
                             Path("/tmp/run"), config_name="evaluate")
        assert cfg.dataset._target_ == "smis.data." + MODULES[option]
        assert cfg.metrics == "auto"
        assert cfg.protocol.fid.feature == 2048 and cfg.fid.feature is None   # null: the protocol's
