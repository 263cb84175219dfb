"""Entry point of ``python -m ctera_audit``."""

from ctera_audit.cli import main

raise SystemExit(main())
