"""``python -m autoq`` (also what ``torchrun -m autoq`` runs)."""

import sys

from autoq.cli.main import main

sys.exit(main())
