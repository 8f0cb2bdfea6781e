"""Gammapy Makers for LAT observations."""
