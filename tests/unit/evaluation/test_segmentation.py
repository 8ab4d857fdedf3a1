"""Segmentation side of the evaluation protocol: ConfusionMatrix against cityscapesScripts' official
evaluation, and the segmenters' architectures, official weight-file key names and loaders (random weights)."""

import math

import numpy as np
import pytest
import torch
import torchvision

from smis.data import CITYSCAPES
from smis.evaluation.confusion import ConfusionMatrix
from smis.evaluation.segmenters import drn_d_105, torchvision_segmenter, upernet101
from smis.weights import MissingWeightsError
from tests.helpers.evaluation import official_scores

CITYSCAPES_TRAIN_ID = torch.tensor([255 if i < 0 else i for i in CITYSCAPES.eval_ids])
CITYSCAPES_TRAIN_CLASSES = CITYSCAPES.eval_names


def cityscapes_train_ids(label_ids: torch.Tensor) -> torch.Tensor:
    return CITYSCAPES.ground_truth(label_ids, 255)

# ---------------------------------------------------------------------------------------------- metrics


def test_train_id_table_matches_cityscapesscripts():
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")
    assert CITYSCAPES_TRAIN_ID.shape == (35,) and CITYSCAPES_TRAIN_ID.dtype == torch.int64
    for label in labels.labels:
        if label.id < 0:  # license plate: our labelId 34, ignored
            assert label.ignoreInEval and CITYSCAPES_TRAIN_ID[34] == 255
            continue
        expected = 255 if label.ignoreInEval else label.trainId
        assert CITYSCAPES_TRAIN_ID[label.id] == expected, label.name
        assert CITYSCAPES.names[label.id] == label.name
        if not label.ignoreInEval:
            assert CITYSCAPES_TRAIN_CLASSES[label.trainId] == label.name
    assert len(CITYSCAPES_TRAIN_CLASSES) == 19
    assert sorted(set(CITYSCAPES_TRAIN_ID.tolist()) - {255}) == list(range(19))


def test_confusion_matrix_matches_official_cityscapes_evaluation(tmp_path):
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")
    rng = np.random.default_rng(0)
    ignored = [lab.id for lab in labels.labels if lab.id >= 0 and lab.ignoreInEval]
    # train (31) never appears: IoU NaN. motorcycle (32) only predicted on ignored ground truth: also NaN.
    gt_ids = [i for i in range(34) if i not in (31, 32)]
    pred_ids = [i for i in range(34) if i not in (31, 32)]  # includes ignored labelIds (count as misses)
    gts, preds = [], []
    for _ in range(3):
        gt = rng.choice(gt_ids, size=(64, 128)).astype(np.uint8)
        gt[:8, :16] = 7  # a block of road, to have some sizeable IoUs
        pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.choice(pred_ids, size=gt.shape)).astype(np.uint8)
        pred[np.isin(gt, ignored) & (rng.random(gt.shape) < 0.3)] = 32
        gts.append(gt)
        preds.append(pred)

    official = official_scores(tmp_path, gts, preds)

    cm = ConfusionMatrix(19)
    gt_t = torch.from_numpy(np.stack(gts)).long()      # (3,64,128) labelIds
    pred_t = torch.from_numpy(np.stack(preds)).long()
    cm.update(cityscapes_train_ids(pred_t[:2]), cityscapes_train_ids(gt_t[:2]))  # streamed in two batches
    cm.update(cityscapes_train_ids(pred_t[2:]), cityscapes_train_ids(gt_t[2:]))

    iou = cm.iou()
    for train_id, name in enumerate(CITYSCAPES_TRAIN_CLASSES):
        theirs = official["classScores"][name]
        if math.isnan(theirs):
            assert math.isnan(iou[train_id]), name
        else:
            assert iou[train_id].item() == pytest.approx(theirs, abs=1e-6), name
    assert math.isnan(iou[16]) and math.isnan(iou[17])  # train, motorcycle
    assert cm.miou() == pytest.approx(official["averageScoreClasses"], abs=1e-6)

    # The script reports no dataset-level accuracy; derive it from its confusion matrix (labelId space).
    m = np.array(official["confMatrix"], dtype=np.float64)
    evaluated = [lab.id for lab in labels.labels if lab.id >= 0 and not lab.ignoreInEval]
    accuracy = m[evaluated, evaluated].sum() / m[evaluated, :].sum()
    assert cm.pixel_accuracy() == pytest.approx(accuracy, abs=1e-6)


def test_confusion_matrix_hand_computed():
    target = torch.tensor([[[0, 0, 1], [1, 2, 255]]])  # (1,2,3); the last pixel is ignored
    pred = torch.tensor([[[0, 1, 1], [2, 2, 0]]])
    # (true, pred) pairs: (0,0) (0,1) (1,1) (1,2) (2,2). IoU0 = 1/(1+0+1), IoU1 = 1/(1+1+1), IoU2 = 1/(1+1+0)
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    assert torch.equal(cm.state[:, :3], torch.tensor([[1, 1, 0], [0, 1, 1], [0, 0, 1]]))
    assert torch.allclose(cm.iou(), torch.tensor([1 / 2, 1 / 3, 1 / 2], dtype=torch.float64))
    assert cm.miou() == pytest.approx(4 / 9)
    assert cm.pixel_accuracy() == pytest.approx(3 / 5)

    # A fourth class seen nowhere is NaN and left out of the mean.
    cm4 = ConfusionMatrix(4)
    cm4.update(pred, target)
    assert math.isnan(cm4.iou()[3]) and cm4.miou() == pytest.approx(4 / 9)

    # A prediction outside the classes on a scored pixel is a miss of the true class.
    cm_miss = ConfusionMatrix(3)
    cm_miss.update(torch.tensor([[[255, 1, 1], [2, 2, 0]]]), target)
    assert cm_miss.iou()[0] == 0 and cm_miss.pixel_accuracy() == pytest.approx(2 / 5)

    # streamed in two batches == one; nothing scored gives NaN
    a = ConfusionMatrix(3)
    a.update(pred[..., :1, :], target[..., :1, :])
    a.update(pred[..., 1:, :], target[..., 1:, :])
    assert torch.equal(a.state, cm.state)
    empty = ConfusionMatrix(3)
    assert math.isnan(empty.miou()) and math.isnan(empty.pixel_accuracy())


def test_confusion_matrix_rejects_bad_input():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="outside 0..2"):
        cm.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 7))
    with pytest.raises(TypeError, match="argmax"):
        cm.update(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="shape"):
        cm.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="is a class id"):
        ConfusionMatrix(3, ignore_index=1)


# -------------------------------------------------------------------------------------------- segmenters

# Official key names and shapes, read from the public sources: fyu/drn drn.py (drn_d_105 = Bottleneck,
# [1, 1, 3, 4, 23, 3, 1, 1], arch 'D') and segment.py (DRNSeg: base = DRN children minus avgpool/fc, seg,
# up); the released checkpoint's first key 'base.0.0.weight' is quoted in fyu/drn issue #4.
DRN_OFFICIAL = {
    "base.0.0.weight": (16, 3, 7, 7),
    "base.0.1.running_var": (16,),
    "base.1.0.weight": (16, 16, 3, 3),
    "base.2.0.weight": (32, 16, 3, 3),
    "base.3.0.conv1.weight": (64, 32, 1, 1),
    "base.3.0.downsample.0.weight": (256, 32, 1, 1),
    "base.4.3.conv3.weight": (512, 128, 1, 1),
    "base.5.0.downsample.1.weight": (1024,),
    "base.5.22.conv2.weight": (256, 256, 3, 3),
    "base.6.2.bn3.bias": (2048,),
    "base.7.0.weight": (512, 2048, 3, 3),
    "base.8.1.weight": (512,),
    "seg.weight": (19, 512, 1, 1),
    "seg.bias": (19,),
    "up.weight": (19, 1, 16, 16),
}
# CSAILVision/semantic-segmentation-pytorch mit_semseg/models/resnet.py (ResNet, deep stem, [3, 4, 23, 3])
# wrapped by models.Resnet (no avgpool/fc), and models.UPerNet(fc_dim=2048, fpn_dim=512, 150 classes).
UPERNET_ENCODER_OFFICIAL = {
    "conv1.weight": (64, 3, 3, 3),
    "bn1.weight": (64,),
    "conv2.weight": (64, 64, 3, 3),
    "conv3.weight": (128, 64, 3, 3),
    "bn3.running_mean": (128,),
    "layer1.0.conv1.weight": (64, 128, 1, 1),
    "layer1.0.downsample.0.weight": (256, 128, 1, 1),
    "layer2.0.conv2.weight": (128, 128, 3, 3),
    "layer3.22.conv3.weight": (1024, 256, 1, 1),
    "layer4.2.bn3.weight": (2048,),
}
UPERNET_DECODER_OFFICIAL = {
    "ppm_conv.0.0.weight": (512, 2048, 1, 1),
    "ppm_conv.3.1.running_var": (512,),
    "ppm_last_conv.0.weight": (512, 4096, 3, 3),
    "fpn_in.0.0.weight": (512, 256, 1, 1),
    "fpn_in.2.0.weight": (512, 1024, 1, 1),
    "fpn_out.0.0.0.weight": (512, 512, 3, 3),
    "fpn_out.2.0.1.bias": (512,),
    "conv_last.0.0.weight": (512, 2048, 3, 3),
    "conv_last.1.weight": (150, 512, 1, 1),
    "conv_last.1.bias": (150,),
}


def _check_keys(state: dict, official: dict, prefixes: tuple[str, ...]):
    for key, shape in official.items():
        assert key in state, key
        assert tuple(state[key].shape) == shape, key
    assert all(k.startswith(prefixes) for k in state)


def _randomize_bn(module: torch.nn.Module):
    """Non-trivial BN statistics, so a load that silently skipped them would show."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)


@pytest.fixture(scope="module")
def drn_state():
    model = drn_d_105(pretrained=False)
    _randomize_bn(model)
    return model.state_dict()


def test_drn_keys_and_parameter_count(drn_state):
    _check_keys(drn_state, DRN_OFFICIAL, ("base.", "seg.", "up."))
    assert not any(k.startswith(("base.9", "fc", "avgpool")) for k in drn_state)
    params = sum(v.numel() for k, v in drn_state.items() if not k.startswith("up.") and "running" not in k
                 and "num_batches" not in k)
    # fyu/drn README: DRN-D-105 has 54.8M parameters with its 1000-way classifier (512*1000 + 1000).
    assert params - 19 * 512 - 19 + 513_000 == pytest.approx(54.8e6, rel=2e-3)


def test_drn_loads_and_runs(tmp_path, drn_state):
    path = tmp_path / "drn-d-105_ms_cityscapes.pth"
    torch.save(drn_state, path)
    model = drn_d_105(weights=path)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert torch.equal(model.base[5][22].bn2.running_var, drn_state["base.5.22.bn2.running_var"])
    images = torch.rand(1, 3, 64, 128) * 2 - 1
    with torch.no_grad():
        logits = model(images)
    assert logits.shape == (1, 19, 64, 128) and torch.isfinite(logits).all()

    # Predictions scored against a Cityscapes label map through the segmenter's own mapping.
    label = torch.randint(0, 35, (1, 1, 64, 128))
    cm = ConfusionMatrix(model.num_classes, model.ignore_index)
    cm.update(logits.argmax(1), CITYSCAPES.ground_truth(label, model.ignore_index))
    assert 0 <= cm.miou() <= 1 and 0 <= cm.pixel_accuracy() <= 1


def test_drn_loader_variants_and_errors(tmp_path, monkeypatch, drn_state):
    # A DataParallel checkpoint from PyTorch < 0.4.1: 'module.' prefix, no num_batches_tracked.
    old = {"module." + k: v for k, v in drn_state.items() if not k.endswith("num_batches_tracked")}
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / "drn-d-105_ms_cityscapes.pth"
    with pytest.raises(MissingWeightsError,
                       match=r"(?s)drn-d-105_ms_cityscapes\.pth.*go\.yf\.io/drn-cityscapes"):
        drn_d_105()
    cached.parent.mkdir(parents=True)
    torch.save(old, cached)
    model = drn_d_105()  # found in the hub cache
    assert torch.equal(model.seg.weight, drn_state["seg.weight"])

    broken = {"seg.weight": drn_state["seg.weight"], "head.weight": torch.zeros(1)}
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match=r"Missing keys: base\.0\.0\.weight.*Unexpected keys: head\.weight"):
        drn_d_105(weights=tmp_path / "broken.pth")
    with pytest.raises(MissingWeightsError, match="nope.pth"):
        drn_d_105(weights=tmp_path / "nope.pth")


def test_upernet_keys_load_and_run(tmp_path, monkeypatch):
    model = upernet101(pretrained=False)
    _randomize_bn(model)
    enc, dec = model.encoder.state_dict(), model.decoder.state_dict()
    _check_keys(enc, UPERNET_ENCODER_OFFICIAL, ("conv", "bn", "layer"))
    _check_keys(dec, UPERNET_DECODER_OFFICIAL,
                ("ppm_conv.", "ppm_last_conv.", "fpn_in.", "fpn_out.", "conv_last."))
    assert not any(k.startswith("fc.") for k in enc)

    torch.save(enc, tmp_path / "encoder_epoch_50.pth")
    published = r"sceneparsing\.csail\.mit\.edu/model/pytorch/ade20k-resnet101-upernet/"
    with pytest.raises(MissingWeightsError, match=r"decoder_epoch_50\.pth.*" + published):
        upernet101(weights_dir=tmp_path)
    torch.save(dec, tmp_path / "decoder_epoch_50.pth")
    loaded = upernet101(weights_dir=tmp_path)
    assert torch.equal(loaded.encoder.layer3[22].bn1.running_mean, enc["layer3.22.bn1.running_mean"])
    assert torch.equal(loaded.decoder.conv_last[1].weight, dec["conv_last.1.weight"])
    with torch.no_grad():
        logits = loaded(torch.rand(1, 3, 64, 128) * 2 - 1)
    assert logits.shape == (1, 150, 64, 128) and torch.isfinite(logits).all()

    # Explicit paths, and the default folder in the hub cache.
    upernet101(encoder_weights=tmp_path / "encoder_epoch_50.pth",
                    decoder_weights=tmp_path / "decoder_epoch_50.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(MissingWeightsError, match=r"ade20k-resnet101-upernet/encoder_epoch_50\.pth"):
        upernet101()


def test_torchvision_segmenter(tmp_path):
    name = "deeplabv3_mobilenet_v3_large"
    # a checkpoint trained with the auxiliary head: its aux_classifier.* keys are dropped on load
    trained = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=19,
                                           aux_loss=True)
    assert any(k.startswith("aux_classifier.") for k in trained.state_dict())
    torch.save(trained.state_dict(), tmp_path / "city.pth")
    model = torchvision_segmenter(model=name, num_classes=19, weights=tmp_path / "city.pth")
    assert torch.equal(model.model.classifier[4].weight, trained.classifier[4].weight)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 128) * 2 - 1).shape == (1, 19, 64, 128)

    with pytest.raises(ValueError, match="pass `weights`"):
        torchvision_segmenter(model=name, num_classes=19)
    with pytest.raises(ValueError, match="deeplabv3_resnet50"):
        torchvision_segmenter(model="resnet50", num_classes=19, pretrained=False)
    with pytest.raises(MissingWeightsError, match="missing.pth"):
        torchvision_segmenter(model=name, num_classes=19, weights=tmp_path / "missing.pth")


def test_evaluate_protocols_name_each_builder_by_target():
    from omegaconf import OmegaConf

    from smis.config import CONFIG_DIR

    for preset in sorted((CONFIG_DIR / "protocol").glob("*.yaml")):   # segmenters live in the protocols
        datasets = OmegaConf.load(preset).datasets
        assert datasets.cityscapes.segmenter._target_ == "smis.evaluation.segmenters.drn_d_105", preset.name
        assert datasets.ade20k.segmenter._target_ == "smis.evaluation.segmenters.upernet101", preset.name
