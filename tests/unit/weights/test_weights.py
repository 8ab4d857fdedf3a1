"""Pretrained files (smis.weights): the real download code against file:// and local HTTP addresses of
small files made here, the checksum rules, the mirror, the offline switch, and smis-weights."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import torch

from smis.cli.weights import main as smis_weights
from smis.weights import REGISTRY, MissingWeightsError, check, ensure
from smis.weights import store as hub
from smis.weights.registry import WeightFile


@pytest.fixture
def online(tmp_path, monkeypatch):
    """Downloads allowed, into an empty torch hub cache of this test's own."""
    monkeypatch.delenv("SMIS_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def published(folder: Path, name: str = "net.pth") -> tuple[Path, str, int]:
    """A small torch weight file as a publisher would serve it: (path, sha256 by hashlib, size)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    torch.save({"layer.weight": torch.randn(64, 64)}, path)
    data = path.read_bytes()
    return path, hashlib.sha256(data).hexdigest(), len(data)


def register(monkeypatch, file: WeightFile) -> WeightFile:
    monkeypatch.setitem(REGISTRY, file.name, file)
    return file


def test_download_verifies_the_file_and_leaves_no_temporary(online, tmp_path, monkeypatch):
    source, sha, size = published(tmp_path / "server")
    file = register(monkeypatch, WeightFile("net", "sub/net-1234.pth", (source.as_uri(),), sha, size, "MIT",
                                            "tests"))
    paths = ensure(["net"], progress=False)
    assert paths["net"] == online / "sub" / "net-1234.pth"
    assert paths["net"].read_bytes() == source.read_bytes()
    assert [p.name for p in paths["net"].parent.iterdir()] == ["net-1234.pth"]
    assert check(file).status == "ok"


def test_a_download_with_another_checksum_is_refused_and_removed(online, tmp_path, monkeypatch):
    source, sha, size = published(tmp_path / "server")
    wrong = "0" * 64
    register(monkeypatch, WeightFile("net", "net.pth", (source.as_uri(),), wrong, size, "MIT", "tests"))
    with pytest.raises(MissingWeightsError, match=r"(?s)net\.pth.*invalid hash value.*not used"):
        ensure(["net"], progress=False)
    assert not online.exists() or list(online.iterdir()) == []


class HalfFile(http.server.BaseHTTPRequestHandler):
    """Announces the whole file, sends half of it, then closes the connection (a dropped download)."""

    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body[: len(self.body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def half_file_server(tmp_path):
    source, sha, size = published(tmp_path / "server")
    handler = type("Handler", (HalfFile,), {"body": source.read_bytes()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/net.pth", sha, size
    server.shutdown()


@pytest.mark.parametrize("pinned", [True, False])
def test_an_interrupted_download_leaves_no_file(online, monkeypatch, half_file_server, pinned):
    url, sha, size = half_file_server
    register(monkeypatch, WeightFile("net", "net.pth", (url,), sha if pinned else None,
                                     size if pinned else None, "MIT", "tests"))
    with pytest.raises(MissingWeightsError, match="net.pth"):
        ensure(["net"], progress=False)
    assert not online.exists() or list(online.iterdir()) == []


def test_an_unpinned_download_must_be_a_weight_file(online, tmp_path, monkeypatch):
    page = tmp_path / "server" / "net.pth"
    page.parent.mkdir()
    page.write_text("<html>Sign in to continue</html>")          # what a file host may answer
    register(monkeypatch, WeightFile("net", "net.pth", (page.as_uri(),), None, None, "MIT", "tests"))
    with pytest.raises(MissingWeightsError, match="cannot be read as a torch weight file"):
        ensure(["net"], progress=False)
    assert not (online / "net.pth").exists()


def test_the_mirror_is_tried_first(online, tmp_path, monkeypatch):
    source, sha, size = published(tmp_path / "mirror" / "sub")
    register(monkeypatch, WeightFile("net", "sub/net.pth", ((tmp_path / "gone.pth").as_uri(),), sha, size,
                                     "MIT", "tests"))
    with pytest.raises(MissingWeightsError, match="gone.pth"):
        ensure(["net"], progress=False)
    monkeypatch.setenv("SMIS_WEIGHTS_MIRROR", (tmp_path / "mirror").as_uri())
    assert hub.candidate_urls(REGISTRY["net"])[0] == (tmp_path / "mirror" / "sub" / "net.pth").as_uri()
    assert ensure(["net"], progress=False)["net"].read_bytes() == source.read_bytes()


def test_a_cached_file_with_another_checksum_is_never_used_and_is_replaced(online, tmp_path, monkeypatch):
    source, sha, size = published(tmp_path / "server")
    file = register(monkeypatch, WeightFile("net", "net.pth", (source.as_uri(),), sha, size, "MIT", "tests"))
    online.mkdir(parents=True)
    damaged = bytearray(source.read_bytes())
    damaged[-100] ^= 0xFF                                       # same size, one byte flipped
    (online / "net.pth").write_bytes(bytes(damaged))
    assert check(file).status == "invalid"
    with pytest.raises(MissingWeightsError, match=r"(?s)has sha256 .* expected .*: not used"):
        ensure(["net"], allow_download=False)
    ensure(["net"], progress=False)                             # fetched again over it
    assert (online / "net.pth").read_bytes() == source.read_bytes()


def test_offline_nothing_is_tried_and_one_error_lists_every_file(online, monkeypatch):
    monkeypatch.setenv("SMIS_OFFLINE", "1")
    monkeypatch.setattr(hub, "download", lambda *a, **k: pytest.fail("offline: no download"))
    with pytest.raises(MissingWeightsError) as error:
        ensure(["vgg19", "inception", "alexnet"])
    text = str(error.value)
    for name in ("vgg19", "inception", "alexnet"):
        assert REGISTRY[name].filename in text
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in text
    assert "smis-weights fetch vgg19 inception alexnet" in text
    assert error.value.names == ("vgg19", "inception", "alexnet")


def test_no_network_stops_after_the_first_attempt(online, monkeypatch):
    tries = []
    real = hub.torch.hub.download_url_to_file
    monkeypatch.setattr(hub.torch.hub, "download_url_to_file", lambda url, *a, **k: (tries.append(url),
                                                                                   real(url, *a, **k)))
    monkeypatch.setenv("SMIS_WEIGHTS_MIRROR", "http://127.0.0.1:9")      # nothing listens: refused
    with pytest.raises(MissingWeightsError, match=r"(?s)No network: http://127.0.0.1:9/vgg19.*inception"):
        ensure(["vgg19", "inception"], progress=False)
    assert tries == ["http://127.0.0.1:9/vgg19-dcbb9e9d.pth"]


def test_the_registry_pins_what_it_can():
    for file in REGISTRY.values():
        assert file.licence and file.needed_by
        assert file.urls or file.page or file.package, file.name
        if file.sha256 is not None:
            assert len(file.sha256) == 64 and int(file.sha256, 16) >= 0
            short = file.filename.rsplit("-", 1)[-1].split(".")[0]       # torch.hub's short hash
            if len(short) == 8 and all(c in "0123456789abcdef" for c in short):
                assert file.sha256.startswith(short), file.name
    heads = REGISTRY["lpips-alex-heads"]
    assert check(heads).status == "ok"                   # the file inside the installed lpips package


def test_smis_weights_status_fetch_verify(online, tmp_path, monkeypatch, capsys):
    source, sha, size = published(tmp_path / "mirror")
    vgg = dataclasses.replace(REGISTRY["vgg19"], sha256=sha, size=size)
    register(monkeypatch, vgg)
    (tmp_path / "mirror" / "net.pth").rename(tmp_path / "mirror" / vgg.filename)
    monkeypatch.setenv("SMIS_OFFLINE", "1")              # status and verify never download

    assert smis_weights(["status", "dataset=cityscapes", "protocol=spade"]) == 0
    out = capsys.readouterr().out
    assert str(online) in out
    for name, by in (("vgg19", "[train]"), ("inception", "[evaluate]"),
                     ("drn-d-105-cityscapes", "[evaluate]")):
        line = next(line for line in out.splitlines() if line.split()[:1] == [name])
        assert "missing" in line and by in line
    assert "go.yf.io" in out                             # where the one without a direct address is

    assert smis_weights(["fetch", "vgg19", "--mirror", (tmp_path / "mirror").as_uri()]) == 0
    assert (online / vgg.filename).read_bytes() == (tmp_path / "mirror" / vgg.filename).read_bytes()
    assert smis_weights(["verify"]) == 0
    assert "vgg19" in capsys.readouterr().out

    (online / vgg.filename).write_bytes(b"truncated")
    assert smis_weights(["verify"]) == 1
    assert smis_weights(["status", "nonsense"]) == 2
    assert "no weight file named 'nonsense'" in capsys.readouterr().err
    assert smis_weights(["status", "protocol=spade", "--for", "train"]) == 2
    assert smis_weights(["status", "dataset=cityscape"]) == 2       # a typo: Hydra's choices, no traceback
    assert "Could not find 'dataset/cityscape'" in capsys.readouterr().err


def test_verify_prints_the_checksum_of_a_file_that_has_none_published(online, tmp_path, monkeypatch, capsys):
    source, sha, _ = published(online)                                   # already in the cache
    register(monkeypatch, WeightFile("net", source.name, (), None, None, "MIT", "tests", page="a page"))
    assert smis_weights(["verify"]) == 0
    assert f"no published checksum for net (checked on load instead); this copy's sha256: {sha}" in \
        capsys.readouterr().out
