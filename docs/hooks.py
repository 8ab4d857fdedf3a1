"""MkDocs hooks (mkdocs.yml `hooks:`): the reference pages' generated parts, made at build time.

A page that holds `<!-- generated: cli -->` gets every console script's --help there, and
`<!-- generated: configs -->` every config group, option and key (docs/gen_reference.py, run once
per build in a subprocess with the interpreter running mkdocs, so the commands of the installed
package are the ones documented). A command that fails to print its help fails the build.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mkdocs.exceptions import PluginError

GENERATOR = Path(__file__).with_name("gen_reference.py")
_job: subprocess.Popen | None = None
_started = 0.0
_generated: dict[str, str] | None = None


def on_pre_build(config, **kwargs) -> None:
    """Start the generator at once: it runs (importing torch) while MkDocs reads the other pages.
    `mkdocs serve` starts it again on every rebuild."""
    global _job, _started, _generated
    _generated = None
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    _started = time.perf_counter()
    _job = subprocess.Popen([sys.executable, str(GENERATOR)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=GENERATOR.parent.parent)


def generated() -> dict[str, str]:
    global _generated
    if _generated is None:
        out, err = _job.communicate()
        if _job.returncode != 0:
            raise PluginError(f"docs/gen_reference.py failed:\n{err[-4000:]}")
        _generated = json.loads(out)
        seconds = time.perf_counter() - _started
        print(f"INFO    -  reference pages generated in {seconds:.1f} s", file=sys.stderr)
    return _generated


def on_post_build(config, **kwargs) -> None:
    if _job is not None and _job.poll() is None:      # no page asked for it
        _job.kill()
        _job.communicate()


def on_build_error(error, **kwargs) -> None:
    on_post_build(None)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    for key in ("cli", "configs"):
        marker = f"<!-- generated: {key} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, generated()[key])
    return markdown
