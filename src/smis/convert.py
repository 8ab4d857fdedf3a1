"""`python -m smis.convert`, the same command as `smis-convert` (smis/cli/convert.py)."""

import sys

from .cli.convert import main

if __name__ == "__main__":
    sys.exit(main())
