"""smis studio beyond its API: the command line (missing model, local hosts only) and a burst of
concurrent and malformed requests against a real uvicorn, which leaves it answering with model calls
serialised."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import smis
from smis import Synthesizer
from smis.studio import create_app
from smis.studio.app import BackgroundServer
from tests.helpers.http import TestClient
from tests.helpers.studio import GRASS, SKY, H, W, json_error, make_studio, served, sky_grass, tiny_net

pytestmark = pytest.mark.usefixtures("one_thread")


# --- the command line -----------------------------------------------------------------------------
def exits_2(main, argv, capsys) -> str:
    """main(argv) exits 2 with one `error:` line (no traceback): -> that line."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error: " in line]
    assert len(lines) == 1, err
    return lines[0]


def test_the_command_line_names_the_missing_model(tmp_path, monkeypatch, capsys):
    from smis.cli import studio as cli
    from smis.hub import shipped

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "not_installed")
    line = exits_2(cli.main, ["--port", "0"], capsys)      # the default is the shipped model
    assert line.startswith("smis studio: error: ") and "not_installed/synthetic.pt" in line
    assert "reinstall" in line
    line = exits_2(cli.main, ["--model", "missing.pt"], capsys)
    assert "missing.pt not found" in line and "synthetic" in line
    assert cli.parse_args([]).host == "127.0.0.1"


@pytest.mark.parametrize("argv, expected", [
    (["--device", "tpu"], "device='tpu': not a device; expected auto, cpu, cuda"),
    (["--size", "100", "128"], r"--size 100 128: expected two multiples of 64"),
    (["--size", "0", "0"], r"--size 0 0: expected two multiples of 64"),
    (["--size", "4096", "4096", "--max-pixels", "65536"], r"--size 4096 4096: 16777216 pixels, more than "
                                                           r"--max-pixels 65536"),
])
def test_bad_device_and_sizes_are_one_error_line(argv, expected, tmp_path, capsys):
    from smis.cli import studio as cli

    path = smis.save_model(tiny_net(), tmp_path / "model.pt")
    assert re.search(expected, exits_2(cli.main, ["--model", str(path), *argv], capsys))


def test_the_max_pixels_default_is_the_synthesizers(tmp_path):
    from smis.cli import studio as cli
    from smis.inputs import MAX_PIXELS
    from smis.studio import Limits

    assert cli.parse_args([]).max_pixels == Limits().max_pixels == MAX_PIXELS == 4096 * 4096
    path = smis.save_model(tiny_net(), tmp_path / "model.pt")
    studio, _ = cli.build(cli.parse_args(["--model", str(path), "--device", "cpu", "--max-pixels", "100000"]))
    assert studio.synth.max_pixels == studio.limits.max_pixels == 100000         # one limit for both
    studio.close()


def test_the_command_line_serves_a_model_file_to_local_hosts_only(tmp_path, monkeypatch):
    from smis.cli import studio as cli

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
    from smis.studio.server import load_synthesizer

    synth, description = load_synthesizer(None, "cpu")
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
                ("POST", f"/api/sessions/{sid}/shuffle", {"json": {"seed": 3}}),
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
    from smis.cli import studio as cli

    with pytest.raises(SystemExit) as e:
        cli.parse_args([option, value])
    assert e.value.code == 2
    assert re.search(rf"error: {option} {value}(\.0)?: expected {expected}", capsys.readouterr().err)


# --- bad requests: the field, what it must be, what came ------------------------------------------------
def codes_without(client, sid, key) -> bytes:
    import io

    d = torch.load(io.BytesIO(client.get(f"/api/sessions/{sid}/codes").content), weights_only=True)
    del d[key]
    buf = io.BytesIO()
    torch.save(d, buf)
    return buf.getvalue()


@pytest.mark.parametrize("path, kwargs, match", [
    ("classes/{SKY}/lock", {}, r'^the request has no body; this request needs \{"locked": true or false\}$'),
    ("classes/{SKY}/lock", {"json": {}}, "^locked is missing: it must be true or false$"),
    ("classes/{SKY}/lock", {"json": {"locked": "maybe"}}, "^locked must be true or false; got 'maybe'$"),
    ("classes/{SKY}/morph", {"content": b'{"t": NaN}'}, r"^t must be a number in \[0, 1\]; got nan$"),
    ("classes/{SKY}/morph", {"content": b'{"t": Infinity}'}, r"^t must be a number in \[0, 1\]; got inf$"),
    ("classes/{SKY}/morph", {"json": {"t": 1.5}}, r"^t must be a number in \[0, 1\]; got 1.5$"),
    ("classes/{SKY}/morph", {"json": {"t": "half"}}, r"^t must be a number in \[0, 1\]; got 'half'$"),
    ("shuffle", {"json": {"seed": -1}}, r"^seed must be a whole number in 0\.\.2147483647, or .*; got -1$"),
    ("example", {"json": {}}, r"^index is missing: it must be an example's number"),
    ("classes/sky/look", {"json": {}}, r"^c must be a class id \(0, 1, \.\.\.\); got 'sky'$"),
])
def test_a_request_that_does_not_validate_names_the_field_and_what_it_must_be(path, kwargs, match):
    studio, client = served()
    sid = client.post("/api/sessions", json={}).json()["state"]["session"]
    if "content" in kwargs:
        kwargs = {**kwargs, "headers": {"content-type": "application/json"}}
    z = studio.sessions[sid].codes.z.clone()
    json_error(client.post(f"/api/sessions/{sid}/{path.format(SKY=SKY)}", **kwargs), 422, match)
    assert torch.equal(studio.sessions[sid].codes.z, z) and not studio.sessions[sid].locked
    studio.close()


def test_morph_refuses_nan_from_python_too():
    from smis.studio.uploads import StudioError

    studio = make_studio()
    sid = studio.new_session()["state"]["session"]
    with pytest.raises(StudioError, match=r"t must be a number in \[0, 1\]; got nan"):
        studio.morph(sid, SKY, float("nan"))
    studio.close()


@pytest.mark.parametrize("key, match", [("z", "^the codes file has no z tensor"),
                                        ("label", "^the codes file has no label tensor")])
def test_a_codes_upload_without_a_tensor_says_which(key, match):
    studio, client = served()
    sid = client.post("/api/sessions", json={}).json()["state"]["session"]
    z = studio.sessions[sid].codes.z.clone()
    upload = {"file": ("x.codes", codes_without(client, sid, key))}
    r = client.post(f"/api/sessions/{sid}/codes", files=upload)
    assert json_error(r, 422, match + r" \(.*\); encode or sample the codes again$")
    assert r.json()["field"] == "codes" and torch.equal(studio.sessions[sid].codes.z, z)
    studio.close()


def test_an_upload_beyond_pillows_limit_gives_its_size():
    from tests.helpers.images import png_header

    studio, client = served()
    sid = client.post("/api/sessions", json={}).json()["state"]["session"]
    r = client.post(f"/api/sessions/{sid}/label", files={"file": ("bomb.png", png_header(20000, 20000))})
    json_error(r, 413, r"^the image is 20000x20000 = 400000000 pixels; the limit is 1048576$")
    studio.close()


# --- sessions: bounded, never taken from a page in use -----------------------------------------------
def test_a_burst_of_new_sessions_does_not_evict_a_session_in_use():
    from smis.studio.app import SESSIONS_PER_MINUTE

    studio, client = served(max_sessions=4)
    sid = client.post("/api/sessions", json={}).json()["state"]["session"]
    client.put(f"/api/sessions/{sid}/label/ids", content=sky_grass().tobytes())           # in use: work
    z = studio.sessions[sid].codes.z.clone()
    answers = [client.post("/api/sessions", json={"example": None}) for _ in range(33)]
    statuses = [r.status_code for r in answers]
    assert statuses == [200] * (SESSIONS_PER_MINUTE - 1) + [429] * (34 - SESSIONS_PER_MINUTE), statuses
    json_error(answers[-1], 429, f"too many new sessions from testclient: at most {SESSIONS_PER_MINUTE} a")
    assert len(studio.sessions) == 4 and sid in studio.sessions
    again = client.get(f"/api/sessions/{sid}")
    assert again.status_code == 200
    assert torch.equal(studio.sessions[sid].codes.z, z)
    assert np.array_equal(studio.sessions[sid].codes.label[0, 0].numpy(), sky_grass())
    studio.close()


def test_a_full_studio_refuses_new_sessions_until_one_has_been_idle():
    from smis.studio.session import SESSION_IDLE_S

    studio, client = served(max_sessions=2)
    now = [1000.0]
    studio.clock = lambda: now[0]
    a, b = (client.post("/api/sessions", json={}).json()["state"]["session"] for _ in range(2))
    for sid in (a, b):
        assert client.post(f"/api/sessions/{sid}/shuffle", json={"seed": 3}).status_code == 200     # in use
    json_error(client.post("/api/sessions", json={}), 429,
               r"the studio is full: 2 sessions are open and in use \(the limit is --max-sessions 2\).*"
               rf"only after {SESSION_IDLE_S / 60:g} minutes unused.*try again in about 10 minutes")
    assert sorted(studio.sessions) == sorted([a, b])
    now[0] += SESSION_IDLE_S / 2
    assert client.get(f"/api/sessions/{b}").status_code == 200                # b used again, a still not
    now[0] += SESSION_IDLE_S / 2
    c = client.post("/api/sessions", json={})
    assert c.status_code == 200, c.text                                       # a has been idle long enough
    json_error(client.get(f"/api/sessions/{a}"), 404, "expired")
    assert client.get(f"/api/sessions/{b}").status_code == 200
    studio.close()


def test_one_address_opens_a_bounded_number_of_sessions_a_minute():
    from smis.studio.app import create_app as create

    studio = make_studio(max_sessions=8)
    app = create(studio, sessions_per_minute=3)
    now = [50.0]
    app.state.session_rate.clock = lambda: now[0]
    first, second = (TestClient(app, client=(f"10.0.0.{i}", 5000)) for i in (1, 2))
    assert [first.post("/api/sessions", json={}).status_code for _ in range(3)] == [200] * 3
    json_error(first.post("/api/sessions", json={}), 429, r"from 10\.0\.0\.1: at most 3 a minute.*in 60 s")
    assert second.post("/api/sessions", json={}).status_code == 200           # another address: its own count
    now[0] += 60
    assert first.post("/api/sessions", json={}).status_code == 200
    studio.close()


def test_the_max_sessions_help_says_what_happens_when_all_are_in_use(capsys):
    from smis.cli import studio as cli
    from smis.studio.app import SESSIONS_PER_MINUTE
    from smis.studio.session import SESSION_IDLE_S

    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "A page in use is never closed for a new one" in text and "(HTTP 429)" in text
    assert f"unused for {SESSION_IDLE_S / 60:g} minutes" in text
    assert f"one address may open {SESSIONS_PER_MINUTE} sessions a minute" in text


# --- a client that goes away mid-upload ------------------------------------------------------------
@pytest.mark.parametrize("method, route, content_type", [
    ("PUT", "/api/sessions/{sid}/label/ids", "application/octet-stream"),
    ("POST", "/api/sessions/{sid}/label", "multipart/form-data; boundary=x"),
])
def test_a_client_that_disconnects_mid_upload_is_one_quiet_log_line(method, route, content_type, caplog):
    import asyncio

    studio = make_studio()
    app = create_app(studio)
    sid = TestClient(app).post("/api/sessions", json={}).json()["state"]["session"]
    z = studio.sessions[sid].codes.z.clone()
    path = route.format(sid=sid)
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n' + b"\0" * 1000
    incoming = [{"type": "http.request", "body": part, "more_body": True}, {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"content-type", content_type.encode()),
                         (b"content-length", str(H * W).encode())],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    caplog.set_level("INFO")
    asyncio.run(app(scope, receive, send))                # an exception here: uvicorn's "Exception in ASGI"
    lines = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR", "CRITICAL")]
    assert [r.getMessage() for r in lines] == \
        [f"studio: the client disconnected during {method} {route} before sending all of it; nothing changed"]
    assert lines[0].exc_info is None and lines[0].name == "smis.studio"
    assert sent[0]["status"] == 400
    assert torch.equal(studio.sessions[sid].codes.z, z)
    studio.close()
