"""Simulation of LAT spacecraft (FT2) and event (FT1) files."""
