"""gammapy-lat: Fermi-LAT data reduction in Gammapy.

Subpackages
-----------
data       FT1 events, FT2 spacecraft files, gtselect/gtmktime selections, observations, binning
livetime   livetime cubes (gtltcube/gtltsum equivalents)
irf        CALDB access, LAT effective area, PSF and energy dispersion, response maps
makers     Gammapy Makers producing LAT ``MapDataset`` objects
models     Fermi XML source models, catalog ROI models, diffuse backgrounds
analysis   YAML-driven analysis runner for LAT, IACT and joint fits
simulate   synthetic FT1/FT2 files and the built-in demo
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gammapy-lat")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
