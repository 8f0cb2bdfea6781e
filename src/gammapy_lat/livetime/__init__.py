"""Livetime cubes: livetime per sky pixel and inclination angle (gtltcube, gtltsum)."""
from .cube import LivetimeCube, costheta_edges

__all__ = ["LivetimeCube", "costheta_edges"]
