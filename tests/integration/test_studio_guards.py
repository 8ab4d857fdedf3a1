"""The studio answers only its own page: requests from another origin change nothing, bodies need
their content type (smis/studio/guards.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers.http import TestClient
from tests.helpers.studio import GRASS, OWN, SKY, H, W, json_error, served, sky_grass

pytestmark = pytest.mark.usefixtures("one_thread")


# --- only the studio's own page changes anything ----------------------------------------------------
def png_of(ids) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(ids, "L").save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("headers, match", [
    ({"origin": "http://evil.example"}, r"a page at 'http://evil\.example', not from the studio's own page "
                                        r"\(http://127\.0\.0\.1:8765\)"),
    ({"origin": "null"}, "a page at 'null'"),                                  # a sandboxed frame, file://
    ({"origin": "http://127.0.0.1:9999"}, "127.0.0.1:9999"),                   # another port: another origin
    ({"origin": "http://evil.example", "sec-fetch-site": "same-origin"}, "evil"),   # Origin decides
    ({"sec-fetch-site": "cross-site"}, "another web site .Sec-Fetch-Site: cross-site"),
    ({"sec-fetch-site": "same-site"}, "Sec-Fetch-Site: same-site"),
    ({"referer": "http://evil.example/attack.html"}, r"http://evil\.example:80 \(Referer\)"),
])
def test_requests_from_another_origin_change_nothing(headers, match):
    studio, client = served(max_sessions=4)
    sid = client.post("/api/sessions", json={}).json()["state"]["session"]
    assert client.put(f"/api/sessions/{sid}/label/ids", content=sky_grass().tobytes()).status_code == 200
    z, label = studio.sessions[sid].codes.z.clone(), studio.sessions[sid].codes.label.clone()
    grass = png_of(np.full((H, W), GRASS, np.uint8))                   # would change the label map
    attempts = [
        ("POST", "/api/sessions", {"content": b"", "headers": {"content-type": "text/plain"}}),
        ("POST", "/api/sessions", {"json": {"example": 1}}),
        ("POST", f"/api/sessions/{sid}/shuffle", {"json": {"seed": 5}}),
        ("POST", f"/api/sessions/{sid}/classes/{SKY}/look", {"json": {"seed": 5}}),
        ("POST", f"/api/sessions/{sid}/label", {"files": {"file": ("grass.png", grass)}}),
        ("PUT", f"/api/sessions/{sid}/label/ids", {"content": np.full((H, W), GRASS, np.uint8).tobytes()}),
        ("GET", f"/api/sessions/{sid}", {}),                          # names a session: refused too
    ]
    for method, path, kwargs in attempts:
        kwargs = {**kwargs, "headers": {**kwargs.get("headers", {}), **headers}}
        json_error(client.request(method, path, **kwargs), 403, "^refused: .*" + match)
    assert list(studio.sessions) == [sid]
    codes = studio.sessions[sid].codes
    assert torch.equal(codes.z, z) and torch.equal(codes.label, label)
    # what another page may still do: open the studio from a link, read the model's description
    assert client.get("/", headers=headers).status_code == 200
    assert client.get("/api/info", headers=headers).status_code == 200
    studio.close()


def test_the_studios_own_page_and_clients_without_browser_headers_are_served():
    studio, client = served()
    sid = client.post("/api/sessions", json={}, headers={"origin": OWN, "sec-fetch-site": "same-origin"}) \
        .json()["state"]["session"]
    own = [{}, {"origin": OWN}, {"origin": "http://127.0.0.1:8765/"}, {"sec-fetch-site": "same-origin"},
           {"sec-fetch-site": "none"}, {"referer": f"{OWN}/index.html"}]
    for seed, headers in enumerate(own, start=10):
        r = client.post(f"/api/sessions/{sid}/shuffle", json={"seed": seed}, headers=headers)
        assert r.status_code == 200, (headers, r.text)
        assert r.json()["state"]["classes"][SKY]["seed"] == seed
    assert client.get(f"/api/sessions/{sid}", headers={"sec-fetch-site": "same-origin"}).status_code == 200
    # the page served as http://localhost:8765 is its own origin there
    local = TestClient(client.app, base_url="http://localhost:8765")
    r = local.post("/api/sessions", json={}, headers={"origin": "http://localhost:8765"})
    assert r.status_code == 200
    json_error(local.post("/api/sessions", json={}, headers={"origin": OWN}), 403, "refused")
    studio.close()


def test_bodies_need_their_content_type():
    studio, client = served()
    sid = client.post("/api/sessions", json={}).json()["state"]["session"]
    seed = studio.sessions[sid].seeds[SKY]
    json_error(client.post("/api/sessions", content=b"", headers={"content-type": "text/plain"}), 415,
               "takes a JSON body with Content-Type: application/json; got Content-Type: text/plain")
    assert list(studio.sessions) == [sid]                    # the text/plain "simple request" made nothing
    shuffle = f"/api/sessions/{sid}/shuffle"
    json_error(client.post(shuffle, content=b'{"seed": 5}', headers={"content-type": "text/plain"}), 415,
               "application/json")
    json_error(client.post(shuffle, data={"seed": "5"}), 415, "got Content-Type: application/x-www-form-url")
    json_error(client.post(shuffle, files={"file": ("a.json", b'{"seed": 5}')}), 415, "multipart/form-data")
    json_error(client.post(shuffle, content=b'{"seed": 5}'), 415, "got no Content-Type")
    assert studio.sessions[sid].seeds[SKY] == seed                          # none of them re-drew anything
    json_error(client.post(f"/api/sessions/{sid}/label", json={"file": "x"}), 415,
               "takes a file upload .a multipart form. with Content-Type: multipart/form-data; got "
               "Content-Type: application/json")
    text = {"content-type": "text/plain"}
    json_error(client.post(f"/api/sessions/{sid}/codes", content=b"PK", headers=text), 415, "multipart/form")
    json_error(client.put(f"/api/sessions/{sid}/label/ids", content=sky_grass().tobytes(),
                          headers={"content-type": "text/plain"}), 415, "application/octet-stream")
    # what the page sends
    utf8 = {"content-type": "application/json; charset=utf-8"}
    r = client.post(shuffle, content=b'{"seed": 5}', headers=utf8)
    assert r.status_code == 200 and studio.sessions[sid].seeds[SKY] == 5
    assert client.put(f"/api/sessions/{sid}/label/ids", content=sky_grass().tobytes(),
                      headers={"content-type": "application/octet-stream"}).status_code == 200
    assert client.post(f"/api/sessions/{sid}/label", files={"file": ("g.png", png_of(sky_grass()))}) \
        .status_code == 200
    assert client.post("/api/sessions").status_code == 200                    # no body at all: defaults
    studio.close()
