"""The code reads one way: ruff's lint and format, and mypy on the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ruff", "check", "."], id="ruff-check"),
        pytest.param(["ruff", "format", "--check", "."], id="ruff-format"),
        pytest.param(["mypy", "ctera_audit"], id="mypy"),
    ],
)
def test_the_tree_passes(command: list[str]):
    checked = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
