"""`python -m smis.examples`, the same command as `smis-examples` (smis/cli/examples.py)."""

from ..cli.examples import main

main()
