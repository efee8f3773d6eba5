"""``python -m autograder release|grade|check``; see `autograder.cli`."""

import sys

from autograder.cli import main

sys.exit(main())
