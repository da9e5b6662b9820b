"""``python -m fastnmf``: the same as the ``fastnmf`` console script."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
