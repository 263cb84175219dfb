"""Shared fixtures: simulated portals on real loopback sockets, with ground truth."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from ctera_audit.simulator import RunningSimulator, SimulatorConfig, simulated_portal

# Loopback traffic must never be routed through a proxy of the environment.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

StartSimulator = Callable[..., RunningSimulator]


@pytest.fixture
def start_simulator(tmp_path: Path) -> Iterator[StartSimulator]:
    """Start simulated portals for one test; each writes its ground truth.

    Call it with SimulatorConfig fields as keywords, plus ``tls=True`` for HTTPS.
    """
    with ExitStack() as stack:
        counter = iter(range(1000))

        def start(*, tls: bool = False, **settings: Any) -> RunningSimulator:
            settings.setdefault(
                "ground_truth", str(tmp_path / f"truth-{next(counter)}.jsonl")
            )
            config = SimulatorConfig(**settings)
            return stack.enter_context(simulated_portal(config, tls=tls))

        yield start


def read_truth(simulator: RunningSimulator) -> list[dict[str, Any]]:
    """Every event the simulator has served so far, with its true path and sha256."""
    path = simulator.portal.config.ground_truth
    assert path is not None, "the simulator was started without ground truth"
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]
