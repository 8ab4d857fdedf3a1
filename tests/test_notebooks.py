"""The notebooks' code cells run (from the notebooks folder, as Jupyter would)."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, monkeypatch, capsys, reference_dir):
    monkeypatch.chdir(path.parent)
    monkeypatch.setenv("SMIS_REFERENCE_DIR", str(reference_dir))   # wherever the fixture found it
    namespace: dict = {}
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)
    out = capsys.readouterr().out
    difference = float(out.split("difference to the authors' output:")[1].split()[0])
    assert difference < 1e-5
