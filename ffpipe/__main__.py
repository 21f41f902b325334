"""``python -m ffpipe`` runs the CLI."""

import sys

from ffpipe.cli import main

sys.exit(main())
