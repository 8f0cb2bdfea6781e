"""Livetime cubes: livetime per sky pixel and inclination angle (gtltcube, gtltsum)."""
from .binning import costheta_edges
from .cube import LivetimeCube

__all__ = ["LivetimeCube", "costheta_edges"]
