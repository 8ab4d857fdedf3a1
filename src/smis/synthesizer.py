"""`smis.Synthesizer`: every SMIS application behind one object. Load once, call with seeds,
get images and the codes that made them.

    synth = smis.Synthesizer.load("model.pt")                  # a model file, a training checkpoint,
                                                               # or the authors' folder with dataset=
    out = synth.sample("street.png", seeds=[0, 1, 2])          # out.images (PIL), out.codes
    out = synth.resample(["car"], seeds=[7], codes=out.codes[0])     # only the cars change
    look = synth.encode("photo.jpg", "photo_label.png")        # Codes: the per-class codes of a photo
    out = synth.transfer(out.codes[0], look, ["sky"])          # the photo's sky, the rest kept
    out = synth.interpolate(a, b, steps=8, classes=["sky"]).save_gif("morph.gif")
    out = synth.manipulate("edited_label.png", codes)          # an edited layout, the same looks

Inputs are read by `smis.inputs` (label maps as files, PIL images, arrays or tensors; photos);
the code edits are `smis.latents.LatentLayout`'s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .codes import Codes, Result, as_pil
from .data.spec import DatasetSpec
from .hub import load_model
from .inputs import MAX_PIXELS, check_pixels, check_same_scene, read_image, read_label
from .latents import LatentLayout, check_seeds, check_steps
from .networks import GroupDNet, check_image_size
from .networks.prior import choose_prior
from .utils import pick_device
from .visualize import default_palette, save_grid, to_pil

OUTPUTS = ("pil", "tensor", "numpy")          # what the images of a Result are


class Synthesizer:
    """A GroupDNet in eval mode on one device, with its dataset spec (classes, palette, label-file
    rule, native size). Every method runs without gradients and returns a Result.

    net: the GroupDNet; spec: its DatasetSpec (default net.spec; without one, classes are named
      class_0 ... and sizes must be given); device: where it runs ("auto": CUDA when there is one);
    batch_size: how many images one decode call holds (more seeds are split into batches).
    prior: where new looks (seeds) come from: "auto" the model's fitted appearance prior when it
      has one, else N(0, I); "fitted" the prior (an error without one); "normal" N(0, I), the
      authors' (smis.networks.prior).
    max_pixels: the largest label map (or photo) a call takes, in pixels, both as given and at
      the size it is used at (default smis.inputs.MAX_PIXELS = 4096 x 4096, 16.8 megapixels): a
      larger one is a ValueError naming its size and the limit, before anything is decoded (a
      12000 x 12000 label map alone took 3.7 GB to read; decoding takes far more than reading).

    Work per call is bounded by max_pixels and by `interpolate`'s steps (at most
    smis.latents.MAX_STEPS); sample and resample make one image per seed, batch_size at a time.
    """

    def __init__(self, net: GroupDNet, spec: DatasetSpec | None = None, device="auto", batch_size: int = 8,
                 prior: str = "auto", max_pixels: int = MAX_PIXELS):
        for name, value, least in (("batch_size", batch_size, 1), ("max_pixels", max_pixels, 64 * 64)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name}={value!r}: expected an integer >= {least}")
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)
        c = net.config
        self.spec = spec or getattr(net, "spec", None) or DatasetSpec(
            "unnamed", tuple(f"class_{i}" for i in range(c.num_classes)),
            tuple(tuple(rgb) for rgb in default_palette(c.num_classes).tolist()))
        if self.spec.num_classes != c.num_classes:
            raise ValueError(f"the dataset spec {self.spec.name!r} has {self.spec.num_classes} classes, the "
                             f"model {c.num_classes}")
        self.layout = LatentLayout.of(net, choose_prior(net, prior))
        self.batch_size, self.max_pixels = batch_size, max_pixels

    @classmethod
    def load(cls, source: str | os.PathLike, device="auto", dataset: str | None = None,
             batch_size: int = 8, prior: str = "auto", max_pixels: int = MAX_PIXELS) -> Synthesizer:
        """source: an smis model file (`python -m smis.convert`, a run's model.pt), a training
        checkpoint (.ckpt), a folder of the authors' latest_net_{G,E}.pth with dataset=NAME, or a
        shipped model's name ("synthetic")."""
        if isinstance(device, str):
            pick_device(device)                                     # a bad device: before the model loads
        net = load_model(source, dataset, with_discriminator=False)   # generation needs G and E only
        return cls(net, device=device, batch_size=batch_size, prior=prior, max_pixels=max_pixels)

    # --- inputs -------------------------------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.names

    def class_ids(self, classes: Sequence[str | int] | str | int) -> list[int]:
        """Class names or ids -> ids, with an error listing the valid names. A string of digits
        that is not a class name is an id ("3": class 3, as the command line gives it)."""
        if isinstance(classes, (str, int, np.integer)):
            classes = [classes]
        if not isinstance(classes, Sequence | np.ndarray | torch.Tensor) or not len(classes):
            names = ", ".join(self.spec.names[:6])
            raise ValueError(f"classes={classes!r}: no classes given; expected a list of class names (or "
                             f"ids): {names}, ...")
        ids = []
        for c in classes:
            if torch.is_tensor(c) and c.dim() == 0 and not c.is_floating_point():
                c = int(c)
            if isinstance(c, str) and c not in self.spec.names and c.strip().isdigit():
                c = int(c)
            if isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)):
                if not 0 <= c < self.spec.num_classes:
                    raise ValueError(f"class id {c} is outside [0, {self.spec.num_classes - 1}] for "
                                     f"{self.spec.name}")
                ids.append(int(c))
            elif isinstance(c, str):
                ids.append(self.spec.class_index(c))
            else:
                raise TypeError(f"classes: {c!r} is neither a class name nor a class id (an integer)")
        return ids

    def default_size(self) -> tuple[int, int] | None:
        return tuple(self.spec.native_size) if self.spec.name != "unnamed" else None

    def label(self, label, size: Sequence[int] | str | None = None) -> torch.Tensor:
        """A label map (path, PIL image, array or tensor) -> (1, 1, H, W) class ids at the size
        policy's size: None = the model's native size; "input" = the label's own size; (H, W)
        (or one integer for a square). At most max_pixels pixels as given and as used."""
        size = self._size(size)
        check_pixels(label, self.max_pixels, "label map")          # from a file's header: nothing decoded
        return read_label(label, self.spec, size)

    def _size(self, size) -> tuple[int, int] | str:
        """The size policy's (H, W) or "input", checked: sides multiples of 64, at most max_pixels."""
        if size is None:
            size = self.default_size() or "input"
        if isinstance(size, str):
            if size != "input":
                raise ValueError(f"size={size!r}: expected (H, W), one integer side, 'input' (the label "
                                 "map's own size) or None (the model's)")
            return size
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
            size = (size, size)
        if not isinstance(size, Sequence | np.ndarray) or len(size) != 2 or \
                any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in size):
            raise TypeError(f"size={size!r}: expected (H, W) as two integers, one integer side, 'input' "
                            "or None")
        size = (int(size[0]), int(size[1]))
        check_image_size(*size, encoding=False)
        check_pixels(size, self.max_pixels, f"size={size[0]}x{size[1]}")
        return size

    def _instance(self, label: torch.Tensor, instance) -> torch.Tensor | None:
        """Instance ids for a model with instance edges: the given map (resized like the label), or
        the label map itself, so every class border is an edge (one instance per class region)."""
        if not self.net.config.instance_edges:
            return None
        if instance is None:
            return label
        ids = read_label(instance, None, tuple(label.shape[2:]), what="instance map")
        return ids

    # --- operations -----------------------------------------------------------------------------
    def check_codes(self, codes: Codes, what: str = "codes") -> None:
        """Codes made by a model with other classes cannot be decoded here."""
        if not isinstance(codes, Codes):
            raise TypeError(f"{what}: expected smis.Codes (a Result's .codes[i], Codes.load or "
                            f"encode); got {type(codes).__name__}")
        if not torch.is_tensor(codes.z) or codes.z.dim() != 4 or not torch.is_tensor(codes.label) or \
                tuple(codes.label.shape[2:]) != (64 * codes.z.shape[2], 64 * codes.z.shape[3]):
            z = tuple(codes.z.shape) if torch.is_tensor(codes.z) else type(codes.z).__name__
            label = tuple(codes.label.shape) if torch.is_tensor(codes.label) else type(codes.label).__name__
            raise ValueError(f"{what}: z {z} and label {label} do not fit: expected z (1, k*C, h, w) and a "
                             "(1, 1, 64h, 64w) label map")
        if not torch.isfinite(codes.z).all():
            bad = int((~torch.isfinite(codes.z)).sum())
            raise ValueError(f"{what} hold {bad} non-finite values (NaN or inf): they would decode to a "
                             "black image; encode or sample them again")
        if tuple(codes.class_names) != self.spec.names or codes.z.shape[1] != self.layout.channels:
            theirs, ours = ", ".join(codes.class_names[:4]), ", ".join(self.spec.names[:4])
            raise ValueError(f"{what} were made for {len(codes.class_names)} classes ({theirs}, ...) with "
                             f"{codes.z.shape[1]} channels; this model has {self.spec.num_classes} "
                             f"({ours}, ...)")
        if len(codes.sources) != self.spec.num_classes:
            raise ValueError(f"{what} have {len(codes.sources)} sources for {self.spec.num_classes} classes; "
                             "expected one per class")

    @torch.no_grad()
    def decode(self, codes: Sequence[Codes], output: str = "pil") -> list:
        """Codes -> images (batched)."""
        if output not in OUTPUTS:
            raise ValueError(f"output={output!r}; expected one of {', '.join(map(repr, OUTPUTS))}")
        for c in codes:
            self.check_codes(c)
        images = []
        for start in range(0, len(codes), self.batch_size):
            chunk = codes[start:start + self.batch_size]
            label = torch.cat([c.label for c in chunk]).to(self.device)
            z = torch.cat([c.z for c in chunk]).to(self.device)
            instance = None
            if self.net.config.instance_edges:
                instance = torch.cat([label.cpu() if c.instance is None else c.instance for c in chunk])
                instance = instance.to(self.device)
            images += list(self.net.decode(label, z, instance).float().cpu())
        return [self._output(im, output) for im in images]

    def _output(self, image: torch.Tensor, output: str):
        if output == "pil":
            return to_pil(image)
        if output == "tensor":
            return image                                            # (3, H, W) in [-1, 1]
        if output == "numpy":
            return ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
        raise ValueError(f"output={output!r}; expected 'pil', 'tensor' or 'numpy'")

    def _result(self, codes: list[Codes], output: str, captions: list[str]) -> Result:
        return Result(self.decode(codes, output), codes, captions)

    def _codes(self, z: torch.Tensor, label: torch.Tensor, sources: Sequence[str], instance=None) -> Codes:
        return Codes(z.detach().float().cpu(), label.cpu(), tuple(sources), self.spec.names,
                     None if instance is None else instance.cpu())

    def sample(self, label, seeds: Sequence[int] = (0,), size=None, instance=None,
               output: str = "pil") -> Result:
        """One image per seed, every class's code drawn from the seed: class c's code depends only
        on (seed, c, size), so a seed names a look whatever else is in the batch."""
        seeds = check_seeds(seeds)
        label = self.label(label, size)
        instance = self._instance(label, instance)
        h, w = label.shape[2] // 64, label.shape[3] // 64
        codes = [self._codes(self.layout.sample(s, h, w), label, [f"seed {s}"] * self.spec.num_classes,
                             instance) for s in seeds]
        return self._result(codes, output, [f"seed {s}" for s in seeds])

    @torch.no_grad()
    def encode(self, image, label, size=None, instance=None, name: str | None = None) -> Codes:
        """A photo and its label map -> the encoder's codes (mu) of every class."""
        check_pixels(image, self.max_pixels, "the photo")
        check_same_scene(image, label)
        label = self.label(label, size)
        photo = read_image(image, tuple(label.shape[2:]))
        mu, _ = self.net.encode(photo.to(self.device), label.to(self.device))
        name = name or (Path(image).name if isinstance(image, (str, os.PathLike)) else "an image")
        present = set(label.unique().tolist())
        # an absent class's code is the encoder's constant for an empty crop: no look to copy
        sources = [f"encoded from {name}" if c in present else f"absent from {name}"
                   for c in range(self.spec.num_classes)]
        return self._codes(mu, label, sources, self._instance(label, instance))

    def reconstruct(self, image, label, size=None, instance=None, output: str = "pil") -> Result:
        """The image decoded from its own codes."""
        codes = self.encode(image, label, size, instance)
        return self._result([codes], output, ["reconstruction"])

    def resample(self, classes, seeds: Sequence[int], codes: Codes | None = None, label=None, size=None,
                 output: str = "pil") -> Result:
        """New looks for `classes` only: one image per seed, every other code bit-identical.

        codes: the codes to start from (default: seed 0's for `label`).
        """
        seeds = check_seeds(seeds)
        ids = self.class_ids(classes)
        if codes is None:
            if label is None:
                raise ValueError("resample needs codes= or label=")
            codes = self.sample(label, [0], size).codes[0]
        self.check_codes(codes)
        z = self.layout.redraw(codes.z, ids, seeds)
        out = []
        for s, zi in zip(seeds, z):
            sources = list(codes.sources)
            for c in ids:
                sources[c] = f"seed {s}"
            out.append(replace(codes, z=zi[None], sources=tuple(sources)))
        names = "+".join(self.spec.names[c] for c in ids)
        return self._result(out, output, [f"{names} seed {s}" for s in seeds])

    def transfer(self, codes: Codes, reference: Codes, classes, output: str = "pil") -> Result:
        """Appearance transfer: `codes` with the codes of `classes` copied from `reference` (e.g.
        a photo's encoded codes). A reference on another grid is resized to this one (nearest)."""
        ids = self.class_ids(classes)
        self.check_codes(codes)
        self.check_codes(reference, "the reference codes")
        absent = [self.spec.names[c] for c in ids if reference.sources[c].startswith("absent from")]
        if absent:
            raise ValueError(f"{', '.join(absent)} not in the reference ({reference.sources[ids[0]][12:]}): "
                             "its code there is the encoder's constant for an empty crop, not a look; "
                             "encode a photo that shows it")
        source = reference.z
        if source.shape[2:] != codes.z.shape[2:]:
            source = F.interpolate(source, size=codes.z.shape[2:], mode="nearest")
        z = self.layout.replace(codes.z, ids, source)
        sources = list(codes.sources)
        for c in ids:
            sources[c] = reference.sources[c]
        out = replace(codes, z=z, sources=tuple(sources))
        return self._result([out], output, [f"{'+'.join(self.spec.names[c] for c in ids)} transferred"])

    def interpolate(self, a: Codes, b: Codes, steps: int = 8, classes=None, output: str = "pil") -> Result:
        """Style morphing: `steps` images from a's looks to b's (every class, or only `classes`),
        on a's label map; steps counts both ends: an integer from 2 to smis.latents.MAX_STEPS
        (each image is a decode). Result.save_gif writes the animation."""
        steps = check_steps(steps)
        ids = None if classes is None else self.class_ids(classes)
        self.check_codes(a, "codes a")
        self.check_codes(b, "codes b")
        source = b.z
        if source.shape[2:] != a.z.shape[2:]:
            source = F.interpolate(source, size=a.z.shape[2:], mode="nearest")
        path = self.layout.interpolate(a.z, source, steps, ids)
        codes = [replace(a, z=z[None], sources=tuple(f"{t:.2f} of the way to b" if ids is None or c in ids
                                                     else s for c, s in enumerate(a.sources)))
                 for t, z in zip(torch.linspace(0, 1, steps).tolist(), path)]
        return self._result(codes, output, [f"t={t:.2f}" for t in torch.linspace(0, 1, steps).tolist()])

    def manipulate(self, new_label, codes: Codes, instance=None, output: str = "pil") -> Result:
        """Semantic manipulation: an edited label map (same size as the codes' label map) generated
        with the same looks."""
        self.check_codes(codes)
        label = self.label(new_label, tuple(codes.label.shape[2:]))
        out = replace(codes, label=label, instance=self._instance(label, instance))
        return self._result([out], output, ["manipulated"])

    # --- pictures -------------------------------------------------------------------------------
    def colorize(self, label: torch.Tensor):
        """(1,1,H,W) class ids -> a PIL picture in the dataset's palette."""
        from .visualize import colorize

        return to_pil(colorize(label, self.spec.palette_tensor())[0])

    def contact_sheet(self, result: Result, path: str | os.PathLike,
                      label: torch.Tensor | None = None) -> Path:
        """One PNG: the label map (colourised), then every image of the result, in a row, each
        with its caption above it ("label map", then the result's captions: "seed 7", ...)."""
        label = result.codes[0].label if label is None and result.codes else label
        row = [] if label is None else [_to_tensor(self.colorize(label))]
        row += [_to_tensor(as_pil(im)) for im in result.images]
        captions = list(result.captions) + [""] * (len(result.images) - len(result.captions))
        labels = ([] if label is None else ["label map"]) + captions[:len(result.images)]
        return save_grid([row], path, labels=labels)


def _to_tensor(picture) -> torch.Tensor:
    import numpy as np

    return torch.from_numpy(np.array(picture.convert("RGB"))).permute(2, 0, 1).float() / 127.5 - 1
