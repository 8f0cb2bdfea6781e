"""Simulation of LAT spacecraft (FT2) and event (FT1) files, and the built-in synthetic response.

* `simulate_spacecraft` / `write_spacecraft`: pointing and livetime history (FT2).
* `simulate_events` / `write_events`: events (FT1) drawn from Gammapy sky models through the LAT
  response (`gammapy_lat.irf`).
* `synthetic_caldb`: a small parametric LAT-like response in the CALDB layout, for running
  without a real CALDB (IRF name `SYNTHETIC_IRF_NAME`).
"""
from .config import SimulationConfig, run_simulation
from .events import EventSimulator, simulate_events, write_events
from .response import SYNTHETIC_IRF_NAME, synthetic_caldb
from .spacecraft import (
    OrbitParameters,
    RockingProfile,
    simulate_spacecraft,
    write_spacecraft,
)

__all__ = [
    "OrbitParameters",
    "RockingProfile",
    "simulate_spacecraft",
    "write_spacecraft",
    "EventSimulator",
    "simulate_events",
    "write_events",
    "SYNTHETIC_IRF_NAME",
    "synthetic_caldb",
    "SimulationConfig",
    "run_simulation",
]
