"""The studio's edit round trip: request to PNG, over HTTP, against the decode alone.

    python -m smis.benchmarks.studio                        # small model 128x128, Cityscapes 256x512
    python -m smis.benchmarks.studio --threads 1 2 --edits 30 --cityscapes-edits 5
    python -m smis.benchmarks.studio --model results/demo/training/model.pt --skip-cityscapes

A real uvicorn serves the studio app on 127.0.0.1 (a free port) from a thread of this process; an
httpx client makes the edits a page makes: a stroke (PUT the label map's ids; the server
re-decodes with the same codes) and a "new look" for one class (resample with a new seed). The
round trip runs from sending the request to the PNG decoded into pixels (what the page then
shows). "decode" is `Synthesizer.decode` alone on the studio's model thread; "png" is encoding the
image. Medians over --edits edits after 2 warm-up edits; p90 beside them.

Models: the small preset (the demo model's architecture; random weights unless --model) at its
native 128x128 with the synthetic classes, and the authors' Cityscapes preset (82M parameters,
random weights, instance edges from the label map) at 256x512. Random weights cost what trained
ones do; their spectral norms' power iterations are run first so the numbers stay finite.

JSON (--json): {"device", "torch", "rows": [{"model", "size", "threads", "edits", "stroke_ms",
"stroke_p90_ms", "look_ms", "look_p90_ms", "decode_ms", "png_ms", "image_kib"}]}.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import platform
import statistics
import time

import numpy as np
import torch
from PIL import Image

from ..data.builtin_specs import CITYSCAPES, SYNTHETIC
from ..networks import GroupDNet, preset
from ..synthesizer import Synthesizer
from ..utils import atomic_write_text


@torch.no_grad()
def settle_spectral_norms(net: torch.nn.Module, iterations: int = 30) -> None:
    """Run the power iterations of every (old-style) spectral norm, as training would have."""
    from torch.nn.utils.spectral_norm import SpectralNorm

    for m in net.modules():
        for hook in m._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm):
                for _ in range(iterations):
                    hook.compute_weight(m, do_power_iteration=True)


def random_model(name: str) -> Synthesizer:
    torch.manual_seed(0)
    net = GroupDNet(preset(name), with_discriminator=False)
    net.spec = {"small": SYNTHETIC, "cityscapes": CITYSCAPES}[name]
    settle_spectral_norms(net)
    return Synthesizer(net, device="cpu")


def blobs(H: int, W: int, classes: list[int], seed: int) -> np.ndarray:
    """A label map of a few coarse regions (what someone paints)."""
    rng = np.random.default_rng(seed)
    coarse = rng.choice(classes, size=(H // 32, W // 32)).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((W, H), Image.NEAREST))


def percentile(values, q):
    return float(np.percentile(values, q))


def measure(synth: Synthesizer, name: str, edits: int, threads: int) -> dict:
    import httpx

    from ..studio import Limits, Studio, create_app
    from ..studio.app import BackgroundServer
    from ..studio.uploads import png_bytes

    torch.set_num_threads(threads)
    studio = Studio(synth, limits=Limits(examples=1), description=name)
    H, W = studio.size
    names = synth.spec.names
    wanted = [n for n in ("road", "sky", "building", "vegetation", "car", "grass", "tree") if n in names]
    classes = [names.index(n) for n in wanted] or list(range(min(5, len(names))))
    base = blobs(H, W, classes, 0)
    dtype = np.uint8 if studio.label_dtype == "uint8" else np.dtype("<u2")
    stroke_ms, look_ms = [], []
    try:
        with BackgroundServer(create_app(studio)) as url, httpx.Client(base_url=url, timeout=600) as http:
            sid = http.post("/api/sessions", json={"example": None}).json()["state"]["session"]

            def timed(method, path, **kwargs) -> float:
                t0 = time.perf_counter()
                r = http.request(method, path, **kwargs)
                r.raise_for_status()
                png = base64.b64decode(r.json()["image"].split(",", 1)[1])
                np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
                return (time.perf_counter() - t0) * 1000

            for i in range(edits + 2):
                ids = base.copy()
                x = (i * W // 16) % (W - W // 8)
                ids[H // 2: H // 2 + H // 8, x: x + W // 8] = classes[i % len(classes)]      # a stroke
                ms = timed("PUT", f"/api/sessions/{sid}/label/ids", content=ids.astype(dtype).tobytes())
                look = timed("POST", f"/api/sessions/{sid}/classes/{classes[0]}/look", json={"seed": i})
                if i >= 2:
                    stroke_ms.append(ms)
                    look_ms.append(look)
            codes = studio.sessions[sid].codes
            decode_ms, png_ms = [], []
            for _ in range(max(3, edits // 2)):
                t0 = time.perf_counter()
                image = studio.submit(synth.decode, [codes]).result()[0]
                decode_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                data = studio.submit(png_bytes, image).result()
                png_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        studio.close()
    return {"model": name, "size": f"{H}x{W}", "threads": threads, "edits": edits,
            "stroke_ms": statistics.median(stroke_ms), "stroke_p90_ms": percentile(stroke_ms, 90),
            "look_ms": statistics.median(look_ms), "look_p90_ms": percentile(look_ms, 90),
            "decode_ms": statistics.median(decode_ms), "png_ms": statistics.median(png_ms),
            "image_kib": len(data) / 1024}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.benchmarks.studio", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="a model file for the small row (default: random weights)")
    p.add_argument("--edits", type=int, default=20, help="timed edits of each kind, small model")
    p.add_argument("--cityscapes-edits", type=int, default=4, help="timed edits of each kind, Cityscapes")
    p.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()],
                   help="intra-op CPU thread counts to try (default: PyTorch's)")
    p.add_argument("--skip-cityscapes", action="store_true")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)

    runs = [("small (synthetic)" if args.model is None else args.model,
             (lambda: random_model("small")) if args.model is None
             else (lambda: Synthesizer.load(args.model, device="cpu")), args.edits)]
    if not args.skip_cityscapes:
        runs.append(("cityscapes (random weights)", lambda: random_model("cityscapes"),
                     args.cityscapes_edits))
    print(f"CPU, torch {torch.__version__}, {platform.processor() or platform.machine()}; round trip = "
          "HTTP request to PNG decoded, median (p90) over the edits")
    print(f"{'model':<30}{'size':>9}{'thr':>5}{'stroke ms':>18}{'new look ms':>18}{'decode ms':>11}"
          f"{'png ms':>8}{'PNG KiB':>9}")
    rows = []
    for name, make, edits in runs:
        synth = make()
        for threads in args.threads:
            r = measure(synth, name, edits, threads)
            rows.append(r)
            print(f"{r['model']:<30}{r['size']:>9}{r['threads']:>5}"
                  f"{r['stroke_ms']:>10.0f} ({r['stroke_p90_ms']:>5.0f}){r['look_ms']:>10.0f} "
                  f"({r['look_p90_ms']:>5.0f}){r['decode_ms']:>11.0f}{r['png_ms']:>8.1f}{r['image_kib']:>9.0f}",
                  flush=True)
        del synth
    if args.json:
        data = {"device": "cpu", "torch": torch.__version__, "rows": rows}
        atomic_write_text(json.dumps(data, indent=2) + "\n", args.json)


if __name__ == "__main__":
    main()
