"""`python -m matrix`: the command line."""

from __future__ import annotations

import sys

from matrix.cli import main

sys.exit(main())
