"""``python -m cdi_plugins.cli``: the ``cdi-plugins`` command line."""

import sys

from . import main

sys.exit(main())
