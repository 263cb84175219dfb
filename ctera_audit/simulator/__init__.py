"""A simulated CTERA Portal: a real HTTP server on loopback with a known workload.

It serves login, the notification API, cloud folder lookup and DirectIO the way
the official SDK expects, from a deterministic workload whose ground truth it can
write down, with optional fault injection.
"""

from __future__ import annotations

from .config import Behaviour, SimulatorConfig
from .faults import FaultPlan
from .portal import SimulatedPortal
from .server import RunningSimulator, serve_forever, simulated_portal, simulator_process
from .workload import SCENARIOS

__all__ = [
    "SCENARIOS",
    "Behaviour",
    "FaultPlan",
    "RunningSimulator",
    "SimulatedPortal",
    "SimulatorConfig",
    "serve_forever",
    "simulated_portal",
    "simulator_process",
]
