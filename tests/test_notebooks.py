"""The example notebooks run top to bottom in a real Jupyter kernel.

Each notebook collects from the embedded simulated portal into a temporary
directory, so no network or credentials are involved. The kernel imports the
package from this checkout and draws with matplotlib's Agg backend until the
notebook selects the inline one.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 120
KERNEL = "ctera-audit-tests"
PLOT_CALL = re.compile(r"\bplot_\w+\(")
STATUS = re.compile(r"(collecting|caught up|ended): [\d,]+ events")
"""The live status line of a background collection (TextProgress)."""


@pytest.fixture
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec for this very interpreter, and the kernel's environment.

    An installed "python3" spec may start another Python that lacks the
    package; a spec of our own, found first through JUPYTER_PATH, cannot. The
    kernel inherits this environment: the checkout on its path and a
    non-interactive matplotlib backend.
    """
    spec = tmp_path / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": KERNEL, "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")

    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert KernelSpecManager().get_kernel_spec(KERNEL).argv[0] == sys.executable
    return KERNEL


def test_every_notebook_is_found() -> None:
    assert [path.name for path in NOTEBOOKS] == [
        "01-quick-start.ipynb",
        "02-activity-analysis.ipynb",
        "03-incident-investigation.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]

    assert all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom(path: Path, kernel_name: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent)}},
    )

    client.execute()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [output for cell in code for output in cell.outputs if _is_error(output)]
    assert not errors, errors
    plots = [cell for cell in code if PLOT_CALL.search(cell.source)]
    assert plots, "the notebook draws no chart"
    blank = [cell.source for cell in plots if not _has_image(cell)]
    assert not blank, f"plot cells without an image: {blank}"
    statuses = [text for cell in code for text in _texts(cell) if STATUS.match(text)]
    started = any("start_collection(" in cell.source for cell in code)
    assert bool(statuses) == started, "a background collection shows no status"
    assert all(text.startswith("ended: ") for text in statuses), statuses


def _is_error(output: Any) -> bool:
    """An exception, or a warning printed to stderr."""
    warned = output.output_type == "stream" and output.name == "stderr"
    return output.output_type == "error" or warned


def _texts(cell: Any) -> list[str]:
    return [output.get("data", {}).get("text/plain", "") for output in cell.outputs]


def _has_image(cell: Any) -> bool:
    return any("image/png" in output.get("data", {}) for output in cell.outputs)
