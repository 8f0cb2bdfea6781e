"""gammapy-lat: Fermi-LAT data reduction in Gammapy.

Subpackages, bottom layer first (docs/architecture.md)
-----------------------------------------------------
utils         atomic output, config foundation, hashing; ``errors``: the exceptions
data          FT1 events, FT2 spacecraft files, gtselect/gtmktime selections, GTIs, binning, constants
livetime      livetime cubes (gtltcube/gtltsum equivalents)
irf           CALDB access, LAT effective area, PSF and energy dispersion, response maps
observations  LAT observations with their response settings, livetime cube and IRFs; data store
models        gtlike XML source models, LAT spectra, catalog ROI models, diffuse backgrounds
makers        Gammapy Makers producing LAT ``MapDataset`` objects
estimators    TS, fluxes, SEDs, light curves, residual and TS maps, plots
analysis      YAML-driven analysis runner for LAT, IACT and joint fits
pipeline      all-sky, multi-year counts/livetime/exposure cubes on processes or Ray
simulate      synthetic FT1/FT2 files and the built-in demo
cli           the ``gammapy-lat`` command
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gammapy-lat")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
