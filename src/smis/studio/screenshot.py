"""A screenshot of the studio page, for the docs (docs/studio.png): serves the model on a free port
of 127.0.0.1, opens the page in headless Chromium (Playwright, with the system's Chromium; nothing is
downloaded), makes a few edits (a stroke of car, a new look for the sky, a reference look for the
grass) and saves the page as a PNG.

    python -m smis.studio.screenshot --out docs/studio.png [--model PATH] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m smis.studio.screenshot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("docs/studio.png"))
    p.add_argument("--model", default=None, help="as for python -m smis.studio (default: the demo model)")
    p.add_argument("--dataset", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--width", type=int, default=1360)
    p.add_argument("--height", type=int, default=860)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from playwright.sync_api import sync_playwright

    from .app import BackgroundServer
    from .server import ModelError, build

    try:
        studio, app = build(args.model, args.dataset, args.device)
    except (ModelError, FileNotFoundError, ValueError) as e:
        sys.exit(f"smis studio screenshot: {e}")
    names = studio.spec.names
    with BackgroundServer(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": args.width, "height": args.height}, device_scale_factor=1)
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        settle = "() => S.pending === 0 && !S.labelQueued"
        if "car" in names:                                     # a car on the road
            page.click(f"#palette button[data-cls='{names.index('car')}']")
            box = page.locator("#label").bounding_box()
            y = box["y"] + box["height"] * 0.78
            page.mouse.move(box["x"] + box["width"] * 0.42, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.58, y, steps=8)
            page.mouse.up()
            page.wait_for_function(settle, timeout=60_000)
        for name, seed in (("sky", 11), ("grass", 4)):
            if name in names:                                  # explicit seeds: the same picture each time
                row = page.locator(f"#classes .class-row[data-cls='{names.index(name)}']")
                if row.is_visible():
                    row.locator(".seed").fill(str(seed))
                    row.locator(".seed").press("Enter")
                    page.wait_for_function(settle, timeout=60_000)
        page.select_option("#ref-example", "1")
        page.wait_for_function(settle, timeout=60_000)
        if "tree" in names:
            row = page.locator(f"#classes .class-row[data-cls='{names.index('tree')}']")
            if row.is_visible() and not row.locator(".lock input").is_checked():
                row.locator(".lock input").check()
                page.wait_for_function(settle, timeout=60_000)
        page.mouse.move(0, 0)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    studio.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
