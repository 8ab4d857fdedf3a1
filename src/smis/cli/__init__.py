"""Command-line entry points: each command a short `main` over the library (smis-weights, ...)."""
