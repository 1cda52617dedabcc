"""`python -m infra.cli …`: the `emergency` command without its installed script."""

import sys

from infra.cli import main

sys.exit(main())
