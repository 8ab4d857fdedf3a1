"""Training end to end on CPU: one short fit per dataset, resume, precision, failure handling."""

import math

import pytest
import torch

import smis.training.module as module_code
from smis.data import SYNTHETIC as SYNTHETIC_SPEC
from smis.hub import load_model
from smis.train import ConfigError, train
from smis.training import ConstantThenLinear, NonFiniteLossError
from tests.helpers.data_trees import ade20k_tree, cityscapes_tree, deepfashion_tree, folder_tree
from tests.helpers.hydra_configs import SHARED_RUN, SYNTHETIC, TINY, compose_train, run


def weights(path):
    return load_model(path).state_dict()


def test_schedule_is_constant_then_linear_to_zero():
    rule = ConstantThenLinear(constant=2, decay=4)
    assert [rule(e) for e in range(7)] == [1, 1, 1, 0.75, 0.5, 0.25, 0]


def test_synthetic_fit_writes_checkpoint_model_figures_and_metrics(trained_synthetic):
    result = trained_synthetic
    run_dir = result["run_dir"]
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    for epoch in (0, 1, 2):
        assert (run_dir / "samples" / f"epoch_{epoch:03d}_samples.png").is_file()
        assert (run_dir / "samples" / f"epoch_{epoch:03d}_resample.png").is_file()
    metrics = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    for key in ("train/g_gan", "train/g_feat", "train/g_kld", "train/d_real", "train/d_fake",
                "train/d_real_score", "lr/g", "lr/d", "val/recon_l1", "encoder/mu_std", "encoder/sigma"):
        assert key in metrics
    assert "train/g_vgg" not in metrics                        # the synthetic preset turns VGG off
    net = load_model(result["model_path"])
    assert net.config.name == "small" and net.config.num_classes == 8
    assert net.spec.names == SYNTHETIC_SPEC.names and net.spec.native_size == (64, 128)   # trained at 64x128
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 2 and len(ckpt["optimizer_states"]) == 2     # saved after epoch 2
    progress = (run_dir / "progress.log").read_text().splitlines()     # a line per 30 s, and the end
    assert "epoch 1/3  batch 1/2" in progress[0] and "images/s" in progress[0]       # counted from 1
    assert "training ended: 3 epochs done, 12 optimiser steps" in progress[-1]
    from_ckpt, exported = weights(run_dir / "checkpoints" / "last.ckpt"), weights(result["model_path"])
    assert from_ckpt.keys() == exported.keys()                           # load_model reads both
    assert all(torch.equal(from_ckpt[k], exported[k]) for k in exported)


def test_learning_rate_follows_the_schedule(trained_synthetic):
    rows = (trained_synthetic["run_dir"] / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    by_epoch = {}
    for row in rows[1:]:
        values = dict(zip(header, row.split(",")))
        if values.get("lr/g"):
            by_epoch[int(values["epoch"])] = (float(values["lr/g"]), float(values["lr/d"]))
    expected = {0: (1e-4, 4e-4), 1: (1e-4, 4e-4), 2: (5e-5, 2e-4)}
    assert by_epoch.keys() == expected.keys()
    assert all(by_epoch[e] == pytest.approx(expected[e], rel=1e-6) for e in expected)


TREES = {"cityscapes": (cityscapes_tree, ["dataset.size=[64,128]", "model.ngf=70", "model.encoder_width=35",
                                          "model.ndf=16"]),
         "ade20k": (ade20k_tree, ["dataset.load_size=140", "dataset.crop_size=128", "model.ngf=8",
                                  "model.encoder_width=151", "model.ndf=16"]),
         "deepfashion": (deepfashion_tree, ["dataset.size=128", "model.ngf=16", "model.encoder_width=32",
                                            "model.ndf=16"]),
         "folder": (folder_tree, ["dataset.resize=[64,128]", "dataset.val_fraction=0.2"])}


@pytest.mark.parametrize("name", sorted(TREES))
def test_one_short_fit_per_dataset(tmp_path, name):
    make_tree, extra = TREES[name]
    root = make_tree(tmp_path / "data")
    result = run(tmp_path, f"dataset={name}", f"dataset.root={root}", "dataset.batch_size=2",
                 "dataset.num_workers=0", "trainer.max_epochs=1", "trainer.limit_train_batches=1",
                 "trainer.limit_val_batches=1", "loss.vgg=0", *extra)
    net = load_model(result["model_path"])
    assert net.config.name == ("small" if name == "folder" else name)
    assert (result["run_dir"] / "samples" / "epoch_000_samples.png").is_file()


def test_dataset_selects_the_authors_configuration():
    for name, (preset, classes, epochs, batch) in {"cityscapes": ("cityscapes", 35, (100, 100), 1),
                                                   "ade20k": ("ade20k", 151, (100, 100), 1),
                                                   "deepfashion": ("deepfashion", 8, (60, 40), 2)}.items():
        cfg = compose_train([f"dataset={name}", "dataset.root=/data"])
        assert (cfg.model.name, cfg.model.num_classes) == (preset, classes)
        assert (cfg.optim.constant_epochs, cfg.optim.decay_epochs) == epochs
        assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.optim.beta1, cfg.optim.beta2) == (1e-4, 4e-4, 0.0, 0.9)
        assert (cfg.loss.feat, cfg.loss.vgg, cfg.loss.kld) == (10.0, 10.0, 0.05)
        assert cfg.dataset.batch_size == batch
        assert cfg.model.encoder_mean_colour is False                 # not the authors'
    assert compose_train(["dataset=cityscapes", "model=small"]).model.name == "small"   # CLI wins


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, trained_synthetic):
    common = [*SYNTHETIC, *SHARED_RUN]
    straight = trained_synthetic                                  # 3 epochs without a stop
    first = run(tmp_path, *common, "trainer.max_epochs=2", name="first")
    resumed = run(tmp_path, *common, f"ckpt_path={first['run_dir'] / 'checkpoints' / 'last.ckpt'}",
                  name="resumed")
    a, b, c = weights(straight["model_path"]), weights(resumed["model_path"]), weights(first["model_path"])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)       # the third epoch did change them


def test_resume_last_finds_the_newest_run(tmp_path):
    common = [*SYNTHETIC, "optim.constant_epochs=3", "optim.decay_epochs=0"]
    run(tmp_path, *common, "trainer.max_epochs=1", name="older")              # 1 epoch done
    newest = run(tmp_path, *common, "trainer.max_epochs=2", name="newer")     # 2 epochs done
    resumed = run(tmp_path, *common, "ckpt_path=last", name="third")
    ckpt = torch.load(resumed["run_dir"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 2 and newest["run_dir"] != resumed["run_dir"]     # one more epoch on "newer"
    assert ckpt["global_step"] == 3 * 2 * 2                                   # 3 epochs x 2 batches x G, D


def test_bf16_mixed_on_cpu(tmp_path):
    """(Lightning runs 16-mixed as bf16 on a CPU: the fp16 + loss-scaler path needs a GPU.)"""
    result = run(tmp_path, *SYNTHETIC, "trainer.precision=bf16-mixed", "trainer.max_steps=4",
                 "trainer.limit_val_batches=1")
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert result["metrics"]["train/g_total"] > 0
    ckpt = torch.load(result["run_dir"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_tensorboard_logger_gets_scalars_and_figures(trained_synthetic):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (trained_synthetic["run_dir"] / "tensorboard").glob("events.out.tfevents.*")
    tags = EventAccumulator(str(events)).Reload().Tags()
    assert {"val/samples", "val/resample"} <= set(tags["images"])
    assert "train/g_total" in tags["scalars"] and "val/recon_l1" in tags["scalars"]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real_kl = module_code.kl_divergence
    calls = {"n": 0}

    def kl_that_breaks(mu, logvar, reduction="sum"):    # fine for the first epoch (2 steps), then NaN
        calls["n"] += 1
        return real_kl(mu, logvar, reduction) * (float("nan") if calls["n"] > 2 else 1.0)

    monkeypatch.setattr(module_code, "kl_divergence", kl_that_breaks)
    with pytest.raises(NonFiniteLossError, match="non-finite generator loss at epoch 1") as err:
        run(tmp_path, *SYNTHETIC, "optim.constant_epochs=3", "optim.decay_epochs=0")
    assert "last good checkpoint" in str(err.value) and "kld=nan" in str(err.value)
    ckpt = torch.load(tmp_path / "logs" / "train" / "runs" / "run" / "checkpoints" / "last.ckpt",
                      weights_only=True)
    assert ckpt["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_a_deferred_finite_check_reads_once_per_n_steps_and_still_keeps_the_checkpoint_clean(
        tmp_path, monkeypatch):
    """finite_check_every=3: the flag stays on the device for 3 optimiser steps (2 G and D steps a
    batch, 2 batches an epoch); a NaN from the 3rd G step on is still found before any checkpoint
    of its weights is written."""
    real_kl, calls, reads = module_code.kl_divergence, {"n": 0}, []
    real_read = module_code.GroupDNetModule.read_finite

    def kl_that_breaks(mu, logvar, reduction="sum"):
        calls["n"] += 1
        return real_kl(mu, logvar, reduction) * (float("nan") if calls["n"] > 2 else 1.0)

    def counted_read(self):
        reads.append(self.global_step)
        real_read(self)

    monkeypatch.setattr(module_code, "kl_divergence", kl_that_breaks)
    monkeypatch.setattr(module_code.GroupDNetModule, "read_finite", counted_read)
    with pytest.raises(NonFiniteLossError, match="checked every 3 steps"):
        run(tmp_path, *SYNTHETIC, "optim.constant_epochs=3", "optim.decay_epochs=0", "finite_check_every=3")
    assert reads[0] == 2      # steps 0 and 1 (batch 1's G and D) were not read back: step 2 read all three
    ckpt = torch.load(tmp_path / "logs" / "train" / "runs" / "run" / "checkpoints" / "last.ckpt",
                      weights_only=True)
    assert ckpt["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_generator_ema_is_exported(tmp_path):
    result = run(tmp_path, *SYNTHETIC, "ema_decay=0.5", "trainer.max_steps=2", "trainer.limit_val_batches=1")
    ckpt = torch.load(result["run_dir"] / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    exported = weights(result["model_path"])
    assert torch.equal(exported["generator.conv_img.weight"], ckpt["generator_ema.conv_img.weight"])
    assert not torch.equal(exported["generator.conv_img.weight"], ckpt["net.generator.conv_img.weight"])


def test_init_from_with_ema_starts_the_average_from_the_loaded_weights(tmp_path, short_synthetic):
    first = short_synthetic
    second = run(tmp_path, *SYNTHETIC, "trainer.max_epochs=0", "ema_decay=0.9",
                 f"init_from={first['model_path']}", name="second")
    a, b = weights(first["model_path"]), weights(second["model_path"])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_control_recipe_logs_its_terms_and_starts_informative(tmp_path):
    """loss=control (L1, image-mean KL, isolation on every step here), flipped codes, the encoder
    heads' init and channels-last memory, end to end."""
    result = run(tmp_path, *SYNTHETIC, "loss=control", "loss.isolation_fraction=1.0",
                 "loss.flipped_codes=1.0", "encoder_init.head_gain=1.0", "encoder_init.logvar_bias=-6.0",
                 "channels_last=true", "trainer.max_steps=4", "trainer.limit_val_batches=1")
    rows = (result["run_dir"] / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    for key in ("train/g_l1", "train/g_isolation", "train/g_kld", "train/g_flipped_codes"):
        assert key in header
    first = dict(zip(header, rows[1].split(",")))
    assert 0.04 < float(first["encoder/sigma"]) < 0.06                 # exp(-6 / 2) = 0.0498
    assert float(first["encoder/mu_std"]) > 0.02                       # not the authors' ~0.003
    net = load_model(result["model_path"])
    assert next(net.parameters()).is_contiguous()                      # model files load as usual


def test_compile_compiles_the_generator_and_discriminator_in_place(tmp_path, monkeypatch):
    """compile=MODE: torch.compile (recorded here, not run: compiling takes minutes on a CPU) of G
    and D with that mode, in place, so the weights' names and the checkpoint stay those of eager."""
    from torch import nn

    compiled = []
    monkeypatch.setattr(nn.Module, "compile", lambda self, **kw: compiled.append((type(self).__name__, kw)))
    result = run(tmp_path, *SYNTHETIC, "compile=reduce-overhead", "trainer.max_steps=2",
                 "trainer.limit_val_batches=1")
    assert compiled == [("GroupDNetGenerator", {"mode": "reduce-overhead"}),
                        ("MultiscaleDiscriminator", {"mode": "reduce-overhead"})]
    ckpt = torch.load(result["run_dir"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["hyper_parameters"]["compile"] == "reduce-overhead"
    assert "net.generator.fc.weight" in ckpt["state_dict"]              # no _orig_mod. in the names


def test_too_little_data_for_one_batch_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="fewer than one batch"):
        run(tmp_path, *SYNTHETIC, "dataset.num_train=1")


def test_invalid_values_fail_before_training(tmp_path):
    for override, message in [("optim.lr_g=0", "optim.lr_g"), ("trainer.precision=fp8", "trainer.precision"),
                              ("ema_decay=1.5", "ema_decay"), ("dataset.size=100", "multiples of 64"),
                              ("model=cityscapes", "model.num_classes=35"),
                              ("loss.kld_reduction=mean", "loss.kld_reduction"),
                              ("loss.isolation_fraction=2", "loss.isolation_fraction"),
                              ("loss.flipped_codes_fraction=-1", "loss.flipped_codes_fraction"),
                              ("encoder_init.head_gain=-1", "encoder_init.head_gain"),
                              ("compile=fast", "compile='fast': expected null, default, reduce-overhead")]:
        with pytest.raises(ConfigError, match=message):
            run(tmp_path, *SYNTHETIC, override)
    assert not (tmp_path / "logs").exists()


def test_missing_vgg_weights_name_the_file(tmp_path):
    cfg = compose_train([*TINY, *SYNTHETIC, "loss.vgg=10", f"loss.vgg_weights={tmp_path / 'vgg19.pth'}"],
                        tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="vgg19.pth"):
        train(cfg)


def test_init_from_an_exported_model(tmp_path, short_synthetic):
    first = short_synthetic
    second = run(tmp_path, *SYNTHETIC, "trainer.max_epochs=0", f"init_from={first['model_path']}",
                 name="second")                                 # no training: the weights as loaded
    a, b = weights(first["model_path"]), weights(second["model_path"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match="differs from the configured model"):
        run(tmp_path, *SYNTHETIC, "model.ngf=32", f"init_from={first['model_path']}", name="third")


def test_init_from_may_switch_the_mean_colour_path_on(tmp_path, short_synthetic):
    """model.encoder_mean_colour adds weights that start at zero: a model trained without it
    initialises one with it, which then encodes exactly as the source did."""
    source = short_synthetic["model_path"]
    second = run(tmp_path, *SYNTHETIC, "trainer.max_epochs=0", "model.encoder_mean_colour=true",
                 f"init_from={source}", name="second")
    a, b = load_model(source), load_model(second["model_path"])
    assert b.config.encoder_mean_colour and not b.encoder.mean_colour_to_mu.any()
    image, label = torch.rand(2, 3, 64, 128) * 2 - 1, torch.randint(0, a.config.num_classes, (2, 1, 64, 128))
    with torch.no_grad():
        assert torch.equal(a.encode(image, label)[0], b.encode(image, label)[0])
    with pytest.raises(ConfigError, match=r"differs from the configured model \(file vs configured\): "
                       r"encoder_mean_colour True vs False \(model.encoder_mean_colour\)"):  # not the reverse
        run(tmp_path, *SYNTHETIC, f"init_from={second['model_path']}", name="third")
