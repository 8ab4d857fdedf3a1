"""The notebooks run in a Jupyter kernel (nbclient), from a temporary copy of the notebooks folder,
so what they write (../results/notebooks/NAME/) and their outputs stay out of the checkout.

The application notebooks (01_... to 05_...) use the shipped model (smis.load_pretrained("synthetic"),
their default) and run two at a time; the walkthrough needs the authors' reference files
(SMIS_REFERENCE_DIR) and is skipped without them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.helpers.paths import REPO

NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
WALKTHROUGH = "groupdnet_walkthrough"
APPLICATIONS = [p.stem for p in NOTEBOOKS if p.stem != WALKTHROUGH]
TIMEOUT = 180          # seconds per cell
PARALLEL = 2           # kernels at a time

# the figures and files each notebook leaves in results/notebooks/NAME
EXPECTED_FILES = {
    "01_sampling": ["scene.png", "label.png", "seeds_0-5.png", "another_batch.png",
                    "seeds_0-5_other_scene.png", *(f"seed_{i:03d}.png" for i in range(6))],
    "02_redraw_one_class": ["seed_0.png", "sky_seeds_1-4.png", "car_seeds_1-4.png"],
    "03_appearance_transfer": ["reference.png", "reference_reconstructed.png", "reference_codes.pt",
                               "target_with_reference_sky.png", "target_with_reference_sky_grass.png"],
    "04_style_morphing": ["seeds_1_2.png", "morph_all.png", "morph_sky.png", "morph_all.gif"],
    "05_semantic_manipulation": ["seed_5.png", "pond.png", "cars_moved.png"],
}
NUMBER = r"([-+]?[0-9.]+(?:e[-+]?[0-9]+)?)"


# --- running ---------------------------------------------------------------------------------------
def kernel_env(tmp: Path) -> dict[str, str]:
    """Environment for the kernels: the `python3` kernel must be this interpreter (the venv, where
    smis is installed editable); when the installed spec points elsewhere, a spec for
    sys.executable in tmp is put first on JUPYTER_PATH."""
    from jupyter_client.manager import KernelManager

    env = {"OMP_NUM_THREADS": "1"}      # two kernels share the cores
    try:
        python = KernelManager(kernel_name="python3").format_kernel_cmd()[0]
    except Exception:                   # no such spec
        python = None
    if python is None or Path(python).resolve() != Path(sys.executable).resolve():
        spec = tmp / "jupyter" / "kernels" / "python3"
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (smis tests)", "language": "python"}))
        env["JUPYTER_PATH"] = os.pathsep.join([str(tmp / "jupyter"), os.environ.get("JUPYTER_PATH", "")])
    return env


async def execute(names: list[str], folder: Path) -> dict[str, tuple]:
    """Run the notebooks (copies in folder) PARALLEL at a time -> {name: (notebook, error or None)}."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(name: str):
        nb = nbformat.read(folder / f"{name}.ipynb", as_version=4)
        client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": str(folder)}})
        async with gate:
            try:
                await client.async_execute()
                return name, (nb, None)
            except CellExecutionError as e:
                return name, (nb, e)

    return dict(await asyncio.gather(*(one(n) for n in names)))


def run_notebooks(names: list[str], tmp: Path, env: dict[str, str]) -> tuple[dict, Path]:
    """Copy the notebooks to tmp/notebooks and run them there -> ({name: (nb, error)}, tmp/results)."""
    folder = tmp / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(NOTEBOOK_DIR / f"{name}.ipynb", folder)
    env = {**kernel_env(tmp), **env}
    with pytest.MonkeyPatch.context() as mp:     # the kernels inherit this process's environment
        for key, value in env.items():
            mp.setenv(key, value)
        return asyncio.run(execute(names, folder)), tmp / "results" / "notebooks"


@pytest.fixture(scope="module")
def applications(tmp_path_factory) -> tuple[dict, Path]:
    """Every application notebook run once, on the shipped model."""
    return run_notebooks(APPLICATIONS, tmp_path_factory.mktemp("notebooks"), {})


def stdout(nb) -> str:
    return "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for o in cell.get("outputs", []) if o.get("name") == "stdout")


def image_outputs(nb) -> int:
    return sum(any(k.startswith("image/") for k in o.get("data", {}))
               for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))


def changes(out: str, what: str) -> tuple[float, float]:
    """The mean |pixel change| inside and outside a class (or region) that a notebook printed."""
    m = re.search(rf"{re.escape(what)}: mean \|pixel change\| inside {NUMBER}, outside {NUMBER}", out)
    assert m, f"no change printed for {what!r} in:\n{out}"
    return float(m.group(1)), float(m.group(2))


# --- tests -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or an execution count; clear them"


def test_every_application_is_tested():
    assert sorted(APPLICATIONS) == sorted(EXPECTED_FILES)


@pytest.mark.parametrize("name", APPLICATIONS)
def test_application_notebook(name, applications):
    runs, results = applications
    nb, error = runs[name]
    assert error is None, f"{name} failed:\n{error}"
    folder = results / name
    missing = [f for f in EXPECTED_FILES[name] if not (folder / f).is_file()]
    assert not missing, f"{name} did not write {missing} in {folder}"
    figures = [c for c in nb.cells if c.cell_type == "code" and c.source.rstrip().splitlines()[-1].startswith(
        ("show(", "Image.open(", "Animation("))]
    assert image_outputs(nb) >= len(figures) > 0, f"{name}: figures not shown inline"
    CHECKS[name](stdout(nb), folder)


def check_sampling(out: str, folder: Path) -> None:
    assert "same codes: True" in out
    m = re.search(rf"max \|pixel difference\|: {NUMBER}", out)
    assert m and float(m.group(1)) < 1e-4, out


def check_redraw(out: str, folder: Path) -> None:
    for name in ("sky", "car"):
        inside, outside = changes(out, name)
        assert inside > 0 and outside >= 0, out


def check_transfer(out: str, folder: Path) -> None:
    import torch

    import smis

    assert "same codes: True" in out and "sky: encoded from reference scene | grass: seed 0" in out, out
    codes = smis.Codes.load(folder / "reference_codes.pt")
    assert codes.source_of("sky") == "encoded from reference scene"
    assert codes.z.dim() == 4 and torch.isfinite(codes.z).all()


def check_morphing(out: str, folder: Path) -> None:
    from PIL import Image

    with Image.open(folder / "morph_all.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 8
    assert "morph_all.gif frames: 8" in out


def check_manipulation(out: str, folder: Path) -> None:
    m = re.search(r"water pixels: (\d+) -> (\d+)", out)
    assert m and int(m.group(2)) > int(m.group(1)), out
    assert "same codes: True" in out


CHECKS = {"01_sampling": check_sampling, "02_redraw_one_class": check_redraw,
          "03_appearance_transfer": check_transfer, "04_style_morphing": check_morphing,
          "05_semantic_manipulation": check_manipulation}


def test_walkthrough(reference_dir, tmp_path):
    runs, _ = run_notebooks([WALKTHROUGH], tmp_path, {"SMIS_REFERENCE_DIR": str(reference_dir)})
    nb, error = runs[WALKTHROUGH]
    assert error is None, f"{WALKTHROUGH} failed:\n{error}"
    out = stdout(nb)
    difference = float(out.split("difference to the authors' output:")[1].split()[0])
    assert difference < 1e-5
