"""``python -m tomopy_dlalign.cli``: the ``tomopy-dlalign`` command line."""

import sys

from . import main

sys.exit(main())
