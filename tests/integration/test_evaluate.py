"""`smis.evaluate` end to end on a tiny synthetic checkpoint, with random metric networks."""

import json

import pytest
import torch
import torchvision

from smis.config import compose_config
from smis.evaluate import EvaluationError, evaluate
from smis.hub import save_model
from smis.networks import GroupDNet, preset
from tests.helpers.data_trees import cityscapes_tree
from tests.helpers.weight_files import random_alexnet_file, random_inception_file

KEYS = {"images", "skipped", "fid", "miou", "pixel_accuracy", "per_class_iou", "lpips_diversity", "mcsd",
        "mocd", "per_class_diversity", "separation", "pixel_inside", "pixel_outside", "per_class_separation",
        "recon_l1", "transfer", "transfer_pairs", "per_class_transfer", "looks_ratio", "looks_coverage",
        "looks_texture_ratio", "looks_bias", "per_class_looks", "settings"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    net = GroupDNet(preset("small", num_classes=8), with_discriminator=False)
    segmenter = torchvision.models.segmentation.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=8)
    torch.save(segmenter.state_dict(), folder / "segmenter.pth")
    return {"ckpt": save_model(net, folder / "model.pt"), "inception": random_inception_file(folder),
            "alexnet": random_alexnet_file(folder), "segmenter": folder / "segmenter.pth"}


def config(files, run_dir, *overrides):
    return compose_config([
        f"ckpt={files['ckpt']}", "dataset=synthetic", "dataset.size=[64,128]", "dataset.num_val=4",
        "dataset.batch_size=2", "dataset.num_workers=0", "logger=csv", f"fid.weights={files['inception']}",
        f"fid.stats_dir={run_dir.parent / 'fid'}", f"diversity.lpips_backbone={files['alexnet']}",
        "diversity.samples=3", "diversity.label_maps=2", "separation.samples=2", "separation.label_maps=2",
        "device=cpu", "fid.feature=64",
        "segmenter={_target_: smis.evaluation.segmenters.torchvision_segmenter, "
        f"model: lraspp_mobilenet_v3_large, num_classes: 8, weights: '{files['segmenter']}'}}", *overrides],
        output_dir=run_dir, config_name="evaluate")


def test_evaluate_writes_every_metric_and_reuses_real_statistics(files, tmp_path):
    results = evaluate(config(files, tmp_path / "first", "save_images=true"))
    on_disk = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert set(on_disk) == KEYS and on_disk["images"] == 4 and on_disk["skipped"] == {}
    assert on_disk["fid"] == pytest.approx(results["fid"]) and results["fid"] > 0
    assert 0 <= results["miou"] <= 1 and 0 <= results["pixel_accuracy"] <= 1
    assert results["lpips_diversity"] > 0 and results["mcsd"] > 0 and results["mocd"] >= 0
    assert results["pixel_inside"] > 0 and results["separation"] == pytest.approx(
        results["pixel_outside"] / results["pixel_inside"])
    assert results["per_class_separation"] and set(results["per_class_separation"]) <= {
        "sky", "grass", "road", "building", "tree", "car", "water", "rock"}
    assert 0 < results["recon_l1"] < 2
    assert results["transfer_pairs"] > 0 and 0 <= results["transfer"] <= 1
    assert results["looks_ratio"] >= 0 and 0 <= results["looks_coverage"] <= 1 and results["looks_bias"] >= 0
    assert set(results["per_class_looks"]) <= set(results["per_class_separation"]) | {
        "sky", "grass", "road", "building", "tree", "car", "water", "rock"}
    per_class = results["per_class_transfer"].values()            # the overall rate, class by class
    assert sum(d["pairs"] for d in per_class) == results["transfer_pairs"]
    assert sum(d["transfer"] * d["pairs"] for d in per_class) == pytest.approx(
        results["transfer"] * results["transfer_pairs"])
    assert set(results["per_class_diversity"]) <= {"sky", "grass", "road", "building", "tree", "car",
                                                    "water", "rock"}
    assert "| fid |" in (tmp_path / "first" / "metrics.md").read_text()
    assert len(list((tmp_path / "first" / "images").glob("*.png"))) == 4
    assert len(list((tmp_path / "fid").glob("*.pt"))) == 1              # real statistics cached
    again = evaluate(config(files, tmp_path / "second", "metrics=[fid]"))
    assert again["fid"] == pytest.approx(results["fid"], rel=1e-6)      # same fakes, cached reals
    assert set(again) == {"images", "skipped", "fid", "settings"}


def test_partial_runs_do_not_cache_real_statistics_and_upsampled_segmentation(files, tmp_path):
    results = evaluate(config(files, tmp_path / "run", "metrics=[fid,miou]", "max_images=2",
                              "segmentation_size=[128,256]"))
    assert results["images"] == 2 and 0 <= results["miou"] <= 1
    assert not (tmp_path / "fid").exists()


def test_evaluate_without_a_segmenter_skips_miou_with_a_reason(files, tmp_path):
    cfg = config(files, tmp_path / "run", "metrics=[lpips,miou]")     # miou alone is an error
    cfg.segmenter = None
    results = evaluate(cfg)
    assert "miou" not in results and "no segmenter for dataset 'synthetic'" in results["skipped"]["miou"]


def test_evaluate_rejects_bad_settings(files, tmp_path):
    tree = cityscapes_tree(tmp_path / "cityscapes")
    with pytest.raises(EvaluationError, match="unknown"):
        evaluate(config(files, tmp_path / "a", "metrics=[fid,is]"))
    cityscapes = compose_config([f"ckpt={files['ckpt']}", "dataset=cityscapes", f"dataset.root={tree}",
                                 "logger=none"], output_dir=tmp_path / "b", config_name="evaluate")
    with pytest.raises(EvaluationError, match="8 classes but the dataset has 35"):
        evaluate(cityscapes)
    missing = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    with pytest.raises(FileNotFoundError, match="weights-inception-2015-12-05-6726825d.pth"):
        evaluate(config(files, tmp_path / "c", f"fid.weights={missing}"))
