"""GroupDNetModule: the authors' training loop (docs/model.md §7) as a LightningModule.

One batch = one generator step (G and E together: GAN + feature matching + VGG + KL) and one
discriminator step (hinge on real and on a fresh fake made without gradient). Manual
optimisation, because the two steps use different optimisers and different losses.
"""

from __future__ import annotations

import contextlib
import copy
import random

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from ..data.sampling import derive_seed
from ..data.spec import DatasetSpec
from ..losses import (
    VGGLoss,
    feature_matching_loss,
    full_precision,
    generator_adv_loss,
    hinge_d_loss,
    isolation_loss,
    kl_divergence,
)
from ..networks import GroupDNet, GroupDNetConfig
from ..networks.reference import use_authors_paths
from .figures import validation_figures
from .options import EncoderInit, LossOptions, OptimOptions
from .schedule import ConstantThenLinear


@contextlib.contextmanager
def frozen(*modules):
    """Inside: the modules' parameters take no gradient (inputs still pass gradients through).
    Each parameter's own setting comes back on exit."""
    params = [p for m in modules for p in m.parameters()]
    before = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, before):
            p.requires_grad_(flag)


@torch.no_grad()
def encoder_health(mu: torch.Tensor, logvar: torch.Tensor, label: torch.Tensor, per_class: int) -> dict:
    """How informative the encoder's codes are, over the classes present in the batch:
    mu_std: std across images of each class's cell-averaged mu (mean over channels and classes
      present in 2+ images): near 0 means every image gets the same code (posterior collapse);
    sigma: the mean of exp(logvar / 2): near 1 means the codes are the prior's noise.
    mu, logvar (B, k*C, h, w); label (B,1,H,W) class ids. mu_std is left out for a single image,
    and NaN for a batch whose images share no class. Nothing is read back to the host."""
    B, _, h, w = mu.shape
    C = mu.shape[1] // per_class
    present = torch.zeros(B, C, device=mu.device).scatter_(1, label.flatten(1), 1.0)[..., None]   # (B,C,1)
    m = mu.float().view(B, C, per_class, h * w).mean(-1)                                    # (B,C,k)
    sigma = torch.exp(0.5 * logvar.float()).view(B, C, per_class, h * w).mean(-1)          # (B,C,k)
    out = {"sigma": (sigma * present).sum() / (present.sum() * per_class)}
    if B >= 2:                      # decided on the host: no read-back of the batch's classes
        n = present.sum(0)                                                                  # (C,1)
        mean = (m * present).sum(0) / n.clamp(min=1)
        var = ((m - mean) ** 2 * present).sum(0) / (n - 1).clamp(min=1)                    # (C,k)
        shared = (n[:, 0] >= 2).float()                                                     # (C,)
        out["mu_std"] = (var.sqrt().mean(-1) * shared).sum() / shared.sum()   # NaN: no class shared
    return out


@torch.no_grad()
def init_encoder_heads(encoder, head_gain: float | None = None, logvar_bias: float | None = None) -> None:
    """Re-initialise the encoder's mu/logvar heads: xavier-normal(head_gain) weights, logvar_bias
    in fc_var's bias; None leaves the authors' init."""
    if head_gain is not None:
        for head in (encoder.fc_mu, encoder.fc_var):
            torch.nn.init.xavier_normal_(head.weight, gain=head_gain)
    if logvar_bias is not None:
        encoder.fc_var.bias.fill_(logvar_bias)


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite: training stops, the last good checkpoint stays."""


class GroupDNetModule(pl.LightningModule):
    """model: GroupDNetConfig as a dict; optim, loss: the `optim` and `loss` config groups;
    ema_decay: keep an exponential moving average of the generator for evaluation (None: off);
    ema_warmup: the average's decay at its n-th update is min(ema_decay, (1 + n) / (10 + n)), so a
      short run's average is not mostly its initial weights (0.999 keeps 56% of them after 580
      updates); False: ema_decay from the first update (how the shipped model was trained);
    samples: how many images the validation figures show (rows, random, resample);
    dataset: the DatasetSpec of the training data as a dict (stored in checkpoints and model files,
      used for the figures' palette and class names);
    channels_last: keep the networks' weights and the images in channels-last memory (the same
      maths; oneDNN's convs on a CPU skip their layout conversions);
    encoder_init: {"head_gain", "logvar_bias"}, not the authors' (null keeps theirs: xavier gain
      0.02, bias 0): the encoder heads' init, so that the codes start informative (mu ~0.1, not
      ~0.003) and nearly noise-free (sigma = exp(logvar_bias / 2)) instead of buried under the
      reparameterisation's unit noise;
    finite_check_every: read whether the losses are finite every this many optimiser steps (1:
      every step; more: the check stays on the device in between, so a GPU step waits for no host
      read-back; a NaN is then found up to that many steps late, and always before a checkpoint
      is written);
    compile: torch.compile the generator and the discriminator with this mode ("default",
      "reduce-overhead": CUDA graphs, "max-autotune"; None: eager). The encoder stays eager: its
      present-class path has data-dependent shapes. The first steps take the compile time."""

    def __init__(self, model: dict, optim: dict, loss: dict, seed: int = 0,
                 ema_decay: float | None = None, samples: dict | None = None, dataset: dict | None = None,
                 channels_last: bool = False, encoder_init: dict | None = None, ema_warmup: bool = False,
                 finite_check_every: int = 1, compile: str | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        # typed views of the option groups (options.py: types, ranges and defaults; a checkpoint
        # from before an option existed gets its default)
        self.loss_options = LossOptions.parse(loss, "loss")
        self.optim_options = OptimOptions.parse(optim, "optim")
        self.net = GroupDNet(GroupDNetConfig.from_dict(model))
        self.net.check_values = False   # no read-back per step: the data modules check every label
        init = EncoderInit.parse(encoder_init, "encoder_init")
        init_encoder_heads(self.net.encoder, init.head_gain, init.logvar_bias)
        self.vgg = VGGLoss(self.loss_options.vgg_weights) if self.loss_options.vgg > 0 else None
        if self.vgg is not None:
            self.vgg.requires_grad_(False)
        self.generator_ema = None
        self.joint_discriminator_pass = False     # True: the authors' G-step D pass (use_authors_paths)
        self.unchecked: dict[str, torch.Tensor] = {}   # "generator"/"discriminator" -> finite so far (device)
        self.last_terms: dict[str, dict] = {}           # the latest loss terms of each, for the message
        if ema_decay:
            self.generator_ema = copy.deepcopy(self.net.generator).requires_grad_(False)
        self.spec = DatasetSpec.from_dict(dataset) if dataset else None
        self.net.spec = self.spec
        if channels_last:
            self.to(memory_format=torch.channels_last)
        if compile:       # in place: the weights, their names and the checkpoints stay as they are
            for network in (self.net.generator, self.net.discriminator):
                network.compile(mode=compile)

    # --- building blocks -------------------------------------------------------------------
    def noise(self, batch_idx: int) -> torch.Generator:
        """The reparameterisation noise of a batch is a function of (seed, epoch, batch, rank),
        so a run resumed from a checkpoint draws exactly what the uninterrupted run drew."""
        g = torch.Generator(device=self.device)
        return g.manual_seed(derive_seed(self.hparams.seed, self.current_epoch, batch_idx, self.global_rank))

    def generate(self, image, label, instance, generator):
        """Encode the real image, sample z ~ N(mu, sigma), decode. -> fake, mu, logvar, z."""
        mu, logvar = self.net.encode(image, label)
        z = self.net.reparameterize(mu, logvar, generator)
        return self.net.decode(label, z, instance), mu, logvar, z

    @staticmethod
    def extra_stream(noise: torch.Generator, key: int, fraction: float
                     ) -> tuple[random.Random, torch.Generator] | None:
        """The random streams of an extra loss term (`key` tells them apart), derived from the
        batch's `noise` so that the other draws of the step are those of a run without it:
        (host, device) generators, or None when this step skips the term (probability
        1 - fraction). Choices that change the work (skip the term, which flip) are drawn on the
        host, so a GPU step never waits to read a tensor back; the tensors' draws on the device."""
        seed = noise.initial_seed()
        host = random.Random(derive_seed(seed, key, 0))
        if host.random() >= fraction:
            return None
        return host, torch.Generator(device=noise.device).manual_seed(derive_seed(seed, key))

    def redraw_one_class(self, label, instance, z, noise) -> tuple[torch.Tensor, torch.Tensor] | None:
        """With probability loss.isolation_fraction: per image, one present class c (uniformly)
        gets a fresh prior code and the batch is decoded again -> (redrawn images, c per image);
        else None."""
        streams = self.extra_stream(noise, 1, self.loss_options.isolation_fraction)
        if streams is None:
            return None
        g = streams[1]
        B, C, L = z.shape[0], self.net.config.num_classes, self.net.config.latent_per_class
        present = torch.zeros(B, C, device=z.device).scatter_(1, label.flatten(1), 1.0)   # (B,C)
        classes = torch.multinomial(present, 1, generator=g)[:, 0]                       # (B,)
        codes = z.detach().clone().view(B, C, L, *z.shape[2:])
        codes[torch.arange(B, device=z.device), classes] = torch.randn(
            B, L, *z.shape[2:], generator=g, device=z.device, dtype=z.dtype)
        return self.net.decode(label, codes.view_as(z), instance), classes

    def decode_from_flipped(self, image, label, instance, noise) -> torch.Tensor | None:
        """With probability loss.flipped_codes_fraction: encode the image flipped (left-right,
        up-down or both, drawn per step) and decode its own label map from those codes -> the
        decoded images; else None. Every class keeps its look but its code now comes from
        other places, so the code must carry the look wherever the class lies, as transfer
        between images needs."""
        streams = self.extra_stream(noise, 2, self.loss_options.flipped_codes_fraction)
        if streams is None:
            return None
        host, g = streams
        dims = [(3,), (2,), (2, 3)][host.randrange(3)]
        mu, logvar = self.net.encode(image.flip(dims), label.flip(dims))
        return self.net.decode(label, self.net.reparameterize(mu, logvar, g), instance)

    def discriminate(self, label, instance, fake, real):
        """One D pass over fake and real together (as the authors do) -> (fake, real) features."""
        B = fake.shape[0]
        both_instance = None if instance is None else torch.cat([instance, instance])
        feats = self.net.discriminator_features(torch.cat([label, label]), torch.cat([fake, real]),
                                                both_instance)
        return ([[f[:B] for f in scale] for scale in feats], [[f[B:] for f in scale] for scale in feats])

    def use_authors_paths(self) -> GroupDNetModule:
        """The authors' computation of the same maths (networks/reference.py), for tests and the
        speed benchmarks' baseline: their encoder and norm paths, one D pass over fake and real."""
        use_authors_paths(self.net)
        self.joint_discriminator_pass = True
        return self

    def discriminate_for_generator(self, label, instance, fake, real):
        """The G step's D pass -> (fake, real) features, the same values as `discriminate` but
        faster: real's features are only feature matching's targets, so real goes through D
        after fake, without gradient and in eval mode. D's spectral norms then step once (in
        the fake pass) and the real pass reads the stepped vectors, as one pass over both would;
        no backward pass runs through the real half. joint_discriminator_pass: the authors' one
        pass over both."""
        if self.joint_discriminator_pass:
            return self.discriminate(label, instance, fake, real)
        fake_feats = self.net.discriminator_features(label, fake, instance)
        was_training = self.net.discriminator.training
        self.net.discriminator.eval()
        try:
            with torch.no_grad():
                real_feats = self.net.discriminator_features(label, real, instance)
        finally:
            self.net.discriminator.train(was_training)
        return fake_feats, real_feats

    def decode_for_eval(self, label, z, instance=None) -> torch.Tensor:
        """Decode with the EMA generator when there is one."""
        if self.generator_ema is None:
            return self.net.decode(label, z, instance)
        return self.generator_ema(self.net.label_input(label, instance, z.dtype), z)

    def check_finite(self, which: str, terms: dict[str, torch.Tensor]) -> None:
        """Stop on a NaN or infinite loss: at once (finite_check_every 1), else the flag stays on
        the device and `read_finite` reads it every finite_check_every steps."""
        finite = torch.isfinite(torch.stack([v.detach().float() for v in terms.values()])).all()
        if which in self.unchecked:
            finite = finite & self.unchecked[which]
        self.unchecked[which], self.last_terms[which] = finite, terms
        every = self.hparams.get("finite_check_every", 1)
        if every <= 1 or (self.global_step + 1) % every == 0:
            self.read_finite()

    def read_finite(self) -> None:
        """Read the device's "finite so far" flags (one host read-back) and raise if one is false."""
        flags, self.unchecked = self.unchecked, {}
        for which, flag in flags.items():
            self.raise_unless_finite(which, bool(flag), self.last_terms[which])

    def on_train_epoch_end(self) -> None:
        self.read_finite()                          # before the epoch's checkpoint is written

    def raise_unless_finite(self, which: str, finite: bool, terms: dict[str, torch.Tensor]) -> None:
        trainer = self._trainer                      # None outside Lightning (the benchmark)
        if trainer is not None:
            # every process stops together (a lone rank raising would leave the others waiting)
            finite = trainer.strategy.reduce_boolean_decision(finite, all=True)
        if finite:
            return
        shown = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
        ckpt_dir = next((cb.dirpath for cb in trainer.checkpoint_callbacks), None) if trainer else None
        every = self.hparams.get("finite_check_every", 1)
        late = f" (checked every {every} steps: it may have begun up to {every - 1} steps earlier)" \
            if every > 1 else ""
        raise NonFiniteLossError(
            f"non-finite {which} loss at epoch {self.current_epoch}, step {self.global_step}{late} "
            f"({shown}; on this or another process). Training stopped; the last good checkpoint is in "
            f"{ckpt_dir} (resume with ckpt_path=...). Try lower optim.lr_g / optim.lr_d or "
            "trainer.precision=32-true.")

    # --- training ----------------------------------------------------------------------------
    def generator_losses(self, image, label, instance, noise) -> tuple[dict, torch.Tensor, tuple]:
        """G + E losses (weighted). -> terms, the fake, the encoder's (mu, logvar)."""
        w, fp = self.loss_options, full_precision          # fp: the terms never in half precision
        fake, mu, logvar, z = self.generate(image, label, instance, noise)
        fake_feats, real_feats = self.discriminate_for_generator(label, instance, fake, image)
        terms = {"gan": w.gan * generator_adv_loss(fake_feats),
                 "feat": w.feat * feature_matching_loss(fake_feats, real_feats),
                 "kld": w.kld * kl_divergence(fp(mu), fp(logvar), w.kld_reduction)}
        if self.vgg is not None:
            terms["vgg"] = w.vgg * self.vgg(fp(fake), fp(image))
        # additions to the authors' losses (weight 0 in their presets), for training without VGG
        if w.l1 > 0:
            terms["l1"] = w.l1 * F.l1_loss(fp(fake), fp(image))
        if w.isolation > 0:
            redrawn = self.redraw_one_class(label, instance, z, noise)
            if redrawn is not None:
                terms["isolation"] = w.isolation * isolation_loss(
                    fp(redrawn[0]), fp(fake), label, redrawn[1], w.isolation_band)
        if w.flipped_codes > 0:
            decoded = self.decode_from_flipped(image, label, instance, noise)
            if decoded is not None:
                terms["flipped_codes"] = w.flipped_codes * F.l1_loss(fp(decoded), fp(image))
        return terms, fake, (mu, logvar)

    def discriminator_losses(self, image, label, instance, fake) -> tuple[dict, list, list]:
        """Hinge losses on real and on `fake` (detached). -> terms, fake and real features."""
        fake_feats, real_feats = self.discriminate(label, instance, fake.detach(), image)
        terms = {"d_fake": hinge_d_loss(fake_feats, real=False),
                 "d_real": hinge_d_loss(real_feats, real=True)}
        return terms, fake_feats, real_feats

    def generator_step(self, opt_g, image, label, instance, noise,
                       backward) -> tuple[dict, torch.Tensor, tuple]:
        """One G + E update: D's weights are frozen but pass gradients to the fake.
        backward(loss) runs the backward pass (Lightning's manual_backward, or a grad scaler's).
        -> the weighted loss terms with their "total", the fake, and the encoder's (mu, logvar)."""
        with frozen(self.net.discriminator):
            terms, fake, codes = self.generator_losses(image, label, instance, noise)
            terms["total"] = sum(terms.values())
            self.check_finite("generator", terms)
            opt_g.zero_grad(set_to_none=True)
            backward(terms["total"])
            opt_g.step()
        self.update_ema()
        return terms, fake, codes

    def discriminator_step(self, opt_d, image, label, instance, noise, fake,
                           backward) -> tuple[dict, list, list]:
        """One D update, on a fresh fake from the updated G made without gradient (the authors'
        order), or on the G step's `fake` with optim.d_reuses_fake. -> terms, fake and real features."""
        with frozen(self.net.generator, self.net.encoder):
            if not self.optim_options.d_reuses_fake:
                with torch.no_grad():
                    fake = self.generate(image, label, instance, noise)[0]
            terms, fake_feats, real_feats = self.discriminator_losses(image, label, instance, fake)
            self.check_finite("discriminator", terms)
            opt_d.zero_grad(set_to_none=True)
            backward(terms["d_fake"] + terms["d_real"])
            opt_d.step()
        return terms, fake_feats, real_feats

    def training_step(self, batch: dict, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        image, label, instance = batch["image"], batch["label"], batch.get("instance")
        if self.hparams.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        noise = self.noise(batch_idx)
        g_terms, fake, (mu, logvar) = self.generator_step(opt_g, image, label, instance, noise,
                                                          self.manual_backward)
        d_terms, fake_feats, real_feats = self.discriminator_step(opt_d, image, label, instance, noise, fake,
                                                                  self.manual_backward)
        B = image.shape[0]
        logs = {f"train/g_{k}": v.detach() for k, v in g_terms.items()}
        logs.update({f"train/{k}": v.detach() for k, v in d_terms.items()})
        logs.update({"train/d_real_score": torch.stack([s[-1].mean() for s in real_feats]).mean().detach(),
                     "train/d_fake_score": torch.stack([s[-1].mean() for s in fake_feats]).mean().detach(),
                     "lr/g": opt_g.param_groups[0]["lr"], "lr/d": opt_d.param_groups[0]["lr"]})
        logs.update({f"encoder/{k}": v for k, v in encoder_health(mu, logvar, label,
                                                                  self.net.config.latent_per_class).items()})
        self.log_dict(logs, batch_size=B)
        d_loss = (d_terms["d_fake"] + d_terms["d_real"]).detach()
        self.log_dict({"g": g_terms["total"].detach(), "d": d_loss}, prog_bar=True, logger=False,
                      batch_size=B)

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.generator_ema is None:
            return
        decay = self.hparams.ema_decay
        if self.hparams.get("ema_warmup", False):      # False in checkpoints from before the option
            updates = self.global_step // 2          # G steps before this one (two optimiser steps a batch)
            decay = min(decay, (1 + updates) / (10 + updates))
        for e, p in zip(self.generator_ema.parameters(), self.net.generator.parameters()):
            e.lerp_(p, 1.0 - decay)
        for e, b in zip(self.generator_ema.buffers(), self.net.generator.buffers()):
            e.copy_(b)

    def on_train_epoch_start(self) -> None:
        """Set this epoch's learning rates from the epoch number alone: nothing to step, so a
        resumed run cannot be an epoch off."""
        o = self.optim_options
        factor = ConstantThenLinear(o.constant_epochs, o.decay_epochs)(self.current_epoch)
        for opt, base in zip(self.optimizers(), (o.lr_g, o.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * factor

    def configure_optimizers(self):
        o = self.optim_options
        g_params = [*self.net.generator.parameters(), *self.net.encoder.parameters()]
        opt_g = torch.optim.Adam(g_params, lr=o.lr_g, betas=(o.beta1, o.beta2))
        opt_d = torch.optim.Adam(self.net.discriminator.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2))
        return [opt_g, opt_d]

    # --- validation --------------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        image, label, instance = batch["image"], batch["label"], batch.get("instance")
        mu, _ = self.net.encode(image, label)
        recon = self.decode_for_eval(label, mu, instance)
        self.log("val/recon_l1", (recon - image).abs().mean(), sync_dist=True, batch_size=image.shape[0])
        if batch_idx == 0:
            self._figure_batch = {k: v for k, v in batch.items() if torch.is_tensor(v)}

    def on_validation_epoch_end(self) -> None:
        batch = getattr(self, "_figure_batch", None)
        self._figure_batch = None
        if batch is None or self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return
        validation_figures(self, batch, self.hparams.samples or {})

    # --- checkpoints: everything to resume, but not the fixed VGG weights --------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.read_finite()                          # never a checkpoint of weights a NaN reached
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items()
                                    if not k.startswith("vgg.")}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.vgg is not None:
            checkpoint["state_dict"].update({f"vgg.{k}": v for k, v in self.vgg.state_dict().items()})
