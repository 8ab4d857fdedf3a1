"""smis-export: what it writes, and its user errors (exit 2, one `error:` line naming the thing)."""

import sys

import pytest

from smis.cli.export import main
from smis.hub import save_model
from smis.hub.export import read_metadata
from smis.networks import GroupDNet, preset

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

# one torch thread (and one onnxruntime thread in the tests): see the one_thread fixture
pytestmark = pytest.mark.usefixtures("one_thread")


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def test_writes_a_verified_dynamic_onnx_file(tmp_path, capsys):
    out = tmp_path / "deploy" / "synthetic.onnx"
    assert main(["synthetic", "--format", "onnx", "--size", "dynamic", "--verify", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "any HxW" in printed and "max abs difference from eager PyTorch" in printed and "(ok)" in printed
    assert read_metadata(out)["size"] is None and sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_torchscript_defaults_to_the_native_size_and_the_models_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["synthetic", "--format", "torchscript"]) == 0
    meta = read_metadata(tmp_path / "synthetic.ts")
    assert meta["size"] == meta["native_size"] == [128, 128] and meta["class_names"][0] == "sky"


def test_an_unknown_format_is_named(capsys):
    with pytest.raises(SystemExit) as e:
        main(["synthetic", "--format", "tflite"])
    assert e.value.code == 2
    line = error_line(capsys)
    assert "error: argument --format" in line and "tflite" in line


@pytest.mark.parametrize("size", ["100x64", "big"])
def test_a_bad_size_is_named(size, capsys):
    with pytest.raises(SystemExit) as e:
        main(["synthetic", "--format", "onnx", "--size", size])
    assert e.value.code == 2 and "error: argument --size" in error_line(capsys)


@pytest.mark.parametrize("existing", ["m.onnx", "m.encoder.onnx"])
def test_an_existing_output_needs_overwrite(tmp_path, existing, capsys):
    (tmp_path / existing).write_bytes(b"keep")
    assert main(["synthetic", "--format", "onnx", "--encoder", "-o", str(tmp_path / "m.onnx")]) == 2
    line = error_line(capsys)
    assert line.startswith("error: ") and str(tmp_path / existing) in line and "--overwrite" in line
    assert (tmp_path / existing).read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]     # nothing else written


def test_a_missing_model_is_named(tmp_path, capsys):
    assert main([str(tmp_path / "nothing.pt"), "--format", "torchscript", "-o", str(tmp_path / "m.ts")]) == 2
    line = error_line(capsys)
    assert line.startswith("error: ") and "nothing.pt" in line and "not found" in line
    assert not (tmp_path / "m.ts").exists()


@pytest.mark.parametrize("missing,flags,message", [
    ("onnx", [], "--format onnx needs the onnx package"),
    ("onnxruntime", ["--verify"], "--verify of an ONNX file needs the onnxruntime package"),
])
def test_onnx_without_the_extra_names_the_install_command(tmp_path, monkeypatch, capsys, missing, flags,
                                                          message):
    monkeypatch.setitem(sys.modules, missing, None)            # its import raises ImportError
    assert main(["synthetic", "--format", "onnx", "-o", str(tmp_path / "m.onnx"), *flags]) == 2
    assert error_line(capsys) == f'error: {message}: pip install "groupdnet[export]"'
    assert not (tmp_path / "m.onnx").exists()


def test_a_model_without_a_native_size_asks_for_one(tmp_path, capsys):
    save_model(GroupDNet(preset("small", ngf=8), with_discriminator=False), tmp_path / "model.pt")  # no spec
    assert main([str(tmp_path / "model.pt"), "--format", "torchscript", "-o", str(tmp_path / "m.ts")]) == 2
    line = error_line(capsys)
    assert str(tmp_path / "model.pt") in line and "--size HxW or --size dynamic" in line
    assert not (tmp_path / "m.ts").exists()
