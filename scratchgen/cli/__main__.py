"""``python -m scratchgen.cli ...``: the same as the ``scratchgen`` command."""
import sys

from .main import main

sys.exit(main())
