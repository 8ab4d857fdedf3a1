"""`python -m smis.studio`, the same command as `smis-studio` (smis/cli/studio.py)."""

from ..cli.studio import main

main()
