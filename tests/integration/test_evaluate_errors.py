"""smis.evaluate under wrong settings and missing inputs: each a clear error before any work (too few
images for FID, bad max_images, metrics that cannot run, another dataset's model, no GPU, missing
metric weights, an empty split)."""

import pytest
import torch

from smis.config import compose_config
from smis.data import DEEPFASHION
from smis.evaluate import EvaluationError, evaluate
from smis.hub import save_model
from smis.networks import GroupDNet, preset
from tests.helpers.weight_files import random_alexnet_file, random_inception_file


@pytest.fixture(scope="module")
def eval_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval_files")
    model = GroupDNet(preset("small", num_classes=8), with_discriminator=False)
    other = GroupDNet(preset("small", num_classes=8), with_discriminator=False)
    other.spec = DEEPFASHION                                   # 8 classes too
    return {"ckpt": save_model(model, folder / "model.pt"),
            "fashion": save_model(other, folder / "fashion.pt"),
            "inception": random_inception_file(folder), "alexnet": random_alexnet_file(folder)}


def eval_config(files, run_dir, *overrides):
    return compose_config([
        f"ckpt={files['ckpt']}", "dataset=synthetic", "dataset.size=[64,128]", "dataset.num_val=4",
        "dataset.batch_size=2", "dataset.num_workers=0", "logger=none", f"fid.weights={files['inception']}",
        f"fid.stats_dir={run_dir.parent / 'fid'}", f"diversity.lpips_backbone={files['alexnet']}",
        "diversity.samples=2", "diversity.label_maps=1", "device=cpu", "fid.feature=64", *overrides],
        output_dir=run_dir, config_name="evaluate")


def test_fid_with_fewer_than_two_images_fails_before_loading_its_network(eval_files, tmp_path):
    missing = tmp_path / "no-inception.pth"                    # never looked for: the count fails first
    cases = [(["max_images=1"], r"1 \(the validation split holds 4\): raise max_images"),
             (["dataset.num_val=1"], r"1 \(the validation split holds 1\): set dataset.num_val=2")]
    for overrides, found in cases:
        with pytest.raises(EvaluationError, match="FID needs at least 2 images and this run evaluates "
                                                   + found):
            evaluate(eval_config(eval_files, tmp_path / "run", "metrics=[fid]", f"fid.weights={missing}",
                                 *overrides))


@pytest.mark.parametrize("value", ["0", "-3", "abc", "true"])
def test_max_images_must_be_a_positive_integer(eval_files, tmp_path, value):
    with pytest.raises(EvaluationError, match="max_images=.*: expected a positive integer, or null"):
        evaluate(eval_config(eval_files, tmp_path / "run", "metrics=[lpips]", f"max_images={value}"))


def test_unavailable_metrics_alone_are_an_error_and_skips_are_printed(eval_files, tmp_path, capsys):
    with pytest.raises(EvaluationError, match=r"none of metrics=\['miou'\] can run: miou: no segmenter "
                                              r"for dataset 'synthetic': set segmenter=.* or "
                                              r"segmenters.synthetic="):
        evaluate(eval_config(eval_files, tmp_path / "a", "metrics=[miou]"))
    assert not (tmp_path / "a" / "metrics.json").exists()
    results = evaluate(eval_config(eval_files, tmp_path / "b", "metrics=[lpips,miou]"))
    assert "lpips_diversity" in results and "miou" in results["skipped"]
    assert "note: miou skipped: no segmenter for dataset 'synthetic'" in capsys.readouterr().err


def test_a_model_of_another_dataset_needs_allow_other_dataset(eval_files, tmp_path):
    options = [f"ckpt={eval_files['fashion']}", "metrics=[lpips]", "max_images=1"]
    with pytest.raises(EvaluationError, match="trained on dataset 'deepfashion' .* but the data evaluated is "
                                              "'synthetic' .*allow_other_dataset=true"):
        evaluate(eval_config(eval_files, tmp_path / "a", *options))
    assert "lpips_diversity" in evaluate(eval_config(eval_files, tmp_path / "b", *options,
                                                     "allow_other_dataset=true"))


def test_cuda_without_a_gpu_is_a_clear_error(eval_files, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda', but this machine has no CUDA GPU: use device=cpu"):
        evaluate(eval_config(eval_files, tmp_path / "run", "device=cuda"))


def test_missing_metric_weights_name_the_option(eval_files, tmp_path):
    missing = tmp_path / "missing.pth"
    drn = f"{{_target_: smis.evaluation.segmenters.drn_d_105, weights: '{missing}'}}"
    for overrides, option in [(["metrics=[fid]", f"fid.weights={missing}"], "fid.weights"),
                              (["metrics=[mcsd]", f"diversity.lpips_backbone={missing}"],
                               "diversity.lpips_backbone"),
                              (["metrics=[miou]", f"segmenter={drn}"], "segmenter.weights"),
                              (["metrics=[miou]", f"+segmenters.synthetic={drn}"],
                               "segmenters.synthetic.weights")]:
        with pytest.raises(FileNotFoundError, match=rf"missing.pth.* Option: {option}=PATH"):
            evaluate(eval_config(eval_files, tmp_path / "run", *overrides))


def test_an_empty_validation_split_is_an_error_not_an_empty_report(eval_files, tmp_path):
    with pytest.raises(EvaluationError, match="the validation split is empty.*dataset.num_val=1"):
        evaluate(eval_config(eval_files, tmp_path / "run", "metrics=[separation]", "dataset.num_val=0"))
    assert not (tmp_path / "run" / "metrics.json").exists()
