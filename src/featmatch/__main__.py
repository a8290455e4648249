"""``python -m featmatch`` and ``torchrun -m featmatch``: the command-line interface."""

import sys

from featmatch.cli import main

if __name__ == "__main__":
    sys.exit(main())
