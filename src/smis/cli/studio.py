"""`smis-studio` (`make studio`; also `python -m smis.cli.studio`): serve the studio page for one model.

    smis-studio                                            # the shipped synthetic model
    smis-studio --model path/to/model.pt --port 8765
    smis-studio --model checkpoints/cityscapes_smis --dataset cityscapes --device cuda

With no --model it serves the shipped synthetic model (`smis.load_pretrained("synthetic")`); the
demo's own model is --model results/demo/training/model.pt.
The server binds 127.0.0.1 (this machine only) unless --host says otherwise, and answers only its
own page: a request from a page on another web site is refused (403).
"""

from __future__ import annotations

import argparse
import sys

from ..inputs import MAX_PIXELS
from ..networks.prior import PRIOR_CHOICES
from ..studio.server import ModelError
from ..studio.server import build as build_studio
from . import prog

SERVING_ONLY = ("port", "open")      # options of the command, not of the studio


def fail(message: str) -> None:
    """The command line's one line for a bad argument or input, and exit status 2."""
    print(f"smis studio: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=prog("smis.cli.studio"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="a model file, the authors' folder (with --dataset), or a shipped model's name "
                        "(default: synthetic, the shipped model)")
    p.add_argument("--dataset", default=None,
                   help="for the authors' folder: deepfashion, cityscapes or ade20k")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--prior", default="auto", choices=PRIOR_CHOICES,
                   help="where New look draws from: auto (the model's fitted appearance prior when it has "
                        "one, else N(0, I)), fitted, normal (N(0, I), the authors')")
    p.add_argument("--port", type=int, default=8765, help="port (0: a free one); default 8765")
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu, cuda, cuda:1 ...")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="label-map size, multiples of 64 (default: the model's native size)")
    p.add_argument("--max-sessions", type=int, default=32,
                   help="sessions (open pages) kept at once; default 32. A page in use is never closed for a "
                        "new one: when all are in use, a new page is refused (HTTP 429) until one has been "
                        "unused for 10 minutes (one never used after it opened may go at once); one address "
                        "may open 30 sessions a minute")
    p.add_argument("--max-upload-mb", type=float, default=8.0, help="largest uploaded file, MiB")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help=f"largest uploaded image and label-map size (--size), pixels; default {MAX_PIXELS} "
                        "(4096x4096)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for the model (default: PyTorch's; 1 is often faster on a busy machine)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    args = p.parse_args(argv)
    for option, value, valid, expected in (
            ("--port", args.port, 0 <= args.port <= 65535, "0 (a free port) to 65535"),
            ("--max-sessions", args.max_sessions, args.max_sessions >= 1, "at least 1"),
            ("--max-upload-mb", args.max_upload_mb, 0 < args.max_upload_mb <= 1024, "above 0, at most 1024"),
            ("--max-pixels", args.max_pixels, args.max_pixels >= 64 * 64, f"at least {64 * 64}"),
            ("--threads", args.threads, args.threads is None or args.threads >= 1, "at least 1")):
        if not valid:
            p.error(f"{option} {value}: expected {expected}")
    if args.size is not None:
        H, W = args.size
        if H < 64 or W < 64 or H % 64 or W % 64:
            p.error(f"--size {H} {W}: expected two multiples of 64 (height and width, 64 at least)")
        if H * W > args.max_pixels:
            p.error(f"--size {H} {W}: {H * W} pixels, more than --max-pixels {args.max_pixels}")
    return args


def build(args: argparse.Namespace):
    """-> (Studio, app) for parsed arguments."""
    return build_studio(**{k: v for k, v in vars(args).items() if k not in SERVING_ONLY})


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        studio, app = build(args)
    except (ModelError, OSError, ValueError) as e:
        fail(str(e))
    import uvicorn

    from ..studio.app import bind, server_config, url_host

    try:
        sock = bind(args.host, args.port)
    except OSError as e:
        fail(f"cannot listen on {args.host}:{args.port} ({e.strerror or e}); try --port 0")
    url = f"http://{url_host(args.host)}:{sock.getsockname()[1]}/"
    H, W = studio.size
    print(f"smis studio: {url}  ({studio.description}: {studio.spec.name}, {studio.num_classes} classes, "
          f"{H}x{W}, {studio.synth.device}; Ctrl+C stops it)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"  note: bound to {args.host}, so other machines can reach it; there is no login", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(url)
    server = uvicorn.Server(server_config(app))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
