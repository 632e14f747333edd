"""``python -m rxstreams``: the command line."""

from .cli import main

raise SystemExit(main())
