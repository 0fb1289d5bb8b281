"""`python -m streamforge` runs the CLI."""

import sys

from streamforge.cli import main

sys.exit(main())
