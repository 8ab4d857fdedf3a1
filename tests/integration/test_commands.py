"""The demo and benchmark commands run and write what they promise."""

import json

import pytest
from PIL import Image

from smis.benchmarks import crops as crops_benchmark
from smis.benchmarks import data as data_benchmark
from smis.benchmarks import profile_step as profile_benchmark
from smis.benchmarks import train_step as train_step_benchmark
from smis.cli import demo
from tests.helpers.figures import check_labelled_grid


def test_demo_trains_and_writes_its_three_figures_beside_the_shipped_models(tmp_path, capsys):
    demo.main(["--out", str(tmp_path), "--scenes", "4", "dataset.num_train=4", "dataset.batch_size=2",
               "dataset.num_val=2", "optim.constant_epochs=1", "optim.decay_epochs=0",
               "~callbacks.progress_bar"])
    out = capsys.readouterr().out
    assert str(tmp_path.resolve()) in out
    for folder, cell in {tmp_path: (64, 128), tmp_path / "shipped": (128, 128)}.items():
        for name, (cols, rows) in {"samples": (7, 4), "resample": (7, 3), "transfer": (5, 3)}.items():
            with Image.open(folder / f"{name}.png") as im:   # a grid with 2 px padding, labelled
                check_labelled_grid(im, cols, rows, cell, row_labels=name == "resample")
        metrics = json.loads((folder / "control" / "metrics.json").read_text())
        assert metrics["images"] == 4 and 0 <= metrics["transfer"] <= 1 and "looks_ratio" in metrics
    table = [line.split() for line in out.splitlines() if line.strip().startswith(("demo ", "shipped "))]
    assert [row[0] for row in table] == ["demo", "shipped"]
    shipped = json.loads((tmp_path / "shipped" / "control" / "metrics.json").read_text())
    assert abs(float(table[1][1]) - shipped["separation"]) <= 5e-4
    variety = shipped["looks_ratio"]                       # the last column: the sampled looks' variety
    assert table[1][-1] == "-" if variety is None else abs(float(table[1][-1]) - variety) <= 5e-3
    assert (tmp_path / "training" / "model.pt").is_file()
    assert (tmp_path / "training" / "samples" / "epoch_000_resample.png").is_file()


def test_crops_benchmark_prints_both_ratios(capsys, tmp_path):
    crops_benchmark.main(["--classes", "12", "--present", "4", "--size", "128", "--batch", "1",
                          "--repeats", "1", "--json", str(tmp_path / "crops.json")])
    out = capsys.readouterr().out
    assert "4 of 12 (image, class) pairs present" in out
    for reference in ("(a) full crops + encoder", "(b) crops loop + full encoder"):
        (line,) = [line for line in out.splitlines() if reference in line]
        assert float(line.split("present is ")[1].split("x")[0]) > 0
    assert json.loads((tmp_path / "crops.json").read_text())["rows"]


def test_data_benchmark_prints_a_rate_per_layout(capsys):
    data_benchmark.main(["--count", "2", "--workers", "0"])
    rows = [line for line in capsys.readouterr().out.splitlines() if "im/s" in line]
    assert [row.split()[0] for row in rows] == ["cityscapes", "ade20k", "deepfashion", "folder"]
    assert all(row.count("im/s") == 2 for row in rows)


def test_train_step_benchmark_prints_and_writes_one_row_per_precision(tmp_path, capsys):
    path = tmp_path / "bench" / "train_step.json"
    train_step_benchmark.main(["--presets", "small", "--size", "64x128", "--batch", "1", "--steps", "1",
                               "--warmup", "0", "--no-vgg", "--variants", "authors", "32-true", "bf16-mixed",
                               "--decode", "--device", "cpu", "--json", str(path)])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("small ")]
    # preset size batch encoder precision channels_last compile ms/step images/s peak-memory...
    expected = (("authors", "32-true"), ("present", "32-true"), ("present", "bf16-mixed"))
    assert [r[:5] for r in rows] == [["small", "64x128", "1", e, p] for e, p in expected]
    assert all(float(r[8]) > 0 for r in rows)
    assert "the authors' algorithm's images/s" in out and out.count("decode one image: small 64x128") == 2
    saved = json.loads(path.read_text())
    assert [(r["encoder"], r["precision"]) for r in saved["rows"]] == [
        ("authors", "32-true"), ("present", "32-true"), ("present", "bf16-mixed")]
    keys = {"preset", "size", "batch", "encoder", "precision", "channels_last", "compile", "ms_per_step",
            "images_per_s", "peak_memory_mib", "error"}
    assert all(set(r) == keys and r["error"] is None and r["images_per_s"] > 0 for r in saved["rows"])
    assert [d["precision"] for d in saved["decode"]] == ["32-true", "bf16-mixed"]
    assert not list(path.parent.glob("*.tmp"))   # written atomically, no temp file left behind


def test_every_option_of_every_argparse_command_has_a_help_text(monkeypatch, capsys):
    """Each console script but the two Hydra apps (their options: the configuration reference),
    asked for --help: every argument it declares, of every subcommand, says what it is."""
    import argparse
    import importlib

    import pytest
    import tomllib

    from tests.helpers.paths import REPO

    silent = []
    real = argparse._ActionsContainer.add_argument

    def add_argument(self, *args, **kwargs):
        action = real(self, *args, **kwargs)
        if not action.help and not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            silent.append((command, action.dest))
        return action

    monkeypatch.setattr(argparse._ActionsContainer, "add_argument", add_argument)
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    checked = []
    for command, target in scripts.items():
        if command in ("smis-train", "smis-evaluate"):
            continue
        module, _, function = target.partition(":")
        with pytest.raises(SystemExit) as e:
            getattr(importlib.import_module(module), function)(["--help"])
        assert e.value.code == 0, command
        checked.append(command)
    capsys.readouterr()
    assert len(checked) >= 9 and silent == []


def test_step_profile_sorts_the_time_into_classes_and_writes_a_trace(tmp_path, capsys):
    assert [profile_benchmark.op_class(n) for n in (
        "aten::convolution_backward", "aten::cudnn_convolution", "aten::_foreach_addcdiv_", "aten::mv",
        "aten::addmm", "aten::add_", "aten::native_batch_norm", "aten::cat", "aten::tanh", "aten::t",
        "cudaLaunchKernel")] == [
        "convolution", "convolution", "optimiser", "spectral norm (mv, dot)", "matmul / linear",
        "element-wise", "normalisation", "copies and layout", "element-wise", "copies and layout", "other"]
    profile_benchmark.main(["--preset", "small", "--size", "64x128", "--batch", "2", "--no-vgg",
                            "--steps", "1", "--warmup", "1", "--json", str(tmp_path / "profile.json"),
                            "--trace", str(tmp_path / "trace.json")])
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "profile.json").read_text())
    ms = {row["class"]: row["ms"] for row in data["classes"]}
    assert sum(ms.values()) == pytest.approx(data["ms_per_step"]) and data["ms_per_step"] > 0
    assert ms["convolution"] > ms.get("other", 0)              # a GroupDNet step is mostly convolutions
    assert {"convolution", "normalisation", "element-wise"} <= set(ms)
    assert "convolution" in out and len(data["top"]) == 12
    assert json.loads((tmp_path / "trace.json").read_text())["traceEvents"]


def test_grouped_conv_benchmark_finds_the_decodes_grouped_convs_and_times_each_way(tmp_path, capsys):
    from smis.benchmarks import grouped_conv

    grouped_conv.main(["--presets", "small", "--size", "64x128", "--repeats", "1", "--backward",
                       "--json", str(tmp_path / "grouped.json")])
    (row,) = json.loads((tmp_path / "grouped.json").read_text())["presets"]
    # the small preset's generator: 7 blocks, each with 2-3 grouped convs and their norms' label convs
    assert row["convs"] >= 21 and len(row["shapes"]) >= 5
    assert all(set(s["ms"]) == {"grouped", "dense", "bmm"} and s["groups"] > 1 for s in row["shapes"])
    assert row["best_per_shape_ms"] <= min(row["total_ms"].values()) + 1e-9
    assert "best per shape" in capsys.readouterr().out
