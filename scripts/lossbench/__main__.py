"""``python -m lossbench``: the ``lossbench`` command (``cli.main``)."""

import sys

from .cli import main

sys.exit(main())
