"""smis.hub.export: the exported graphs equal eager PyTorch (onnxruntime and TorchScript), at the
size they were exported for and, when dynamic, at another; their metadata round-trips."""

import json
import sys

import pytest
import torch

from smis.hub import load_model
from smis.hub.export import (
    MissingExportDependency,
    Runner,
    eager,
    edges_of,
    example_inputs,
    export,
    max_difference,
    metadata,
    one_hot_ids,
    pair_crops,
    read_metadata,
)
from smis.networks import class_crops
from smis.networks.groupdnet import instance_edges, one_hot
from smis.visualize import default_palette
from tests.helpers.reduced_presets import reduced_authors_net

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# one torch thread (and one onnxruntime thread in the tests): see the one_thread fixture
pytestmark = pytest.mark.usefixtures("one_thread")

TOLERANCE = 1e-4        # max abs difference from eager PyTorch (images in [-1, 1])
# per model: its native size and another one (dynamic graphs are traced at 64x128)
SIZES = {"shipped": ((128, 128), (64, 128)), "cityscapes": ((64, 128), (128, 64))}


@pytest.fixture(scope="module")
def nets():
    """The shipped model (128x128, mean-colour encoder) and a reduced Cityscapes preset (instance
    edges, per-class norms; native size 64x128)."""
    return {"shipped": load_model("synthetic"), "cityscapes": reduced_authors_net("cityscapes")}


@pytest.fixture(scope="module")
def exported(nets, tmp_path_factory):
    """(model, format) -> [decoder path, encoder path], exported once with a dynamic size."""
    folder = tmp_path_factory.mktemp("exported")
    return {(model, fmt): export(net, folder / f"{model}.{fmt}", fmt, None, with_encoder=True)
            for model, net in nets.items() for fmt in ("onnx", "torchscript")}


@pytest.fixture(scope="module")
def references(nets):
    """(model, size) -> (inputs, {graph: eager PyTorch's outputs}), computed once for both formats."""
    out = {}
    for model, net in nets.items():
        for size in SIZES[model]:
            inputs = example_inputs(net, size, seed=1)
            out[model, size] = inputs, {graph: eager(net, graph, inputs) for graph in ("decoder", "encoder")}
    return out


def run(runner: Runner, inputs: dict) -> list[torch.Tensor]:
    """The exported graph's outputs; TorchScript's profiling executor re-optimises the graph for
    every new input shape (seconds per shape), which a test need not pay for."""
    with torch.jit.optimized_execution(False):
        return runner(**inputs)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("model", ["shipped", "cityscapes"])
def test_dynamic_graphs_equal_eager_at_two_sizes(exported, references, model, fmt):
    for path in exported[model, fmt]:
        runner = Runner(path, threads=1)
        for size in SIZES[model]:
            inputs, expected = references[model, size]
            ours, theirs = run(runner, inputs), expected[runner.meta["graph"]]
            assert [o.shape for o in ours] == [t.shape for t in theirs]
            difference = max(float((o - t).abs().max()) for o, t in zip(ours, theirs))
            assert difference < TOLERANCE, (path.name, size)


@pytest.mark.parametrize("model", ["shipped", "cityscapes"])
def test_fixed_size_onnx_equals_eager_and_takes_that_size_only(nets, model, tmp_path):
    net = nets[model]
    size, other = SIZES[model]
    (path,) = export(net, tmp_path / "fixed.onnx", "onnx", size)
    assert read_metadata(path)["size"] == list(size)
    assert max_difference(net, path, batch=2, threads=1) < TOLERANCE            # at its size; any batch
    session = Runner(path, threads=1).session
    shapes = {i.name: i.shape for i in session.get_inputs()}
    assert shapes["label"] == ["batch", 1, *size]
    inputs = example_inputs(net, other)
    with pytest.raises(Exception, match="(?i)dimension"):
        session.run(None, {name: inputs[name].numpy() for name in shapes})


def test_the_instance_map_is_an_input_only_where_the_model_uses_edges(nets, exported):
    for model, wants in (("shipped", False), ("cityscapes", True)):
        decoder, encoder = exported[model, "onnx"]
        names = [i.name for i in ort.InferenceSession(str(decoder)).get_inputs()]
        assert names == ["label", "z"] + (["instance"] if wants else [])
        assert [i.name for i in ort.InferenceSession(str(encoder)).get_inputs()] == ["image", "label"]
    # the instance map changes the image (it is not ignored) and, given the label map itself, every
    # class border is an edge: what smis' Synthesizer passes without an instance map
    net = nets["cityscapes"]
    runner = Runner(exported["cityscapes", "onnx"][0], threads=1)
    inputs = example_inputs(net, (64, 128))
    (with_instances,) = runner(**inputs)
    (with_labels,) = runner(**{**inputs, "instance": inputs["label"]})
    assert (with_instances - with_labels).abs().max() > 0.1
    with torch.no_grad():
        expected = net.decode(inputs["label"], inputs["z"], inputs["label"])
    assert (with_labels - expected).abs().max() < TOLERANCE


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_metadata_round_trips(nets, exported, fmt):
    for model, net in nets.items():
        decoder, encoder = exported[model, fmt]
        for path, graph in ((decoder, "decoder"), (encoder, "encoder")):
            meta = read_metadata(path)
            assert meta["graph"] == graph
            assert meta["class_names"] == list(net.spec.names)
            assert [tuple(rgb) for rgb in meta["palette"]] == list(net.spec.palette)
            assert meta["native_size"] == list(net.spec.native_size) and meta["size"] is None
            assert (meta["num_classes"], meta["latent_per_class"]) == (net.config.num_classes,
                                                                      net.config.latent_per_class)
            assert meta["instance_edges"] == net.config.instance_edges
    assert read_metadata(exported["shipped", fmt][0])["class_names"][:2] == ["sky", "grass"]


def test_a_model_without_a_dataset_spec_gets_numbered_classes_and_the_default_palette(nets):
    net = nets["cityscapes"]
    spec, net.spec = net.spec, None
    try:
        meta = metadata(net, None, "decoder")
    finally:
        net.spec = spec
    assert meta["class_names"] == [f"class {i}" for i in range(4)] and meta["native_size"] is None
    assert meta["palette"] == default_palette(4).tolist()


def test_onnx_metadata_is_readable_with_onnxruntime_alone(exported):
    """A deployment reads the classes from the session: every key is its own property too."""
    session = ort.InferenceSession(str(exported["shipped", "onnx"][0]))
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props["class_names"])[0] == "sky"
    assert json.loads(props["palette"])[0] == [70, 130, 180]
    assert json.loads(props["latent_per_class"]) == 8 and json.loads(props["num_classes"]) == 8
    assert json.loads(props["smis.json"])["native_size"] == [128, 128]


def test_the_graphs_building_blocks_equal_smis_own():
    """The tracer-friendly one-hot, instance edges and crops give the eager helpers' exact values."""
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 5, (2, 1, 8, 16), generator=g).repeat_interleave(4, 2).repeat_interleave(4, 3)
    label[1] = label[1].clamp(max=2)                            # classes 3, 4 absent in image 1
    image = torch.rand(2, 3, 32, 64, generator=g) * 2 - 1
    assert torch.equal(one_hot_ids(label, 5, torch.float32), one_hot(label, 5))
    instance = label * 10 + torch.randint(0, 2, label.shape, generator=g)
    assert torch.equal(edges_of(instance), instance_edges(instance))
    onehot = one_hot(label, 5)
    crops = pair_crops(image.unsqueeze(1) * onehot.unsqueeze(2), onehot)
    assert torch.equal(crops.flatten(1, 2), class_crops(image, label, 5))


def test_an_existing_file_is_kept_without_overwrite(nets, tmp_path):
    net = nets["cityscapes"]
    path = tmp_path / "model.ts"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="model.ts exists.*--overwrite"):
        export(net, path, "torchscript")
    assert path.read_bytes() == b"keep me"
    encoder = tmp_path / "model.encoder.ts"
    encoder.write_bytes(b"keep me too")                       # the encoder's file counts as well
    path.unlink()
    with pytest.raises(FileExistsError, match="model.encoder.ts"):
        export(net, path, "torchscript", with_encoder=True)
    assert not path.exists()                                  # nothing written
    export(net, path, "torchscript", with_encoder=True, overwrite=True)
    assert read_metadata(encoder)["graph"] == "encoder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.encoder.ts", "model.ts"]   # no temporaries


def test_onnx_without_the_extra_names_the_install_command(nets, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)             # import onnx raises ImportError
    with pytest.raises(MissingExportDependency, match=r'pip install "groupdnet\[export\]"'):
        export(nets["shipped"], tmp_path / "m.onnx", "onnx")
    assert not (tmp_path / "m.onnx").exists()
