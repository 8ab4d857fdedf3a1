"""Benchmark commands: `python -m smis.benchmarks.NAME --help`. They print figures; no test times."""
