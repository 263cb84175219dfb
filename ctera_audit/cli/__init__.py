"""The ``ctera-audit`` command line: one sub-command per job."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..errors import CteraAuditError
from . import collect, report, simulate

logger = logging.getLogger("ctera_audit.cli")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the chosen sub-command, return its exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m ctera_audit",
        description="Collect and analyse CTERA Portal file events.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (collect, report, simulate):
        module.register(commands)

    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(arguments, "log_level", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(arguments.run(arguments) or 0)
    except CteraAuditError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: one line for the operator, details in the log
        logger.debug("unexpected failure", exc_info=True)
        print(
            f"error: unexpected {type(error).__name__}: {error}; this is a bug in "
            "ctera-audit: run again with --log-level DEBUG and report what it logs",
            file=sys.stderr,
        )
        return 1
