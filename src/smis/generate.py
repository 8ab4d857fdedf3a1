"""`python -m smis.generate`, the same command as `smis-generate` (its main: smis/cli/generate.py;
what it runs: smis/batch.py)."""

import sys

from .cli.generate import main

if __name__ == "__main__":
    sys.exit(main())
