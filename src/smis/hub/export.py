"""A trained GroupDNet as a self-contained ONNX or TorchScript file, for serving without smis
(`smis-export`; onnx and onnxruntime are the optional `export` extra).

    from smis.hub import load_model
    from smis.hub.export import export
    net = load_model("synthetic")
    export(net, "synthetic.onnx", "onnx")                          # any size (multiples of 64)
    export(net, "city.onnx", "onnx", size=(256, 512), with_encoder=True)   # + city.encoder.onnx

The exported graphs compute what `GroupDNet.decode` / `encode` compute, organised so that a tracer
can record them:

* the decoder's inputs are class ids, not the one-hot map: `DecodeGraph` builds the one-hot (and
  the Cityscapes instance-edge channel) inside, so a caller needs no smis code;
* spectral norm is folded into the conv weights (eval mode divides by the sigma of the stored u
  and v: a constant);
* the conditional norms use their dense convs: eager PyTorch's CPU border path
  (`networks/borders.py`) builds sparse matrices sized by the scene, which no tracer can record;
* the encoder runs the authors' full computation on every (image, class) pair, with crops made by
  fixed-shape gathers (`pair_crops`): eager `encode_present` sizes its tensors by the classes found.

Each gives eager PyTorch's values to float round-off (tests/unit/hub/test_export.py: max abs error < 1e-4).

Inputs and outputs (B batch, C classes, L latent channels per class, H and W multiples of 64):
  decoder  label (B,1,H,W) int64 ids in [0, C), z (B, L*C, H/64, W/64) float32
           [, instance (B,1,H,W) int64 instance ids: models with instance edges only (Cityscapes);
            without instance maps pass the label map itself: every class border is an edge, as
            smis' Synthesizer does]
           -> image (B,3,H,W) float32 in [-1, 1]
  encoder  image (B,3,H,W) float32 in [-1, 1], label (B,1,H,W) int64 (H*W >= 64*128)
           -> mu, logvar (B, L*C, H/64, W/64)
The batch is always dynamic; H and W are fixed in an ONNX graph exported with a size. Unlike eager
decode the graphs check nothing: an id outside [0, C) gets an all-zero one-hot column.

Metadata (ONNX `metadata_props`, TorchScript `_extra_files`): the entry "smis.json" holds the JSON
of `metadata()` (class names, palette, native size, num_classes, latent_per_class, inputs, ...);
in ONNX every top-level key is also its own entry (JSON-encoded) for tools that list them.
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..networks import GroupDNet
from ..networks.groupdnet import check_image_size
from ..networks.normalization import CondGroupNorm
from ..utils import atomic_write

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".ts"}
METADATA_KEY = "smis.json"        # the TorchScript extra file / ONNX property holding metadata()
OPSET = 17                        # run by onnxruntime >= 1.17 (the extra's lower bound)
EXPORT_EXTRA = 'pip install "groupdnet[export]"'   # the distribution's name (import name: smis)
LATENT_TENSORS = ("z", "mu", "logvar")   # the tensors on the H/64 x W/64 grid
# where a dynamic-size graph is traced: tracing runs the model once, so the smallest size the
# encoder takes (a 1x2 latent grid); the graph records sizes symbolically (the tests run it elsewhere)
TRACE_SIZE = (64, 128)


class MissingExportDependency(ImportError):
    """onnx or onnxruntime is missing: they are the optional `export` extra, not core dependencies."""


def require(module: str, why: str):
    """Import onnx / onnxruntime, or a MissingExportDependency naming the extra."""
    try:
        return __import__(module)
    except ImportError:
        raise MissingExportDependency(f"{why} needs the {module} package: {EXPORT_EXTRA}") from None


# --- the graphs ----------------------------------------------------------------------------------
def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode, spectral norm folded into the weights (the value eval mode computes
    from the stored u and v), the conditional norms on their dense convs, no gradients."""
    module = copy.deepcopy(module).eval()
    for m in module.modules():
        if hasattr(m, "weight_orig"):
            torch.nn.utils.remove_spectral_norm(m)
        if isinstance(m, CondGroupNorm):
            m.border_path = False
    return module.requires_grad_(False)


def one_hot_ids(label: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """(B,1,H,W) int64 ids -> (B,C,H,W) one-hot, by comparison with 0..C-1 (ONNX: Equal + Cast;
    no data-dependent check, so an id outside [0, C) gives an all-zero column)."""
    classes = torch.arange(num_classes, device=label.device).view(1, -1, 1, 1)
    return (label == classes).to(dtype)


def edges_of(instance: torch.Tensor) -> torch.Tensor:
    """`networks.groupdnet.instance_edges` without its in-place ORs, which the ONNX exporter cannot
    record: (B,1,H,W) instance ids -> (B,1,H,W) float, 1 where a 4-neighbour has another id."""
    dx = (instance[..., :, 1:] != instance[..., :, :-1]).float()             # (B,1,H,W-1)
    dy = (instance[..., 1:, :] != instance[..., :-1, :]).float()             # (B,1,H-1,W)
    # an edge differs from its right or left, lower or upper neighbour
    return torch.maximum(torch.maximum(F.pad(dx, (0, 1)), F.pad(dx, (1, 0))),
                         torch.maximum(F.pad(dy, (0, 0, 0, 1)), F.pad(dy, (0, 0, 1, 0))))


class DecodeGraph(nn.Module):
    """label (B,1,H,W) int64, z (B, L*C, H/64, W/64) [, instance (B,1,H,W) int64] -> image (B,3,H,W)."""

    def __init__(self, net: GroupDNet):
        super().__init__()
        self.num_classes, self.instance_edges = net.config.num_classes, net.config.instance_edges
        self.generator = frozen_copy(net.generator)

    def forward(self, label: torch.Tensor, z: torch.Tensor, instance: torch.Tensor | None = None):
        x = one_hot_ids(label, self.num_classes, z.dtype)                    # (B,C,H,W)
        if self.instance_edges:
            x = torch.cat([x, edges_of(instance).to(z.dtype)], 1)           # (B,C+1,H,W)
        return self.generator(x, z)


def nearest_rows(first: torch.Tensor, last: torch.Tensor, out: int) -> torch.Tensor:
    """Source rows of a nearest resize of rows [first, last] to `out` rows, picked as PyTorch's
    interpolate picks them (float32 scale, floor; as `crops._nearest_source_index`):
    (...) int64 -> (..., out) int64."""
    size = last - first + 1
    scale = size.to(torch.float32) / out                                     # (...)
    i = torch.arange(out, device=first.device, dtype=torch.float32)
    src = torch.floor(i * scale.unsqueeze(-1)).to(torch.int64)               # (..., out)
    return first.unsqueeze(-1) + torch.minimum(src, (size - 1).unsqueeze(-1))


def first_last(present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last index where present (..., n) float 0/1 is 1 -> two (...) int64; argmax
    returns the first maximum in PyTorch and ONNX alike. Never 1: 0 and n-1 (the crop is zero then)."""
    n = present.shape[-1]
    return present.argmax(-1), n - 1 - present.flip(-1).argmax(-1)


def pair_crops(masked: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """Every (image, class) pair's crop as `networks.crops.class_crops` makes it (the authors'
    trans_img), with shapes that do not depend on the label map: the class's masked image
    masked (B,C,3,H,W) cropped to the class's bounding box in onehot (B,C,H,W) and resized (nearest)
    back to HxW -> (B,C,3,H,W). Two row selections by Gather on flattened planes, with (B,C,3,H)
    and (B,C,3,W) indices (not one per pixel). An absent class's masked image, so its crop, is 0."""
    B, C, _, H, W = masked.shape
    y0, y1 = first_last(onehot.amax(3))                                      # (B,C) each
    x0, x1 = first_last(onehot.amax(2))
    ys, xs = nearest_rows(y0, y1, H), nearest_rows(x0, x1, W)                # (B,C,H), (B,C,W)
    plane = torch.arange(B * C * 3, device=masked.device).view(B, C, 3, 1)   # each (b, c, rgb) plane
    rows = masked.reshape(-1, W)[(plane * H + ys.unsqueeze(2)).flatten()]    # (B*C*3*H, W)
    cols = rows.view(B, C, 3, H, W).transpose(3, 4).reshape(-1, H)           # (B*C*3*W, H)
    out = cols[(plane * W + xs.unsqueeze(2)).flatten()]                      # (B*C*3*W, H)
    return out.view(B, C, 3, W, H).transpose(3, 4)


class EncodeGraph(nn.Module):
    """image (B,3,H,W) in [-1,1], label (B,1,H,W) int64 -> mu, logvar (B, L*C, H/64, W/64): the
    authors' full encoder on every pair's crop (`GroupEncoder.forward`), which equals
    `GroupDNet.encode` (present pairs only) to float round-off."""

    def __init__(self, net: GroupDNet):
        super().__init__()
        self.num_classes = net.config.num_classes
        self.encoder = frozen_copy(net.encoder)

    def forward(self, image: torch.Tensor, label: torch.Tensor):
        onehot = one_hot_ids(label, self.num_classes, image.dtype)           # (B,C,H,W)
        masked = image.unsqueeze(1) * onehot.unsqueeze(2)                    # (B,C,3,H,W)
        mean_colours = None
        if self.encoder.mean_colour_to_mu is not None:                       # (B,C,3), 0 if absent
            counts = onehot.sum((2, 3)).clamp(min=1).unsqueeze(-1)           # (B,C,1)
            mean_colours = masked.sum((3, 4)) / counts
        crops = pair_crops(masked, onehot).flatten(1, 2)                     # (B,3C,H,W)
        return self.encoder(crops, mean_colours)


# --- metadata and example inputs -----------------------------------------------------------------
def metadata(net: GroupDNet, size: tuple[int, int] | None, graph: str) -> dict:
    """What a user of an exported file needs besides the graph: the classes and their colours (to
    read label maps and draw legends), the latent layout (to make z), the size it takes."""
    from ..visualize import default_palette

    c, spec = net.config, net.spec
    return {
        "format": "smis.groupdnet.export", "version": 1, "graph": graph,   # decoder | encoder
        "dataset": spec.name if spec is not None else None,
        "class_names": list(spec.names) if spec is not None else [f"class {i}" for i in range(c.num_classes)],
        "palette": ([list(rgb) for rgb in spec.palette] if spec is not None
                    else default_palette(c.num_classes).tolist()),
        "native_size": list(spec.native_size) if spec is not None else None,
        "size": list(size) if size is not None else None,          # None: any multiples of 64
        "num_classes": c.num_classes, "latent_per_class": c.latent_per_class,
        # z channel c * latent_per_class + j is class c's j-th code channel, on an H/64 x W/64 grid
        "latent_channels": c.latent_channels, "latent_downsampling": 64,
        "instance_edges": c.instance_edges, "preset": c.name,
        "inputs": (["label", "z"] + (["instance"] if c.instance_edges else []) if graph == "decoder"
                   else ["image", "label"]),
        "outputs": ["image"] if graph == "decoder" else ["mu", "logvar"],
    }


def example_inputs(net: GroupDNet, size: tuple[int, int], batch: int = 1, seed: int = 0) -> dict:
    """Random inputs by name: label (B,1,H,W) ids in 8x8 blocks (borders everywhere, as in a
    scene), z ~ N(0, I), instance ids (two instances per class) and image in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    H, W = size
    label = torch.randint(0, net.config.num_classes, (batch, 1, H // 8, W // 8), generator=g)
    label = label.repeat_interleave(8, 2).repeat_interleave(8, 3)
    return {"label": label, "z": torch.randn(batch, *net.latent_shape(H, W), generator=g),
            "instance": label * 1000 + torch.randint(0, 2, label.shape, generator=g),
            "image": torch.rand(batch, 3, H, W, generator=g) * 2 - 1}


def eager(net: GroupDNet, graph: str, inputs: dict) -> list[torch.Tensor]:
    """What eager PyTorch gives for `inputs`: [image] (decoder) or [mu, logvar] (encoder)."""
    with torch.no_grad():
        if graph == "decoder":
            instance = inputs["instance"] if net.config.instance_edges else None
            return [net.decode(inputs["label"], inputs["z"], instance)]
        return list(net.encode(inputs["image"], inputs["label"]))


# --- writing ---------------------------------------------------------------------------------------
def onnx_bytes(module: nn.Module, args: tuple, meta: dict, dynamic: bool) -> bytes:
    """The module as ONNX (bytes), with the batch symbolic, and height and width too when `dynamic`.

    The TorchScript-based exporter (dynamo=False, deprecated in torch 2.9+ but kept): it records
    the grouped convs, nearest resizes and gathers with symbolic sizes. The torch.export-based one
    (dynamo=True) exports the decoder too, but in torch 2.14 its guards pin the latent grid to the
    example's even with dynamic_shapes (onnxruntime then refuses any other size), and it takes
    ~10x longer (15 s against 1.5 s for the shipped decoder)."""
    names = meta["inputs"] + meta["outputs"]
    axes = {n: {0: "batch"} for n in names}
    if dynamic:
        for n in names:
            grid = "latent_" if n in LATENT_TENSORS else ""
            axes[n].update({2: f"{grid}height", 3: f"{grid}width"})
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the exporter's deprecation and tracer warnings
        torch.onnx.export(module, args, buffer, input_names=meta["inputs"], output_names=meta["outputs"],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def onnx_model(model_bytes: bytes, meta: dict):
    """The exported bytes as an onnx ModelProto with the metadata, checked."""
    onnx = require("onnx", "--format onnx")
    model = onnx.load_from_string(model_bytes)
    for key, value in {METADATA_KEY: json.dumps(meta), **{k: json.dumps(v) for k, v in meta.items()}}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name, model.doc_string = "smis", f"GroupDNet {meta['graph']} (smis-export)"
    onnx.checker.check_model(model)
    return model


def traced(module: nn.Module, args: tuple) -> torch.jit.ScriptModule:
    """torch.jit.trace: sizes are recorded as size() calls, so a trace at one size runs at others."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.trace(module, args, check_trace=False)


def write_bytes(data: bytes, f) -> None:
    f.write(data)


def save_torchscript(module: torch.jit.ScriptModule, meta: dict, f) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch 2.10+: "torch.jit.save is deprecated"
        torch.jit.save(module, f, _extra_files={METADATA_KEY: json.dumps(meta)})


def encoder_path(path: Path) -> Path:
    """Where the encoder goes beside the decoder: model.onnx -> model.encoder.onnx."""
    return path.with_name(f"{path.stem}.encoder{path.suffix}")


def outputs_of(path: str | os.PathLike, with_encoder: bool) -> list[Path]:
    path = Path(path)
    return [path] + ([encoder_path(path)] if with_encoder else [])


def export(net: GroupDNet, path: str | os.PathLike, fmt: str, size: tuple[int, int] | None = None,
           with_encoder: bool = False, overwrite: bool = False) -> list[Path]:
    """Write the decoder of `net` to `path` (and with_encoder its encoder to `encoder_path(path)`)
    in format `fmt` (onnx | torchscript); returns the paths written, each atomically.

    size (H, W): the size the ONNX graphs take; None: any size with sides that are multiples of 64
    (traced at TRACE_SIZE). A TorchScript trace takes any size either way: `size` is then only
    recorded in the metadata.
    Raises FileExistsError for an existing output unless `overwrite` (before writing anything),
    MissingExportDependency for onnx without the onnx package, ValueError for a bad size or format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    paths = outputs_of(path, with_encoder)
    for p in paths:
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists (pass --overwrite to replace it)")
    if fmt == "onnx":
        require("onnx", "--format onnx")
    at = size or TRACE_SIZE
    check_image_size(*at, encoding=with_encoder)             # ValueError naming the size
    inputs = example_inputs(net, at)
    graphs = [("decoder", DecodeGraph(net))] + ([("encoder", EncodeGraph(net))] if with_encoder else [])
    writers = []                  # every graph is exported before any file is written
    for graph, module in graphs:
        meta = metadata(net, size, graph)
        args = tuple(inputs[name] for name in meta["inputs"])
        with torch.no_grad():
            if fmt == "onnx":
                model = onnx_model(onnx_bytes(module, args, meta, dynamic=size is None), meta)
                writers.append(partial(write_bytes, model.SerializeToString()))
            else:
                writers.append(partial(save_torchscript, traced(module, args), meta))
    for out, write in zip(paths, writers):
        atomic_write(out, write)
    return paths


# --- reading back ----------------------------------------------------------------------------------
def is_torchscript(path: str | os.PathLike) -> bool:
    """torch.jit.save writes a zip archive; an ONNX file is a protobuf."""
    with open(path, "rb") as f:
        return f.read(2) == b"PK"


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata() stored in an exported file (ONNX or TorchScript)."""
    path = Path(path)
    if not is_torchscript(path):
        onnx = require("onnx", "reading an ONNX file")
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return json.loads(props[METADATA_KEY])
    extra = {METADATA_KEY: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[METADATA_KEY])


class Runner:
    """An exported file, run by onnxruntime (ONNX) or torch.jit (TorchScript) on the CPU:
    `runner(**inputs)` -> its outputs as tensors; it takes the inputs its graph names.
    threads: onnxruntime's intra-op threads (None: its default, one per core); session_options:
    an onnxruntime.SessionOptions instead (graph optimisation level, ...)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, session_options=None):
        self.meta = read_metadata(path)
        self.module = self.session = None
        if not is_torchscript(path):
            ort = require("onnxruntime", "running an ONNX file")
            if session_options is None:
                session_options = ort.SessionOptions()
                if threads is not None:
                    session_options.intra_op_num_threads = threads
            self.session = ort.InferenceSession(str(path), session_options,
                                                providers=["CPUExecutionProvider"])
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.module = torch.jit.load(str(path), map_location="cpu")

    def __call__(self, **inputs: torch.Tensor) -> list[torch.Tensor]:
        args = [inputs[name] for name in self.meta["inputs"]]
        if self.session is not None:
            feeds = {name: a.numpy() for name, a in zip(self.meta["inputs"], args)}
            return [torch.from_numpy(o) for o in self.session.run(None, feeds)]
        with torch.no_grad():
            out = self.module(*args)
        return list(out) if isinstance(out, (tuple, list)) else [out]


def max_difference(net: GroupDNet, path: str | os.PathLike, size: tuple[int, int] | None = None,
                   batch: int = 1, seed: int = 0, threads: int | None = None) -> float:
    """The largest absolute difference between an exported file's outputs and eager PyTorch's on
    random inputs of `size` (default: the size it was exported for, else the native size)."""
    runner = Runner(path, threads)
    meta = runner.meta
    size = size or tuple(meta["size"] or meta["native_size"] or (128, 128))
    inputs = example_inputs(net, size, batch, seed)
    return max(float((ours - theirs).abs().max())
               for ours, theirs in zip(runner(**inputs), eager(net, meta["graph"], inputs)))
