"""`python -m smis.demo`, the same command as `make demo` and `smis-demo` (smis/cli/demo.py; the
figures and metrics it shows: smis/showcase.py)."""

from .cli.demo import main

if __name__ == "__main__":
    main()
