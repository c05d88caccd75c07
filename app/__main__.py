"""`python -m contextfill.app` behaves exactly like the `contextfill` command."""

import sys

from contextfill.app.entry import main

sys.exit(main())
