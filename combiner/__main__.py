"""``python -m combiner``."""

import sys

from combiner.cli import main

sys.exit(main())
