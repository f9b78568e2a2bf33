import sys

from cnlbench.cli import main

sys.exit(main())
