"""Evaluation protocols (configs/protocol/*.yaml, `protocol=NAME`): every preset composes and pins what it
claims, read back from metrics.json of end-to-end runs with random weights, and its ignore-label rules
against the official Cityscapes evaluation. The segmenters and FID pipelines they name:
test_protocol_networks.py."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from smis.config import CONFIG_DIR, compose_config
from smis.data import CITYSCAPES
from smis.evaluate import EvaluationError, evaluate
from smis.evaluation.confusion import ConfusionMatrix
from smis.evaluation.fid import INCEPTION_FILE
from smis.evaluation.protocol import (
    IgnoredPixels,
    ProtocolError,
    check_protocol,
    csail_size,
    predict,
    resolve,
    segmentation_scores,
)
from smis.evaluation.segmenters import Segmenter
from tests.helpers.data_trees import cityscapes_tree, save, stripes_label
from tests.helpers.evaluation import CLAIMS, PRESETS, official_scores
from tests.helpers.weight_files import random_inception_file


def shipped(name: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "protocol" / f"{name}.yaml"))


# --- a segmenter that shows what it is given ----------------------------------------------------------

SEEN: list[tuple[tuple[int, int], bool]] = []   # (input size, on the 8-bit grid) of every batch segmented


class Probe(Segmenter):
    """Predicts class 0 everywhere; records the size of its input and whether it holds 8-bit values."""

    def forward(self, images, size=None):
        pixels = (images + 1) * 127.5
        SEEN.append((tuple(images.shape[-2:]), bool(torch.allclose(pixels, pixels.round(), atol=1e-3))))
        logits = torch.zeros(images.shape[0], self.num_classes, *(size or images.shape[-2:]))
        logits[:, 0] = 1
        return logits


def probe(num_classes: int) -> Probe:
    return Probe(num_classes)


PROBE = f"{__name__}.probe"          # the builder above, as a config's _target_


def probe_option(num_classes: int) -> str:
    return f"{{_target_: {PROBE}, num_classes: {num_classes}}}"


# --- presets compose and pin what they claim ----------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_composes_and_pins_its_claims(name):
    cfg = compose_config([f"protocol={name}", "ckpt=x"], config_name="evaluate")
    check_protocol(cfg.protocol)
    claims = CLAIMS[name]
    assert cfg.protocol.name == name and (cfg.protocol.fid.resize, cfg.protocol.fid.quantize) == claims["fid"]
    assert cfg.protocol.fid.feature == 2048 and cfg.protocol.images is None
    for dataset, images in (("cityscapes", 500), ("ade20k", 2000)):
        applied = resolve(cfg, dataset)
        assert applied.deviations == [] and applied.expected_images == images
        rules = applied.segmentation
        for key in ("size", "scales", "ignored_in_accuracy", "absent_classes"):
            if key in claims[dataset]:
                assert rules[key] == claims[dataset][key], (dataset, key)
        assert rules["ignored_in_miou"] == "exclude" and rules["label_resize"] == "nearest"
    drn, upernet = resolve(cfg, "cityscapes").segmenter, resolve(cfg, "ade20k").segmenter
    assert drn == {"_target_": "smis.evaluation.segmenters.drn_d_105", "weights": None}
    assert upernet == {"_target_": "smis.evaluation.segmenters.upernet101",
                       "release": claims["ade20k"]["release"], "weights_dir": None}
    assert resolve(cfg, "ade20k").segmenter_option == "segmenters.ade20k.weights_dir"


def test_a_changed_preset_setting_and_overrides_are_deviations():
    cfg = compose_config(["protocol=spade", "ckpt=x", "protocol.fid.quantize=round",
                          "segmentation_size=[64,128]", "max_images=7", "fid.feature=64"],
                         config_name="evaluate")
    applied = resolve(cfg, "cityscapes")
    assert applied.deviations == ["protocol.fid.quantize=round (preset spade: truncate)",
                                  "segmentation_size=[64, 128] (protocol: [1024, 2048])",
                                  "fid.feature=64 (protocol: 2048)",
                                  "max_images=7 (protocol: the whole split)"]
    assert applied.segmentation["size"] == [64, 128] and applied.images == 7 and applied.fid["feature"] == 64
    own = compose_config(["ckpt=x", "segmenters.cityscapes={_target_: my.segmenter, weights: /w.pth}"],
                         config_name="evaluate")
    assert resolve(own, "cityscapes").segmenter == {"_target_": "my.segmenter", "weights": "/w.pth"}
    (deviation,) = resolve(own, "cityscapes").deviations
    assert deviation == ("segmenters.cityscapes=my.segmenter replaces the protocol's segmenter "
                         "(smis.evaluation.segmenters.drn_d_105)")
    with pytest.raises(ProtocolError, match="ignored_in_accuracy='sometimes'"):
        resolve(compose_config(["ckpt=x", "protocol.segmentation.ignored_in_accuracy=sometimes"],
                               config_name="evaluate"), "ade20k")
    with pytest.raises(ProtocolError, match="quantize=none is for pytorch_fid only"):
        check_protocol(compose_config(["ckpt=x", "protocol.fid.quantize=none"],
                                      config_name="evaluate").protocol)


class PaintNet:
    """Stands in for a generator of `num_classes` classes: one grey level per class, not on the 8-bit grid
    (a randomly initialised GroupDNet saturates at -1 / 1, which is)."""

    def __init__(self, num_classes: int):
        self.config, self.spec = SimpleNamespace(num_classes=num_classes), None

    def to(self, device):
        return self

    def sample_z(self, n, h, w, generator=None, device=None, prior=None):
        return torch.zeros(n, 1, h, w)

    def decode(self, label, z, instance=None):
        return (label.float() / (self.config.num_classes / 2 + 0.3) - 0.99).expand(-1, 3, -1, -1).contiguous()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return {"inception": random_inception_file(tmp_path_factory.mktemp("weights"))}


@pytest.fixture
def paint(monkeypatch):
    """evaluate() gets the stub generator of the dataset's class count instead of loading a checkpoint."""
    monkeypatch.setattr("smis.evaluation.runner.load_model", lambda path: PaintNet(int(path.split("-")[1])))


def synthetic_config(files, run_dir, *overrides):
    return compose_config([
        "ckpt=paint-8-classes", "dataset=synthetic", "dataset.size=[64,128]", "dataset.num_val=4",
        "dataset.batch_size=2", "dataset.num_workers=0", "logger=none", f"fid.weights={files['inception']}",
        f"fid.stats_dir={run_dir.parent / 'fid'}", "device=cpu", "fid.feature=64", "metrics=[fid,miou]",
        f"segmenter={probe_option(8)}", *overrides], output_dir=run_dir, config_name="evaluate")


def test_metrics_json_records_each_preset_and_the_run_follows_it(files, paint, tmp_path):
    fids = {}
    for name in PRESETS:
        SEEN.clear()
        run = tmp_path / name
        fids[name] = evaluate(synthetic_config(files, run, f"protocol={name}"))["fid"]
        protocol = json.loads((run / "metrics.json").read_text())["settings"]["protocol"]
        preset_file = shipped(name)
        assert {key: protocol[key] for key in preset_file} == preset_file    # every pinned setting
        applied = protocol["applied"]
        assert applied["fid"] == {**preset_file["fid"], "feature": 64}
        assert applied["segmentation"] == preset_file["segmentation"]     # synthetic: the defaults
        assert applied["segmenter"] == {"_target_": PROBE, "num_classes": 8}
        assert list(applied["weight_files"]["fid"]) == [INCEPTION_FILE]
        assert protocol["deviations"] == [
            "fid.feature=64 (protocol: 2048)",
            f"segmenter={PROBE} replaces the protocol's segmenter (none for synthetic)"]
        assert (run / "metrics.md").read_text().splitlines()[0] == f"| metric | value (protocol {name}) |"
        on_grid = preset_file["segmentation"]["quantize"] != "none"    # smis segments the float output
        assert SEEN and all(seen == ((64, 128), on_grid) for seen in SEEN), name
    cached = sorted(p.name for p in (tmp_path / "fid").glob("*.pt"))
    assert len(cached) == 2 and cached[1].endswith("_f64_pytorch_fid.pt")    # one per pipeline
    # the FID settings are applied: spade and groupdnet pin the same ones; smis and oasis differ
    assert fids["spade"] == pytest.approx(fids["groupdnet"], rel=1e-9)
    assert len({round(fids[n], 9) for n in ("smis", "spade", "oasis")}) == 3


STRIPES = [7, 0, 26, 4, 23]   # road, unlabeled (ignored), car, static (ignored), sky


@pytest.fixture
def cityscapes(tmp_path, paint):
    """A Cityscapes tree whose val labels hold ignored labels (and the stub generator)."""
    root = cityscapes_tree(tmp_path / "cityscapes")
    for path in (root / "gtFine" / "val").rglob("*_labelIds.png"):
        save(stripes_label(32, 64, STRIPES), path)
    return root


def cityscapes_config(root, files, run_dir, *overrides):
    return compose_config([
        "ckpt=paint-35-classes", "dataset=cityscapes", f"dataset.root={root}", "dataset.size=[32,64]",
        "dataset.batch_size=2", "dataset.num_workers=0", "logger=none", f"fid.weights={files['inception']}",
        f"fid.stats_dir={run_dir.parent / 'fid'}", "device=cpu", "fid.feature=64", "metrics=[fid,miou]",
        f"segmenter={probe_option(19)}", *overrides], output_dir=run_dir, config_name="evaluate")


@pytest.mark.parametrize("name", PRESETS)
def test_cityscapes_scoring_of_each_preset_end_to_end(cityscapes, files, tmp_path, name):
    SEEN.clear()
    results = evaluate(cityscapes_config(cityscapes, files, tmp_path / "run", f"protocol={name}"))
    label = stripes_label(32, 64, STRIPES)
    road, scored = (label == 7).sum(), np.isin(label, [7, 26, 23]).sum()
    # the probe predicts road (trainId 0) everywhere: road IoU = road / scored, car and sky 0, the rest absent
    counted = CLAIMS[name]["cityscapes"]["ignored_in_accuracy"] == "count"
    assert results["pixel_accuracy"] == pytest.approx(road / (label.size if counted else scored))
    assert results["miou"] == pytest.approx(road / scored / 3)
    size = CLAIMS[name]["cityscapes"]["size"]
    # at the pinned size; 8-bit pixels when quantised and not resized (bilinear upsampling leaves the grid)
    on_grid = shipped(name)["segmentation"]["quantize"] != "none" and size is None
    assert SEEN and all(seen == (tuple(size or [32, 64]), on_grid) for seen in SEEN)
    protocol = json.loads((tmp_path / "run" / "metrics.json").read_text())["settings"]["protocol"]
    assert protocol["applied"]["segmentation"]["size"] == CLAIMS[name]["cityscapes"]["size"]
    assert protocol["deviations"][-1] == "2 images evaluated; the protocol's published numbers use 500"
    notes = (tmp_path / "run" / "metrics.md").read_text()
    if name != "smis":
        assert f"Published with protocol {name} on cityscapes: miou " in notes


def test_fid_reference_split_reads_the_whole_other_split(cityscapes, files, tmp_path):
    run = tmp_path / "run"
    results = evaluate(cityscapes_config(cityscapes, files, run, "protocol=oasis",
                                         "protocol.fid.reference_split=train"))
    assert results["fid"] > 0
    (cached,) = (tmp_path / "fid").glob("*.pt")
    assert cached.name.startswith("fid_real_cityscapes_train-")           # the train split's statistics
    assert int(torch.load(cached, weights_only=True)["real_features_num_samples"]) == 4
    protocol = json.loads((run / "metrics.json").read_text())["settings"]["protocol"]
    assert protocol["deviations"][0] == "protocol.fid.reference_split=train (preset oasis: None)"
    with pytest.raises(EvaluationError, match="no val_split option"):
        evaluate(synthetic_config(files, tmp_path / "s", "protocol.fid.reference_split=train"))


# --- ignore-label rules against the official Cityscapes evaluation -------------------------------------


def official_evaluation(tmp_path):
    """Random labelId ground truth and predictions scored by cityscapesScripts -> (its result, gt, pred)."""
    rng = np.random.default_rng(3)
    gts, preds = [], []
    for _ in range(3):
        gt = rng.integers(0, 34, size=(48, 96)).astype(np.uint8)
        gt[:10, :20] = 7
        pred = np.where(rng.random(gt.shape) < 0.5, gt, rng.integers(0, 34, size=gt.shape)).astype(np.uint8)
        gts.append(gt)
        preds.append(pred)
    return official_scores(tmp_path, gts, preds), np.stack(gts), np.stack(preds)


def from_official_matrix(official, rules):
    """mIoU, accuracy and per-class IoU derived from the official labelId confusion matrix (rows: every
    ground-truth labelId, ignored ones included) under one preset's rules."""
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")
    m = np.array(official["confMatrix"], dtype=np.float64)
    scored = [lab.id for lab in labels.labels if 0 <= lab.id < len(m) and not lab.ignoreInEval]
    ignored = [lab.id for lab in labels.labels if 0 <= lab.id < len(m) and lab.ignoreInEval]
    tp = m[scored, scored]
    fn = m[scored].sum(1) - tp
    rows = scored + (ignored if rules["ignored_in_miou"] == "count" else [])
    fp = m[np.ix_(rows, scored)].sum(0) - tp
    with np.errstate(invalid="ignore"):
        iou = tp / (tp + fp + fn)
    miou = np.nanmean(iou) if rules["absent_classes"] == "skip" else np.nan_to_num(iou).mean()
    total = m[scored].sum() + (m[ignored].sum() if rules["ignored_in_accuracy"] == "count" else 0)
    names = [labels.id2label[i].name for i in scored]
    return miou, tp.sum() / total, dict(zip(names, iou))


@pytest.mark.parametrize("name", PRESETS)
def test_ignore_rules_of_each_preset_match_the_official_cityscapes_evaluation(tmp_path, name):
    official, gts, preds = official_evaluation(tmp_path)
    cfg = compose_config([f"protocol={name}", "ckpt=x"], config_name="evaluate")
    rules = resolve(cfg, "cityscapes").segmentation
    confusion, ignored = ConfusionMatrix(19), IgnoredPixels(19)
    target = CITYSCAPES.ground_truth(torch.from_numpy(gts).long())
    pred = CITYSCAPES.ground_truth(torch.from_numpy(preds).long())   # DRN-like: trainIds, 255 = a miss
    confusion.update(pred, target)
    ignored.update(pred, target)
    ours = segmentation_scores(confusion, ignored, rules)
    miou, accuracy, per_class = from_official_matrix(official, rules)
    assert ours["miou"] == pytest.approx(miou, abs=1e-9)
    assert ours["pixel_accuracy"] == pytest.approx(accuracy, abs=1e-9)
    for train_id, class_name in enumerate(CITYSCAPES.eval_names):
        assert (math.isnan(ours["iou"][train_id]) and math.isnan(per_class[class_name])) or \
            ours["iou"][train_id].item() == pytest.approx(per_class[class_name], abs=1e-9), class_name
    if rules["ignored_in_miou"] == "exclude" and rules["absent_classes"] == "skip":
        assert ours["miou"] == pytest.approx(official["averageScoreClasses"], abs=1e-9)   # the script's own
    counted = ignored.counts.sum() / (confusion.state.sum() + ignored.counts.sum())
    assert counted > 0.1   # ignored pixels are there to count: the rules are told apart


def test_count_rules_by_hand():
    target = torch.tensor([[[0, 0, 1, 255, 255]]])
    pred = torch.tensor([[[0, 1, 1, 1, 7]]])                # predictions on ignored pixels: class 1, outside
    confusion, ignored = ConfusionMatrix(3), IgnoredPixels(3)
    confusion.update(pred, target)
    ignored.update(pred, target)
    assert ignored.counts.tolist() == [0, 1, 0, 1]
    base = {"ignored_in_accuracy": "exclude", "ignored_in_miou": "exclude", "absent_classes": "skip"}
    assert segmentation_scores(confusion, ignored, base)["pixel_accuracy"] == pytest.approx(2 / 3)
    counted = segmentation_scores(confusion, ignored, {**base, "ignored_in_accuracy": "count"})
    assert counted["pixel_accuracy"] == pytest.approx(2 / 5)
    # IoU0 = 1/2, IoU1 = 1/2 (+1 false positive on an ignored pixel: 1/3); class 2 absent
    assert segmentation_scores(confusion, ignored, base)["miou"] == pytest.approx(1 / 2)
    assert segmentation_scores(confusion, ignored, {**base, "ignored_in_miou": "count"})["miou"] == \
        pytest.approx((1 / 2 + 1 / 3) / 2)
    assert segmentation_scores(confusion, ignored, {**base, "absent_classes": "zero"})["miou"] == \
        pytest.approx(1 / 3)


# --- CSAIL's averaged scales ---------------------------------------------------------------------------


def test_csail_test_sizes_and_averaged_scales():
    assert csail_size(256, 256, 300, 1000, 32) == (320, 320)      # 300 rounded up to a multiple of 32
    assert csail_size(256, 512, 450, 1000, 32) == (480, 928)      # 450 x 900, rounded up
    assert csail_size(256, 512, 600, 1000, 8) == (504, 1000)      # the long side capped at 1000

    class BySize(Segmenter):
        """Logits that depend on the input height: the average over scales is what decides."""

        def segment(self, x):
            h = x.shape[-2]
            base = torch.tensor([h / 100, 4.0, 2.0]).view(1, 3, 1, 1)
            return base.expand(x.shape[0], 3, 4, 4).contiguous()

    seen = []
    model = BySize(3)
    model.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape[-2:])))
    images = torch.rand(1, 3, 64, 64) * 2 - 1
    rules = {"scales": [100, 600], "max_size": 1000, "padding": 8, "image_resize": "bilinear"}
    pred = predict(model, images, rules)
    assert seen == [(104, 104), (600, 600)] and pred.shape == (1, 64, 64)
    probs = sum(torch.tensor([h / 100, 4.0, 2.0]).softmax(0) for h in (104, 600)) / 2
    assert (pred == probs.argmax()).all() and probs.argmax() == 1    # 6.0 alone would pick class 0
    assert (predict(model, images, {**rules, "scales": None}) == 1).all()
