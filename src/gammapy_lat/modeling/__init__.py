"""Fitting with LAT defaults: `LATFit`, Gammapy's `~gammapy.modeling.Fit` with a strategy per step."""
from .fit import LATFit

__all__ = ["LATFit"]
