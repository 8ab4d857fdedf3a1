"""Class-wise crops + encoder: the vectorised crops against the straightforward loop.

    python -m smis.benchmarks.crops --classes 151 --size 256 --batch 2

Uses an ADE20K-like label map (a few dozen classes present, blobs of varied size) and the
ADE20K encoder at the authors' width (4 per class); prints milliseconds per batch and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ..networks import GroupEncoder, class_crops, class_crops_loop


def scene_labels(batch: int, classes: int, size: int, present: int, seed: int = 0) -> torch.Tensor:
    """(batch,1,size,size) label maps made of `present` random classes in Voronoi-like blobs."""
    g = torch.Generator().manual_seed(seed)
    labels = []
    for _ in range(batch):
        ids = torch.randperm(classes, generator=g)[:present]
        centres = torch.rand(present, 2, generator=g) * size
        scale = 0.3 + torch.rand(present, generator=g) * 2   # uneven region sizes
        yx = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij"), -1)
        d = ((yx[None].float() - centres[:, None, None]) ** 2).sum(-1) * scale[:, None, None]
        labels.append(ids[d.argmin(0)])
    return torch.stack(labels)[:, None]


def timed(fn, repeats: int, device: torch.device) -> float:
    """Median wall time in ms (one warm-up call; CUDA synchronised)."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.benchmarks.crops", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classes", type=int, default=151)
    p.add_argument("--present", type=int, default=20, help="classes present per image")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--encoder-width", type=int, default=None, help="default: 4 per class")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    device = torch.device(args.device)

    label = scene_labels(args.batch, args.classes, args.size, min(args.present, args.classes))
    label = label.to(device)
    image = torch.rand(args.batch, 3, args.size, args.size, device=device) * 2 - 1
    encoder = GroupEncoder(args.classes, args.encoder_width or 4 * args.classes).to(device).eval()
    assert torch.equal(class_crops(image, label, args.classes),
                       class_crops_loop(image, label, args.classes)), "crops differ from the loop"

    with torch.no_grad():
        rows = {
            "crops, vectorised": lambda: class_crops(image, label, args.classes),
            "crops, loop": lambda: class_crops_loop(image, label, args.classes),
            "crops + encoder, vectorised":
                lambda: encoder(class_crops(image, label, args.classes)),
            "crops + encoder, loop": lambda: encoder(class_crops_loop(image, label, args.classes)),
        }
        ms = {name: timed(fn, args.repeats, device) for name, fn in rows.items()}
    print(f"device {device} ({torch.get_num_threads()} CPU threads), {args.classes} classes, "
          f"{args.present} present, batch {args.batch}, {args.size}x{args.size}")
    for name, t in ms.items():
        print(f"  {name:30s} {t:9.1f} ms/batch")
    print(f"  speed-up, crops:           {ms['crops, loop'] / ms['crops, vectorised']:.2f}x")
    print(f"  speed-up, crops + encoder: "
          f"{ms['crops + encoder, loop'] / ms['crops + encoder, vectorised']:.2f}x")


if __name__ == "__main__":
    main()
