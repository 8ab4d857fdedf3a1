"""Where the tests find the repository and its test data."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]       # the checkout: README.md, configs/, notebooks/
DATA = REPO / "tests" / "data"                   # files the tests read (a model file of smis 0.1)
