"""``python -m numcnn``: the same as the ``numcnn`` command."""

import sys

from .app.cli import main

sys.exit(main())
