"""``python -m pipetrack``: the same as the ``pipetrack`` command."""
import sys

from .cli import main

sys.exit(main())
