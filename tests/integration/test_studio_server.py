"""smis studio beyond its API: the command line (missing model, local hosts only) and a burst of
concurrent and malformed requests against a real uvicorn, which leaves it answering with model calls
serialised."""

from __future__ import annotations

import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")        # starlette's note on httpx vs httpx2
    from fastapi.testclient import TestClient

import smis
from smis import Synthesizer
from smis.studio import create_app
from smis.studio.app import BackgroundServer
from tests.helpers.studio import GRASS, SKY, H, W, make_studio, sky_grass, tiny_net


# --- the command line -----------------------------------------------------------------------------
def test_the_command_line_names_the_missing_model(tmp_path, monkeypatch):
    from smis.hub import shipped
    from smis.studio import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "not_installed")
    with pytest.raises(SystemExit) as e:              # the default is the shipped model
        cli.main(["--port", "0"])
    assert "not_installed/synthetic.pt" in str(e.value) and "reinstall" in str(e.value)
    with pytest.raises(SystemExit) as e:
        cli.main(["--model", "missing.pt"])
    assert "missing.pt not found" in str(e.value) and "synthetic" in str(e.value)
    assert cli.parse_args([]).host == "127.0.0.1"


def test_the_command_line_serves_a_model_file_to_local_hosts_only(tmp_path, monkeypatch):
    from smis.studio import cli

    path = smis.save_model(tiny_net(), tmp_path / "model.pt")
    studio, app = cli.build(cli.parse_args(["--model", str(path), "--device", "cpu", "--max-sessions", "2"]))
    assert studio.limits.max_sessions == 2 and studio.size == (H, W)
    local = TestClient(app, base_url="http://127.0.0.1:8765")
    assert local.get("/api/info").json()["description"] == str(path)
    rebound = TestClient(app, base_url="http://evil.example")                 # DNS rebinding
    assert rebound.get("/api/info").status_code == 400
    studio.close()
    # a shipped model's name is the packaged file
    from smis.hub import shipped

    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    smis.save_model(tiny_net(), tmp_path / shipped.SHIPPED["synthetic"])
    synth, description = cli.load_synthesizer(None, "cpu")
    assert isinstance(synth, Synthesizer) and description == "shipped synthetic model"


# --- a real server under a burst --------------------------------------------------------------------
def test_a_burst_of_concurrent_and_malformed_requests_leaves_the_server_answering():
    import httpx

    studio = make_studio(max_sessions=4)
    active, most = 0, 0
    guard = threading.Lock()
    decode = studio.synth.net.decode

    def counting_decode(*args, **kwargs):                       # how many model calls overlap?
        nonlocal active, most
        with guard:
            active += 1
            most = max(most, active)
        try:
            return decode(*args, **kwargs)
        finally:
            with guard:
                active -= 1

    studio.synth.net.decode = counting_decode
    with BackgroundServer(create_app(studio, allowed_hosts=["127.0.0.1"])) as url:
        with httpx.Client(base_url=url, timeout=60) as http:
            sid = http.post("/api/sessions", json={}).json()["state"]["session"]
            good = sky_grass().tobytes()
            as_json = {"content-type": "application/json"}
            multipart = {"content-type": "multipart/form-data; boundary=x"}
            junk_png = b"\x89PNG\r\n\x1a\n junk"
            requests = [
                ("PUT", f"/api/sessions/{sid}/label/ids", {"content": good}),
                ("PUT", f"/api/sessions/{sid}/label/ids", {"content": b"\xff" * 77}),
                ("POST", f"/api/sessions/{sid}/classes/{SKY}/look", {"json": {}}),
                ("POST", f"/api/sessions/{sid}/classes/{GRASS}/look", {"content": b"{{", "headers": as_json}),
                ("POST", f"/api/sessions/{sid}/region", {"json": {"x": 3, "y": 3}}),
                ("POST", f"/api/sessions/{sid}/label", {"files": {"file": ("x.png", junk_png)}}),
                ("POST", f"/api/sessions/{sid}/codes", {"files": {"file": ("x.codes", b"PK\x03\x04 junk")}}),
                ("POST", "/api/sessions", {"json": {"example": 1}}),
                ("GET", "/api/sessions/not-a-session", {}),
                ("POST", f"/api/sessions/{sid}/label", {"content": b"--x\r\nbroken", "headers": multipart}),
                ("PUT", f"/api/sessions/{sid}/label/ids", {"content": b"0" * 600_000}),
                ("GET", "/api/info", {}),
            ] * 4

            def send(req):
                method, path, kwargs = req
                try:
                    return http.request(method, path, **kwargs).status_code
                except httpx.HTTPError as e:                          # e.g. the server cut a too-large body
                    return type(e).__name__

            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(send, requests))
            assert all(isinstance(s, str) or s < 500 for s in statuses), statuses
            assert statuses.count(200) >= 4 * 5
            assert most == 1                                          # never two model calls at once
            assert http.get("/api/info").status_code == 200
            assert http.put(f"/api/sessions/{sid}/label/ids", content=good).status_code == 200
            assert len(studio.sessions) <= 4
    studio.close()


@pytest.mark.parametrize("option, value, expected", [
    ("--max-sessions", "0", "at least 1"), ("--max-upload-mb", "-1", "above 0"),
    ("--port", "99999", "0 .a free port. to 65535"), ("--threads", "-3", "at least 1"),
    ("--max-pixels", "10", "at least 4096")])
def test_numeric_options_out_of_range_are_refused(option, value, expected, capsys):
    from smis.studio import cli

    with pytest.raises(SystemExit) as e:
        cli.parse_args([option, value])
    assert e.value.code == 2
    assert re.search(rf"error: {option} {value}(\.0)?: expected {expected}", capsys.readouterr().err)
