"""``report``: what a dataset holds, in a few readable lines."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command."""
    parser = commands.add_parser(
        "report",
        help="summarise a collected dataset",
        description="Events, time span, folders, files and the last checkpoint.",
    )
    parser.add_argument("dataset", type=Path, help="dataset directory")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Print the summary."""
    # Imported here: pyarrow.dataset loads pandas, which `collect` never needs.
    from ..dataset.inspect import describe_dataset

    print(describe_dataset(arguments.dataset))
    return 0
