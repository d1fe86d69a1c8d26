"""`python -m bot` does what the `baocao` command does."""

import sys

from bot.cli import main

sys.exit(main())
