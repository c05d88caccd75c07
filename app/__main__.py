"""`python -m app` behaves exactly like the `contextfill` command."""

import sys

from app.entry import main

sys.exit(main())
