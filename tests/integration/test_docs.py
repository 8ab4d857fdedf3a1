"""The documentation: the site builds with `mkdocs build --strict` (a broken link, a renamed function
in the API page or a command whose --help fails is an error), the README's Quick start and the Get
started page run as written, and what the code cites of the docs exists."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib

from tests.helpers.paths import REPO

OLD_SPEC = "SP" + "EC §"                 # the citations docs/model.md replaced (spelt so this file has none)
BIN = Path(sys.executable).parent          # the commands installed beside this Python (smis-generate, ...)
BLOCK = re.compile(r"(?:<!--\s*skip:\s*(?P<skip>.*?)\s*-->\s*\n)?"
                   r"```(?P<lang>python|bash)\n(?P<code>.*?)```", re.S)

# runs a page's blocks in order in one process: Python blocks share one namespace (as in a
# notebook), shell blocks run with bash -euo pipefail, both in the current folder
DRIVER = """
import json, subprocess, sys
namespace = {"__name__": "__main__"}
for i, (lang, code) in enumerate(json.load(open(sys.argv[1]))):
    print(f"--- block {i + 1} ({lang})", flush=True)
    if lang == "python":
        exec(compile(code, f"{sys.argv[2]}, block {i + 1}", "exec"), namespace)
    else:
        subprocess.run(["bash", "-euo", "pipefail", "-c", code], check=True)
"""


def blocks(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The ```python and ```bash blocks of a page, in order -> (to run, reasons of the skipped ones);
    a block right after `<!-- skip: REASON -->` is skipped."""
    run, skipped = [], []
    for match in BLOCK.finditer(text):
        if match["skip"]:
            skipped.append(match["skip"])
        else:
            run.append((match["lang"], match["code"]))
    return run, skipped


def section(text: str, heading: str) -> str:
    """The text under a `## heading...` line, up to the next `## `."""
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


PAGES = {
    "README.md, Quick start": lambda: section((REPO / "README.md").read_text(), "Quick start"),
    "docs/get-started.md": lambda: (REPO / "docs" / "get-started.md").read_text(),
}
# what each page's blocks leave in their folder
EXPECTED = {
    "README.md, Quick start": ["edited.png", "morph.gif", "transfer/image_000.png",
                               "out/street_000.png", "out/street_001.png", "out/street_sheet.png"],
    "docs/get-started.md": ["town_samples.png", "town_sky.png", "town.codes", "town_lake_grass.png",
                            "examples/labels/town.png", "out/sample/town_sheet.png",
                            "out/sky/town_sheet.png"],
}


def test_quick_start_and_get_started_run_as_written(tmp_path):
    """Every Python block and shell line of the README's Quick start and of the Get started page, in
    an empty folder each (the two pages side by side), except the blocks marked to skip."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    running = {}
    for n, (page, text) in enumerate(PAGES.items()):
        run, skipped = blocks(text())
        assert run, f"{page}: no block to run"
        print(f"{page}: running {len(run)} blocks, skipping {len(skipped)}"
              + (f" ({'; '.join(skipped)})" if skipped else ""))
        folder = tmp_path / f"page{n}"
        folder.mkdir()
        (folder / ".blocks.json").write_text(json.dumps(run))
        process = subprocess.Popen([sys.executable, "-c", DRIVER, ".blocks.json", page], cwd=folder, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        running[page] = folder, process
    for page, (folder, process) in running.items():
        out, _ = process.communicate()
        assert process.returncode == 0, f"{page} failed:\n{out[-6000:]}"
        missing = [name for name in EXPECTED[page] if not (folder / name).is_file()]
        assert not missing, f"{page}: {missing} not written\n{out[-3000:]}"


def test_the_get_started_page_marks_what_it_skips():
    """The blocks that cannot run in a test (installing, minutes of training, a dataset) say why."""
    _, skipped = blocks(PAGES["docs/get-started.md"]())
    assert len(skipped) == 3 and all(reason for reason in skipped)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`mkdocs build --strict` of the repository's docs into a temporary folder (notebooks not
    executed); -> (the site folder, the build's output)."""
    pytest.importorskip("material", reason="the docs extra is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "SMIS_DOCS_EXECUTE": "false"}
    started = time.perf_counter()
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                           cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    print(f"mkdocs build --strict: {seconds:.1f} s")
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-6000:]
    assert seconds < 120, f"the docs build took {seconds:.0f} s: is something executing notebooks?"
    return out


def test_site_builds_with_every_page(site):
    for page in ["index.html", "get-started/index.html", "model/index.html", "shipped-model/index.html",
                 "guides/applications/index.html", "guides/export/index.html", "benchmarks/index.html",
                 "faithfulness/index.html", "design-notes/index.html", "about/index.html",
                 "notebooks/01_sampling/index.html", "reference/api/index.html"]:
        assert (site / page).is_file(), page
    for figure in ["shipped/samples.png", "shipped/resample.png", "shipped/transfer.png", "studio.png"]:
        assert (site / figure).is_file(), figure
    assert not (site / "hooks.py").exists() and not (site / "gen_reference.py").exists()


def test_reference_pages_are_generated_from_the_code(site):
    cli = (site / "reference" / "cli" / "index.html").read_text()
    with open(REPO / "pyproject.toml", "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    hydra = {"smis-train", "smis-evaluate"}          # Hydra prints its own help: groups and the config
    for name in scripts:                             # every console script, with its --help
        assert f'id="{name}"' in cli and (f"usage: {name}" in cli or name in hydra), name
    assert cli.count("== Configuration groups ==") == len(hydra & set(scripts))
    assert 'id="smis-generate-resample"' in cli       # and each subcommand's
    configs = (site / "reference" / "configs" / "index.html").read_text()
    for text in ["loss.kld_reduction", "optim.lr_g", "dataset.root", "trainer.deterministic",
                 'id="recipe-control"', "a number &gt;= 0"]:
        assert text in configs, text
    api = (site / "reference" / "api" / "index.html").read_text()
    for name in ["smis.Synthesizer.resample", "smis.Codes", "smis.load_pretrained",
                 "smis.latents.LatentLayout", "smis.evaluation.runner.evaluate", "smis.weights.store.ensure"]:
        assert f'id="{name}"' in api, name


def test_readme_links_point_at_files_that_exist():
    text = (REPO / "README.md").read_text()
    links = [target for target in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in target]
    assert links
    for target in links:
        path = target.split("#", 1)[0]
        assert (REPO / path).exists(), f"README links to {target}, which is not in the repository"


def test_code_cites_sections_the_model_page_has():
    """`docs/model.md §N` in the code and tests: each section exists; no citation of a document that
    is not in the repository."""
    model = (REPO / "docs" / "model.md").read_text()
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\. |^### (\d+\.\d+) ", model, re.M))
    numbers = {a or b for a, b in sections}
    cited, docs = set(), set()
    files = [*(REPO / "src").rglob("*.py"), *(REPO / "src").rglob("*.yaml"), *(REPO / "tests").rglob("*.py")]
    for path in files:
        text = path.read_text()
        assert OLD_SPEC not in text, f"{path} cites a spec that is not in the repository"
        for first, last in re.findall(r"docs/model\.md §(\d+(?:\.\d+)?)(?:[-–]§?(\d+))?", text):
            cited.add(first)
            if last:
                cited.update(str(n) for n in range(int(first.split(".")[0]), int(last) + 1))
        docs.update(re.findall(r"docs/[\w/.-]+\.(?:md|png)", text))
    assert cited and cited <= numbers, f"cited sections missing from docs/model.md: {cited - numbers}"
    assert all((REPO / d).exists() for d in docs), [d for d in docs if not (REPO / d).exists()]


def test_the_code_map_names_every_part_of_the_package_and_tests_import_no_test_file():
    """docs/code-map.md names every module and folder of src/smis (a new one must be placed in it),
    and no test file imports another (shared code lives in tests/helpers/)."""
    text = (REPO / "docs" / "code-map.md").read_text()
    named = set(re.findall(r"`([\w.]+/?)`", text))
    package = REPO / "src" / "smis"
    parts = {p.name + "/" if p.is_dir() else p.name for p in package.iterdir()
             if p.name not in ("__init__.py", "__pycache__") and (p.is_dir() or p.suffix == ".py")}
    assert parts <= named, f"not in docs/code-map.md: {sorted(parts - named)}"
    for path in (REPO / "tests").rglob("*.py"):
        imports = re.findall(r"^\s*(?:from|import) (tests\.(?:unit|integration)\S*)", path.read_text(), re.M)
        assert not imports, f"{path} imports the test module {imports[0]}"
