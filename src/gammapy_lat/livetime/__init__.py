"""Livetime cubes: livetime per sky pixel and inclination angle (gtltcube, gtltsum)."""
