"""python -m smis.benchmarks.export prints one row per configuration and the comparison."""

import json

import pytest

from smis.benchmarks import export as export_benchmark

pytest.importorskip("onnxruntime")

# one torch thread (and one onnxruntime thread in the tests): see the one_thread fixture
pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_benchmark_prints_and_writes_a_row_per_configuration(tmp_path, capsys):
    path = tmp_path / "export.json"
    export_benchmark.main(["--models", "synthetic", "--threads", "1", "--levels", "basic", "all",
                           "--repeats", "1", "--pause", "0", "--int8-models", "--json", str(path)])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("synthetic ")]
    runtimes = [" ".join(row[2:-5]) for row in rows]
    assert runtimes == ["eager", "eager dense", "onnxruntime", "onnxruntime"]
    assert "x eager's fastest" in out
    data = json.loads(path.read_text())
    assert [r["level"] for r in data["rows"]] == ["-", "-", "basic", "all"]
    exact = [r for r in data["rows"] if r["runtime"] in ("eager dense", "onnxruntime")]
    assert all(r["max_diff"] < 1e-4 for r in exact)
