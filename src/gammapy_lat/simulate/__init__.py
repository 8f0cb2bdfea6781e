"""Simulation of LAT spacecraft (FT2) and event (FT1) files."""
from .spacecraft import OrbitParameters, RockingProfile, simulate_spacecraft, write_spacecraft

__all__ = ["OrbitParameters", "RockingProfile", "simulate_spacecraft", "write_spacecraft"]
