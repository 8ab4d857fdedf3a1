"""The demo and benchmark commands run and write what they promise."""

from PIL import Image

from smis import demo
from smis.benchmarks import crops as crops_benchmark
from smis.benchmarks import data as data_benchmark


def test_demo_writes_the_sample_grid(tmp_path, capsys):
    demo.main(["--out", str(tmp_path), "--samples", "2"])
    out = capsys.readouterr().out
    path = tmp_path / "samples.png"
    assert str(path.resolve()) in out
    with Image.open(path) as im:   # 2 rows of (label map + 2 samples) at 128 px, 2 px padding
        assert im.size == (3 * 130 + 2, 2 * 130 + 2)


def test_demo_label_map_uses_every_class():
    label = demo.builtin_scene(128)
    assert set(label.unique().tolist()) == set(range(len(demo.SCENE_CLASSES)))


def test_crops_benchmark_prints_the_ratio(capsys):
    crops_benchmark.main(["--classes", "12", "--present", "4", "--size", "128", "--batch", "1",
                          "--repeats", "1"])
    out = capsys.readouterr().out
    assert "speed-up, crops + encoder:" in out and "x" in out.splitlines()[-1]


def test_data_benchmark_prints_a_rate_per_layout(capsys):
    data_benchmark.main(["--count", "2", "--workers", "0"])
    rows = [line for line in capsys.readouterr().out.splitlines() if "im/s" in line]
    assert [row.split()[0] for row in rows] == ["cityscapes", "ade20k", "deepfashion", "folder"]
    assert all(row.count("im/s") == 2 for row in rows)
