"""smis studio in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright; no browser download) opens the page served by a real uvicorn on 127.0.0.1, paints a
stroke, re-draws one class with "new look", checks that a click on the image changes nothing, and
takes a screenshot.

Skipped only where Chromium is missing outside CI; with CI=true a missing browser is a failure."""

from __future__ import annotations

import base64
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from smis.studio import Limits, Studio, create_app
from tests.helpers.studio import K, tiny_net

CHROMIUM = Path(os.environ.get("SMIS_CHROMIUM", "/usr/bin/chromium"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need_browser():
    missing = None
    if not CHROMIUM.is_file() and not shutil.which("chromium"):
        missing = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed (pip install 'groupdnet[dev]')"
    if missing and IN_CI:
        pytest.fail(f"CI=true but {missing}: .ci/run installs it")
    if missing:
        pytest.skip(missing)
    return CHROMIUM if CHROMIUM.is_file() else Path(shutil.which("chromium"))


@pytest.fixture(scope="module")
def browser_page():
    executable = need_browser()
    from playwright.sync_api import sync_playwright

    from smis import Synthesizer
    from smis.studio.app import BackgroundServer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    studio = Studio(Synthesizer(tiny_net(), device="cpu"), limits=Limits(examples=2), description="test")
    try:
        with BackgroundServer(create_app(studio, allowed_hosts=["127.0.0.1"])) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(executable), headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems = []
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            expected = "the server responded with a status of 4"       # the refusals the test asks for
            page.on("console", lambda m: problems.append(f"console: {m.text}")
                    if m.type == "error" and expected not in m.text else None)
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            yield page, studio, problems
            browser.close()
    finally:
        studio.close()
        torch.set_num_threads(threads)


def settled(page):
    """Wait until no request is queued or in flight."""
    page.wait_for_function("() => S.pending === 0 && !S.labelQueued", timeout=30_000)


def shown_image(page) -> np.ndarray:
    src = page.get_attribute("#image", "src")
    data = base64.b64decode(src.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def server_codes(page, studio):
    sid = page.evaluate("S.sid")
    return studio.sessions[sid].codes


def test_paint_and_redraw_one_class_in_a_real_browser(browser_page, tmp_path):
    page, studio, problems = browser_page
    H, W = studio.size
    settled(page)
    first = shown_image(page)
    start = server_codes(page, studio)

    # a stroke of "car" across the middle of the label canvas
    car = studio.spec.class_index("car")
    page.click(f"#palette button[data-cls='{car}']")
    box = page.locator("#label").bounding_box()
    y = box["y"] + box["height"] * 0.55
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * (0.2 + 0.06 * k), y, steps=2)
    page.mouse.up()
    page.wait_for_function("() => S.pending > 0 || S.labelQueued || S.lastMs !== null", timeout=10_000)
    settled(page)
    painted = server_codes(page, studio)
    in_page = np.array(page.evaluate("Array.from(S.label)")).reshape(H, W)
    assert (in_page == car).sum() > 50, "the stroke did not paint"
    assert np.array_equal(painted.label[0, 0].numpy(), in_page)          # the server has what the page shows
    assert torch.equal(painted.z, start.z)                               # a new layout, the same looks
    after_stroke = shown_image(page)
    assert np.abs(after_stroke - first).sum() > 0, "the generated image did not change after the stroke"
    assert page.is_visible(f"#classes .class-row[data-cls='{car}']")     # a row for the new class

    # "new look" for one class: only its codes change, and the image with them
    label = painted.label[0, 0].numpy()
    c = int(np.bincount(label.ravel()).argmax())                         # the largest class
    row = page.locator(f"#classes .class-row[data-cls='{c}']")
    seed_before = row.locator(".seed").input_value()
    row.locator(".look").click()
    page.wait_for_function(f"() => S.classes[{c}].seed !== {int(seed_before)}", timeout=30_000)
    settled(page)
    redrawn = server_codes(page, studio)
    changed = [k for k in range(studio.num_classes) if not torch.equal(redrawn.z[:, K * k:K * k + K],
                                                                        painted.z[:, K * k:K * k + K])]
    assert changed == [c]
    assert row.locator(".seed").input_value() != seed_before
    assert redrawn.sources[c].startswith("seed ")
    new_look = shown_image(page)
    diff = np.abs(new_look - after_stroke).sum(-1)
    assert diff.sum() > 0, "the image did not change with the new look"
    inside, outside = diff[label == c].mean(), diff[label != c].mean()
    assert inside > 0                                                    # the class's own pixels changed
    print(f"new look of {studio.spec.names[c]}: mean change inside {inside:.2f}, outside {outside:.2f} "
          "(an untrained net spreads it; a trained one keeps it inside)")
    assert not row.locator(".morph").is_disabled()                       # now there are two looks to morph

    # a click on the image changes nothing (the image has no click tool)
    before_click = server_codes(page, studio)
    img = page.locator("#image").bounding_box()
    page.mouse.click(img["x"] + img["width"] * 0.1, img["y"] + img["height"] * 0.1)
    settled(page)
    assert torch.equal(server_codes(page, studio).z, before_click.z)
    assert np.array_equal(shown_image(page), new_look)

    # an error shows next to the control that caused it
    junk = {"name": "bad.png", "mimeType": "image/png", "buffer": b"junk"}
    page.set_input_files("#label-file", files=[junk])
    page.wait_for_selector("#err-label:not([hidden])", timeout=30_000)
    assert "cannot be read" in page.inner_text("#err-label")

    shot = tmp_path / "studio.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000 and Image.open(shot).size[0] == 1280
    assert problems == [], problems
