"""FastAPI's test client for the studio's tests: a test module that imports it is skipped where
the studio's extra (FastAPI, and httpx for the client) is not installed."""

import warnings

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")        # starlette's note on httpx vs httpx2
    from fastapi.testclient import TestClient

__all__ = ["TestClient"]
