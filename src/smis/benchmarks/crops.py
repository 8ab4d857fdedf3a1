"""Class-wise crops + encoder: present-class encoding against the full computation.

    python -m smis.benchmarks.crops --classes 151 35 8 --batch 2 --repeats 5

For each class count, with the authors' encoder (ADE20K: 151 classes, width 604, 256x256;
Cityscapes: 35 classes, width 350, 256x512; DeepFashion: 8 classes, width 256, 256x256; any
other count: width 4 per class, 256x256; --size overrides it) and ADE20K-like label maps
(--present classes per image, at most C, in blobs of uneven size), times per batch (median
over --repeats, after one warm-up):

  present   GroupDNet's path: the crops of the present (image, class) pairs only, encoded by
            the present classes' groups (`GroupEncoder.encode_present`), eval, no_grad; with
            more than FULL_PATH_SHARE of the pairs present it is (a)
  (a) full  the full (B, 3C, H, W) crops tensor from `class_crops` + the full grouped encoder
  (b) loop  the straightforward `class_crops_loop` + the full grouped encoder
  training  forward + backward in training mode, present path and (a)

and prints the speed-ups of the present path and the size of the crops tensor it never builds.
JSON (--json): {"device", "torch", "threads", "batch", "repeats", "rows": [{"dataset",
"classes", "height", "width", "encoder_width", "present_pairs", "path" ("pairs" or "full"),
"crops_tensor_mib", "ms": {"present", "full", "loop", "train_present", "train_full"},
"speedup_full", "speedup_loop", "speedup_train"}]}.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch

from ..networks import GroupEncoder, class_crops, class_crops_loop
from ..networks.encoder import FULL_PATH_SHARE
from ..utils import atomic_write_text, size_type

# classes -> (dataset, encoder width, (height, width)): the authors' settings
AUTHORS = {151: ("ADE20K", 604, (256, 256)), 35: ("Cityscapes", 350, (256, 512)),
           8: ("DeepFashion", 256, (256, 256))}


def scene_labels(batch: int, classes: int, height: int, width: int, present: int,
                 seed: int = 0) -> torch.Tensor:
    """(batch,1,H,W) label maps made of `present` random classes in Voronoi-like blobs."""
    g = torch.Generator().manual_seed(seed)
    yx = torch.stack(torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij"), -1).float()
    labels = []
    for _ in range(batch):
        ids = torch.randperm(classes, generator=g)[:present]
        centres = torch.rand(present, 2, generator=g) * torch.tensor([height, width])
        scale = 0.3 + torch.rand(present, generator=g) * 2   # uneven region sizes
        d = ((yx[None] - centres[:, None, None]) ** 2).sum(-1) * scale[:, None, None]
        labels.append(ids[d.argmin(0)])
    return torch.stack(labels)[:, None]


def timed(fns: dict, repeats: int, device: torch.device) -> dict:
    """Median wall time in ms of each function (one warm-up call each; CUDA synchronised). The
    functions take turns, so a drift in the machine's speed touches them all alike."""
    times = {name: [] for name in fns}
    for i in range(repeats + 1):
        for name, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times[name].append(1000 * (time.perf_counter() - t))
    return {name: statistics.median(t) for name, t in times.items()}


def training_step(encoder: GroupEncoder, encode):
    """-> a function doing one forward + backward of `encode()` (a KL-like loss)."""
    def step():
        encoder.zero_grad(set_to_none=True)
        mu, logvar = encode()
        (mu.square().mean() + logvar.exp().mean()).backward()
    return step


def bench(classes: int, batch: int, repeats: int, device: torch.device, present: int = 20,
          size: tuple[int, int] | None = None) -> dict:
    dataset, width, (H, W) = AUTHORS.get(classes, ("custom", 4 * classes, (256, 256)))
    H, W = size or (H, W)
    label = scene_labels(batch, classes, H, W, min(present, classes)).to(device)
    image = torch.rand(batch, 3, H, W, device=device) * 2 - 1
    encoder = GroupEncoder(classes, width).to(device)
    with torch.no_grad():   # a few power iterations: with its random initial u, v, sigma is near 0
        for _ in range(3):
            encoder.encode_present(image, label)
    trainee = copy.deepcopy(encoder)
    encoder.eval()

    def full():
        return encoder(class_crops(image, label, classes))

    # the two paths agree to float32 round-off (with TF32 convs they would not)
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        for ours, theirs in zip(encoder.encode_present(image, label), full()):
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        ms = timed({"present": lambda: encoder.encode_present(image, label), "full": full,
                    "loop": lambda: encoder(class_crops_loop(image, label, classes))}, repeats, device)
    ms |= timed({"train_present": training_step(trainee, lambda: trainee.encode_present(image, label)),
                 "train_full": training_step(trainee, lambda: trainee(class_crops(image, label, classes)))},
                repeats, device)
    pairs = sum(len(label[b].unique()) for b in range(batch))
    return {"dataset": dataset, "classes": classes, "height": H, "width": W, "encoder_width": width,
            "present_pairs": pairs, "path": "full" if pairs > FULL_PATH_SHARE * batch * classes else "pairs",
            "crops_tensor_mib": batch * 3 * classes * H * W * image.element_size() / 2**20, "ms": ms,
            "speedup_full": ms["full"] / ms["present"], "speedup_loop": ms["loop"] / ms["present"],
            "speedup_train": ms["train_full"] / ms["train_present"]}


def report(row: dict, batch: int) -> str:
    ms, C = row["ms"], row["classes"]
    shape = (batch, 3 * C, row["height"], row["width"])
    return "\n".join([
        f"{row['dataset']}: {C} classes, {row['height']}x{row['width']}, encoder width "
        f"{row['encoder_width']}, {row['present_pairs']} of {batch * C} (image, class) pairs present",
        f"  present-class encoder            {ms['present']:9.1f} ms/batch   ({row['path']} path)",
        f"  (a) full crops + encoder         {ms['full']:9.1f} ms/batch   present is "
        f"{row['speedup_full']:.2f}x faster",
        f"  (b) crops loop + full encoder    {ms['loop']:9.1f} ms/batch   present is "
        f"{row['speedup_loop']:.2f}x faster",
        f"  training fwd+bwd, present        {ms['train_present']:9.1f} ms/batch",
        f"  training fwd+bwd, (a) full       {ms['train_full']:9.1f} ms/batch   present is "
        f"{row['speedup_train']:.2f}x faster",
        f"  crops tensor {'avoided' if row['path'] == 'pairs' else 'built (full path)'}: {shape} "
        f"float32, {row['crops_tensor_mib']:.1f} MiB",
    ])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.benchmarks.crops", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classes", type=int, nargs="+", default=[151, 35, 8])
    p.add_argument("--present", type=int, default=20, help="classes per image (at most all)")
    p.add_argument("--size", type=size_type(), default=None,
                   help="HxW or N for NxN, multiples of 64 (default: the authors' size)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    device = torch.device(args.device)

    print(f"device {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}, "
          f"batch {args.batch}, median of {args.repeats} runs")
    rows = []
    for classes in args.classes:
        rows.append(bench(classes, args.batch, args.repeats, device, args.present, args.size))
        print(report(rows[-1], args.batch), flush=True)
    if args.json:
        data = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                "batch": args.batch, "repeats": args.repeats, "rows": rows}
        atomic_write_text(json.dumps(data, indent=2) + "\n", args.json)


if __name__ == "__main__":
    main()
