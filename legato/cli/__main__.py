"""``python -m legato.cli``: the same as the ``legato`` console script."""

from legato.cli import main

raise SystemExit(main())
