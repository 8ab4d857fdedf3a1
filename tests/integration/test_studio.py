"""smis studio's HTTP API, through FastAPI's test client: every endpoint, every refusal (as a 4xx
JSON error naming the control), bounded sessions and uploads. The command line and a burst against a
real server: test_studio_server.py."""

from __future__ import annotations

import base64
import io
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from smis import Codes
from smis.data import ADE20K, SYNTHETIC
from smis.studio import Studio, create_app
from smis.studio.app import STATIC
from tests.helpers.http import TestClient
from tests.helpers.studio import CAR, GRASS, ROAD, SKY, H, K, W, make_studio, sky_grass

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def studio():
    s = make_studio(max_sessions=32)     # ~17 sessions in use: none may be refused
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(studio):
    return TestClient(create_app(studio))


@pytest.fixture
def sid(client):
    return client.post("/api/sessions", json={"example": 0, "seed": 0}).json()["state"]["session"]


def picture(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB"))


def label_of(answer: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(answer["label"]), np.uint8).reshape(H, W)


def png(array_or_picture, mode=None) -> bytes:
    im = array_or_picture
    if not isinstance(im, Image.Image):
        im = Image.fromarray(im, mode)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def codes_of(client, sid) -> Codes:
    r = client.get(f"/api/sessions/{sid}/codes")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    d = torch.load(io.BytesIO(r.content), weights_only=True)
    return Codes(d["z"], d["label"], tuple(d["sources"]), tuple(d["class_names"]))


def channels(z, c):
    return z[:, K * c: K * c + K]


def others(z, c):
    return torch.cat([z[:, : K * c], z[:, K * c + K:]], 1)


def error(r, status: int, field=None, match: str = "") -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "field"}
    if field is not None:
        assert body["field"] == field
    assert re.search(match, body["error"]), body["error"]
    return body["error"]


# --- the page -------------------------------------------------------------------------------------
def test_page_and_static_files_load_nothing_from_elsewhere(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "/static/studio.js" in r.text and "/static/studio.css" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    for name in ("studio.js", "studio.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC.iterdir():                                   # no CDN, font or script from the web
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", path.read_text()), path.name
    assert client.get("/static/../session.py").status_code == 404


def test_info_describes_the_model(client):
    info = client.get("/api/info").json()
    assert info["size"] == [H, W] and info["name"] == "synthetic" and info["label_dtype"] == "uint8"
    assert [c["name"] for c in info["classes"]] == list(SYNTHETIC.names)
    assert info["classes"][SKY]["colour"] == "#{:02x}{:02x}{:02x}".format(*SYNTHETIC.palette[SKY])
    assert len(info["examples"]) == 3 and info["limits"]["max_bytes"] == 256 * 1024


# --- sessions and the label map -----------------------------------------------------------------
def test_a_session_starts_on_an_example_and_its_state_reads_back(client, studio):
    answer = client.post("/api/sessions", json={"example": 1, "seed": 4}).json()
    assert picture(answer["image"]).shape == (H, W, 3)
    label = label_of(answer)
    assert np.array_equal(label, studio.example(1)[0][0, 0].numpy())
    state = answer["state"]
    present = {c["id"] for c in state["classes"] if c["present"]}
    assert present == set(np.unique(label).tolist()) and all(c["seed"] == 4 for c in state["classes"])
    again = client.get(f"/api/sessions/{state['session']}").json()
    assert np.array_equal(label_of(again), label) and again["image"] == answer["image"]
    blank = client.post("/api/sessions", json={"example": None}).json()
    assert not label_of(blank).any()
    assert client.post("/api/sessions").status_code == 200                      # no body: defaults


def test_a_stroke_changes_the_image_and_keeps_the_looks(client, sid):
    before_codes = codes_of(client, sid)
    ids = sky_grass()
    first = client.put(f"/api/sessions/{sid}/label/ids", content=ids.tobytes()).json()
    assert "label" not in first                       # the page sent it; it is not sent back
    ids[80:100, 20:60] = CAR                          # a stroke of car
    second = client.put(f"/api/sessions/{sid}/label/ids", content=ids.tobytes()).json()
    assert np.abs(picture(second["image"]).astype(int) - picture(first["image"])).sum() > 0
    assert next(c for c in second["state"]["classes"] if c["id"] == CAR)["present"]
    after = codes_of(client, sid)
    assert torch.equal(after.z, before_codes.z)       # the same looks on the new layout
    assert torch.equal(after.label[0, 0], torch.from_numpy(ids).long())


def test_bad_label_ids_are_refused(client, sid):
    url = f"/api/sessions/{sid}/label/ids"
    error(client.put(url, content=b"\0" * 100), 422, "label", "128x128 class ids as 16384 bytes")
    ids = sky_grass()
    ids[0, 0] = 8
    error(client.put(url, content=ids.tobytes()), 422, "label", r"0\.\.7; found 8")


def test_label_files_upload_in_every_form_and_download_back(client, sid):
    url = f"/api/sessions/{sid}/label"
    ids = sky_grass()
    ids[90:110, 30:70] = ROAD
    answer = client.post(url, files={"file": ("ids.png", png(ids, "L"))}).json()   # grey ids
    assert np.array_equal(label_of(answer), ids)
    rgb = np.array(SYNTHETIC.palette, np.uint8)[ids]                                # palette colours
    assert np.array_equal(label_of(client.post(url, files={"file": ("c.png", png(rgb))}).json()), ids)
    p_mode = Image.fromarray(ids, "L").convert("P")                                  # palette mode
    p_mode.putpalette(sum((list(c) for c in SYNTHETIC.palette), []))
    assert np.array_equal(label_of(client.post(url, files={"file": ("p.png", png(p_mode))}).json()), ids)
    grey = client.get(f"/api/sessions/{sid}/label.png?kind=ids")
    assert grey.status_code == 200 and grey.headers["content-type"] == "image/png"
    assert "label.png" in grey.headers["content-disposition"]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(grey.content))), ids)
    colour = client.get(f"/api/sessions/{sid}/label.png?kind=colour").content
    colour = np.asarray(Image.open(io.BytesIO(colour)))
    assert np.array_equal(colour, rgb)
    error(client.get(f"/api/sessions/{sid}/label.png?kind=jpeg"), 422, "download", "ids.*colour")


def test_bad_label_files_get_a_4xx_naming_the_control(client, sid):
    url = f"/api/sessions/{sid}/label"
    error(client.post(url, files={"file": ("x.png", b"not an image at all")}), 400, "label", "cannot be read")
    error(client.post(url, files={"file": ("x.png", b"")}), 400, "label", "empty")
    small = png(np.zeros((64, 64), np.uint8), "L")
    error(client.post(url, files={"file": ("small.png", small)}), 422, "label", r"64x64.*128x128")
    rgb = np.array(SYNTHETIC.palette, np.uint8)[sky_grass()]
    rgb[:3, :3] = (1, 2, 3)
    error(client.post(url, files={"file": ("odd.png", png(rgb))}), 422, "label", r"\(1, 2, 3\) x9")
    grey = np.full((H, W), 200, np.uint8)
    error(client.post(url, files={"file": ("g.png", png(grey, "L"))}), 422, "label",
          "label value 200 has no class")
    noise = np.random.default_rng(0).integers(0, 255, (400, 400, 3), np.uint8)     # > 256 KiB as PNG
    error(client.post(url, files={"file": ("big.png", png(noise))}), 413, "label", "larger than")
    bomb = png(Image.new("1", (1100, 1000)))                                      # tiny file, 1.1 MP
    assert len(bomb) < 10_000
    error(client.post(url, files={"file": ("bomb.png", bomb)}), 413, "label", "1100x1000")
    error(client.post(url), 422, None, "file")                                     # no file at all


def test_examples_load_and_are_served_as_pictures(client, sid, studio):
    answer = client.post(f"/api/sessions/{sid}/example", json={"index": 2}).json()
    assert np.array_equal(label_of(answer), studio.example(2)[0][0, 0].numpy())
    for kind in ("label", "photo"):
        r = client.get(f"/api/examples/2/{kind}.png")
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (W, H)
    error(client.post(f"/api/sessions/{sid}/example", json={"index": 3}), 404, "example", "there are 3")
    error(client.get("/api/examples/9/photo.png"), 404, "example")
    error(client.get("/api/examples/0/thing.png"), 404, "example")
    error(client.post(f"/api/sessions/{sid}/example", json={"index": "two"}), 422, None, "index")


# --- looks ----------------------------------------------------------------------------------------
def test_new_look_redraws_one_class_only(client, sid, studio):
    client.put(f"/api/sessions/{sid}/label/ids", content=sky_grass().tobytes())
    before = codes_of(client, sid)
    image_before = picture(client.get(f"/api/sessions/{sid}").json()["image"])
    answer = client.post(f"/api/sessions/{sid}/classes/{SKY}/look", json={"seed": 77}).json()
    after = codes_of(client, sid)
    assert not torch.equal(channels(after.z, SKY), channels(before.z, SKY))
    assert torch.equal(others(after.z, SKY), others(before.z, SKY))
    assert torch.equal(channels(after.z, SKY)[0], studio.synth.layout.class_code(77, SKY, 2, 2))
    sky = answer["state"]["classes"][SKY]
    assert sky["seed"] == 77 and sky["source"] == "seed 77" and sky["morph"]
    assert np.abs(picture(answer["image"]).astype(int) - image_before).sum() > 0
    random = client.post(f"/api/sessions/{sid}/classes/{SKY}/look").json()["state"]["classes"][SKY]["seed"]
    assert random != 77 and 0 <= random < 2**31
    error(client.post(f"/api/sessions/{sid}/classes/{SKY}/look", json={"seed": -1}), 422, None, "seed")
    error(client.post(f"/api/sessions/{sid}/classes/8/look", json={}), 404, "look", "no class 8")


def test_locked_classes_keep_their_looks(client, sid):
    client.put(f"/api/sessions/{sid}/label/ids", content=sky_grass().tobytes())
    assert client.post(f"/api/sessions/{sid}/classes/{SKY}/lock", json={"locked": True}).json()[
        "state"]["classes"][SKY]["locked"]
    before = codes_of(client, sid)
    error(client.post(f"/api/sessions/{sid}/classes/{SKY}/look", json={}), 409, f"look-{SKY}",
          "sky is locked")
    error(client.post(f"/api/sessions/{sid}/classes/{SKY}/morph", json={"t": 0.5}), 409, f"morph-{SKY}")
    answer = client.post(f"/api/sessions/{sid}/shuffle", json={"seed": 12}).json()
    after = codes_of(client, sid)
    assert torch.equal(channels(after.z, SKY), channels(before.z, SKY))
    assert not torch.equal(channels(after.z, GRASS), channels(before.z, GRASS))
    assert [c["seed"] for c in answer["state"]["classes"]] == [0 if c == SKY else 12 for c in range(8)]
    for c in range(8):
        client.post(f"/api/sessions/{sid}/classes/{c}/lock", json={"locked": True})
    error(client.post(f"/api/sessions/{sid}/shuffle", json={}), 409, "shuffle", "every class is locked")
    for c in range(8):
        client.post(f"/api/sessions/{sid}/classes/{c}/lock", json={"locked": False})
    assert client.post(f"/api/sessions/{sid}/classes/{SKY}/look", json={}).status_code == 200
    error(client.post(f"/api/sessions/{sid}/classes/{SKY}/lock", json={"locked": "maybe"}), 422)


def test_the_slider_morphs_one_class_between_its_previous_and_current_look(client, sid):
    client.put(f"/api/sessions/{sid}/label/ids", content=sky_grass().tobytes())
    error(client.post(f"/api/sessions/{sid}/classes/{GRASS}/morph", json={"t": 0.5}), 409, f"morph-{GRASS}",
          "one look so far")
    start = codes_of(client, sid)
    client.post(f"/api/sessions/{sid}/classes/{GRASS}/look", json={"seed": 9})
    end = codes_of(client, sid)
    half = client.post(f"/api/sessions/{sid}/classes/{GRASS}/morph", json={"t": 0.5}).json()
    mid = codes_of(client, sid)
    halfway = (channels(start.z, GRASS) + channels(end.z, GRASS)) / 2
    torch.testing.assert_close(channels(mid.z, GRASS), halfway)
    assert torch.equal(others(mid.z, GRASS), others(start.z, GRASS))
    assert half["state"]["classes"][GRASS]["t"] == 0.5
    client.post(f"/api/sessions/{sid}/classes/{GRASS}/morph", json={"t": 0.0})
    assert torch.equal(codes_of(client, sid).z, start.z)
    client.post(f"/api/sessions/{sid}/classes/{GRASS}/morph", json={"t": 1})
    assert torch.equal(codes_of(client, sid).z, end.z)
    error(client.post(f"/api/sessions/{sid}/classes/{GRASS}/morph", json={"t": 1.5}), 422, None, "t")


def test_a_class_takes_its_look_from_a_reference(client, sid, studio):
    client.put(f"/api/sessions/{sid}/label/ids", content=sky_grass().tobytes())
    error(client.post(f"/api/sessions/{sid}/classes/{SKY}/take-look"), 409, f"take-{SKY}", "no reference yet")
    answer = client.post(f"/api/sessions/{sid}/reference/example", json={"index": 0}).json()
    assert answer["state"]["reference"]["name"] == "example scene 1"
    assert answer["state"]["reference"]["picture"].startswith("data:image/png;base64,")
    label, photo = studio.example(0)
    expected = studio.synth.encode(photo, label)
    before = codes_of(client, sid)
    client.post(f"/api/sessions/{sid}/classes/{SKY}/take-look")
    after = codes_of(client, sid)
    torch.testing.assert_close(channels(after.z, SKY), channels(expected.z, SKY))
    assert torch.equal(others(after.z, SKY), others(before.z, SKY))
    assert after.sources[SKY] == "encoded from example scene 1"
    missing = next(c for c in range(8) if c not in label.unique().tolist())
    error(client.post(f"/api/sessions/{sid}/classes/{missing}/take-look"), 409, f"take-{missing}", "shows no")
    # an uploaded photo and its label map (colours, at another size with the same shape)
    photo_png = png(photo.resize((256, 256)))
    rgb = np.array(SYNTHETIC.palette, np.uint8)[label[0, 0].numpy()]
    files = {"photo": ("p.png", photo_png), "label": ("l.png", png(rgb))}
    answer = client.post(f"/api/sessions/{sid}/reference", files=files).json()
    assert answer["state"]["reference"]["name"] == "p.png"
    assert answer["state"]["classes"][SKY]["in_reference"]
    url = f"/api/sessions/{sid}/reference"
    wide = png(Image.new("RGB", (256, 128)))
    error(client.post(url, files={"photo": ("w.png", wide), "label": ("l.png", png(rgb))}),
          422, "reference-label", "same scene")
    error(client.post(url, files={"photo": ("w.png", b"junk"), "label": ("l.png", png(rgb))}),
          400, "reference-photo")
    rgb[0, 0] = (9, 9, 9)
    error(client.post(url, files={"photo": ("p.png", photo_png), "label": ("l.png", png(rgb))}),
          422, "reference-label", "not in the synthetic palette")
    error(client.post(f"/api/sessions/{sid}/reference", files={"photo": ("p.png", photo_png)}), 422)


def test_codes_download_and_load_back(client, sid, studio):
    client.put(f"/api/sessions/{sid}/label/ids", content=sky_grass().tobytes())
    client.post(f"/api/sessions/{sid}/classes/{SKY}/look", json={"seed": 5})
    saved = client.get(f"/api/sessions/{sid}/codes").content
    saved_codes = codes_of(client, sid)
    client.post(f"/api/sessions/{sid}/example", json={"index": 1})
    client.post(f"/api/sessions/{sid}/shuffle", json={"seed": 8})
    client.post(f"/api/sessions/{sid}/classes/{GRASS}/lock", json={"locked": True})
    grass_before = channels(codes_of(client, sid).z, GRASS)
    answer = client.post(f"/api/sessions/{sid}/codes", files={"file": ("a.codes", saved)}).json()
    assert np.array_equal(label_of(answer), sky_grass())              # its label map comes back too
    loaded = codes_of(client, sid)
    assert torch.equal(others(loaded.z, GRASS), others(saved_codes.z, GRASS))
    assert torch.equal(channels(loaded.z, GRASS), grass_before)       # the locked class kept its look
    image = np.asarray(Image.open(io.BytesIO(client.get(f"/api/sessions/{sid}/image.png").content)))
    assert np.array_equal(image, picture(answer["image"]))
    url = f"/api/sessions/{sid}/codes"
    error(client.post(url, files={"file": ("x.codes", b"junk")}), 422, "codes", "not an smis codes file")
    buf = io.BytesIO()
    torch.save({"format": "smis.codes", "z": torch.zeros(1, 16, 2, 2), "sources": ["a", "b"],
                "label": torch.zeros(1, 1, H, W).long(), "class_names": ["a", "b"]}, buf)
    error(client.post(url, files={"file": ("other.codes", buf.getvalue())}), 422, "codes", "2 classes")
    small = Codes(torch.zeros(1, 64, 1, 2), torch.zeros(1, 1, 64, 128).long(), ("x",) * 8, SYNTHETIC.names)
    buf = io.BytesIO()
    torch.save({"format": "smis.codes", "version": 1, "z": small.z, "label": small.label, "instance": None,
                "sources": list(small.sources), "class_names": list(small.class_names)}, buf)
    error(client.post(url, files={"file": ("small.codes", buf.getvalue())}), 422, "codes", "128x128")


def test_unknown_things_and_malformed_requests_get_json_errors(client, sid):
    error(client.get("/api/sessions/nope"), 404, "session", "expired")
    error(client.put("/api/sessions/nope/label/ids", content=sky_grass().tobytes()), 404, "session")
    error(client.get("/api/sessions/nope/../../etc/passwd"), 404)
    error(client.get("/api/nothing"), 404, None, "Not Found")
    error(client.post(f"/api/sessions/{sid}/classes/{SKY}/look", content=b"{",
                      headers={"content-type": "application/json"}), 422, None, "not valid JSON")
    error(client.post(f"/api/sessions/{sid}/classes/sky/look", json={}), 422, None, "c")
    error(client.delete(f"/api/sessions/{sid}"), 405)
    error(client.put(f"/api/sessions/{sid}/label/ids", content=b"x", headers={"content-length": "999999999"}),
          413, None, "larger than")


def test_sessions_are_bounded_and_the_oldest_goes_first():
    studio = make_studio(max_sessions=3)
    client = TestClient(create_app(studio))
    ids = [client.post("/api/sessions", json={"example": None}).json()["state"]["session"] for _ in range(3)]
    client.get(f"/api/sessions/{ids[0]}")                       # used: now the newest
    more = [client.post("/api/sessions", json={"example": None}).json()["state"]["session"] for _ in range(2)]
    assert len(studio.sessions) == 3
    assert [client.get(f"/api/sessions/{s}").status_code for s in ids + more] == [200, 404, 404, 200, 200]
    studio.close()


def test_label_files_write_values_that_read_back_as_the_same_ids():
    ids = torch.tensor([[0, 1, 149, 150]])                      # ADE20K: 150 is "unknown"
    values = Studio.file_values(SimpleNamespace(spec=ADE20K), ids)
    assert values.tolist() == [[1, 2, 150, 255]]
    assert torch.equal(ADE20K.to_class_ids(values), ids)
